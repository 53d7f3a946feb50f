// Admins' routes for the stream registry: the use cases the deployment serves, each with its
// classes and input, its model, its routing policy and who may review it (@hitl/db's streams.ts).
import { NewStreamBody, StreamChangeBody, StreamIdParam, StreamList, StreamView } from '@hitl/api-contract';
import { addStream, DbErrorCode, getStream, loadStreamRegistry, updateStream, type Stream } from '@hitl/db';
import { ApiError } from '../errors';
import { bodyErrorResponses, errorResponses, pathErrorResponses, principalOf, type Api } from '../http';
import { E, type RouteDeps } from './common';

export const streamView = (s: Stream) => ({
  ...s,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});

export function streamRoutes(app: Api, { pool }: RouteDeps): void {
  const admin = { role: 'admin' as const };
  const tags = ['admin'];

  app.post(
    '/v1/admin/streams',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Add a stream: a use case with its classes, input, model, routing policy and reviewers',
        description:
          'Without modelId the stream’s id names its model, and without policyName its modelId names its policy. Refused with 422 HITL_ERR_STREAM_INVALID (details.problems) when a reviewer does not exist, or the classes or input do not fit the model’s promoted version or the classes its policy declares; 409 HITL_ERR_STREAM_EXISTS when the id is taken.',
        body: NewStreamBody,
        response: { 201: StreamView, 409: E, 422: E, ...errorResponses, ...bodyErrorResponses },
      },
    },
    async (request, reply) => {
      const { reason, ...stream } = request.body;
      const added = await addStream(pool, stream, {
        actor: principalOf(request).reviewerId,
        ...(reason === undefined ? {} : { reason }),
      });
      return reply.status(201).send(streamView(added));
    },
  );

  app.get(
    '/v1/admin/streams',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Every stream, with the registry revision they are at',
        response: { 200: StreamList, ...errorResponses },
      },
    },
    async () => {
      const { revision, streams } = await loadStreamRegistry(pool);
      return { revision, streams: streams.map(streamView) };
    },
  );

  app.get(
    '/v1/admin/streams/:stream',
    {
      config: admin,
      schema: {
        tags,
        summary: 'A stream',
        params: StreamIdParam,
        response: { 200: StreamView, ...errorResponses, ...pathErrorResponses },
      },
    },
    async (request) => {
      const stream = await getStream(pool, request.params.stream);
      if (!stream) throw new ApiError(DbErrorCode.streamNotFound, `no stream ${request.params.stream}`);
      return streamView(stream);
    },
  );

  app.patch(
    '/v1/admin/streams/:stream',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Change a stream: the fields given, as its next version',
        description:
          'A change that changes nothing makes no version. Refused as an added stream is (422), for an unknown stream (404 HITL_ERR_STREAM_NOT_FOUND), and with expectedVersion other than the stream’s (409 HITL_ERR_STREAM_VERSION_CONFLICT).',
        params: StreamIdParam,
        body: StreamChangeBody,
        response: {
          200: StreamView,
          409: E,
          422: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request) => {
      const { reason, expectedVersion, ...change } = request.body;
      const changed = await updateStream(pool, request.params.stream, change, {
        actor: principalOf(request).reviewerId,
        ...(reason === undefined ? {} : { reason }),
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      });
      return streamView(changed);
    },
  );
}
