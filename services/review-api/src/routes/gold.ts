// Admins' routes for gold items: known-answer items mixed into reviewers' queues (tasks.ts).
import { ApiErrorCode, GoldIdParam, GoldImportResult, GoldItemView } from '@hitl/api-contract';
import {
  getCurrentPolicy,
  importGoldItems,
  listGoldItems,
  parseGoldLines,
  setGoldItemActive,
  type GoldItem,
} from '@hitl/db';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../errors';
import { bodyErrorResponses, errorResponses, pathErrorResponses, principalOf, type Api } from '../http';
import { E, type RouteDeps } from './common';

/** The media type of an import: one JSON object per line. */
export const NDJSON = 'application/x-ndjson';

const goldView = (g: GoldItem) => ({ ...g, importedAt: g.importedAt.toISOString() });

export function goldRoutes(app: Api, { pool, policyName }: RouteDeps): void {
  const admin = { role: 'admin' as const };
  const tags = ['admin'];

  // Its own scope, so JSON lines are taken by this route only. The body stays within
  // BODY_LIMIT_BYTES like every other; a larger set goes in several requests, or through
  // `hitl gold import`.
  void app.register(async (scope: Api) => {
    scope.addContentTypeParser(NDJSON, { parseAs: 'string' }, (_request, body, done) => done(null, body));
    scope.post(
      '/v1/admin/gold',
      {
        config: admin,
        schema: {
          tags,
          summary: 'Import gold items: one JSON object per line (application/x-ndjson)',
          description:
            'Each line: {"id"?, "stream"?, "input": {"text"|"features"}, "attributes"?, "label", "classes"?}. The query’s stream fills a line without one; items without classes take the routing policy’s. One bad line imports nothing, and the error lists the lines at fault. Items already there (same stream and id, or same content) are left as they are.',
          consumes: [NDJSON],
          querystring: Type.Object({ stream: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
          body: Type.String({ description: 'JSON lines.' }),
          response: { 200: GoldImportResult, 422: E, ...errorResponses, ...bodyErrorResponses },
        },
      },
      async (request) => {
        const who = principalOf(request);
        const items = parseGoldLines(request.body, { stream: request.query.stream });
        const policy = await getCurrentPolicy(pool, policyName);
        return importGoldItems(pool, items, {
          importedBy: who.reviewerId,
          defaultClasses: policy?.classes ?? [],
        });
      },
    );
  });

  app.get(
    '/v1/admin/gold',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Gold items, newest first, with how often each was answered and answered right',
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }),
        response: { 200: Type.Array(GoldItemView), ...errorResponses },
      },
    },
    async (request) => (await listGoldItems(pool, { limit: request.query.limit })).map(goldView),
  );

  for (const [action, active] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    app.post(
      `/v1/admin/gold/:goldId/${action}`,
      {
        config: admin,
        schema: {
          tags,
          summary: active
            ? 'Hand a gold item to reviewers again'
            : 'Stop handing a gold item to reviewers (its scores stay)',
          params: GoldIdParam,
          response: {
            204: Type.Null(),
            ...errorResponses,
            ...pathErrorResponses,
            ...bodyErrorResponses,
          },
        },
      },
      async (request, reply) => {
        if (!(await setGoldItemActive(pool, request.params.goldId, active))) {
          throw new ApiError(ApiErrorCode.notFound, `no gold item ${request.params.goldId}`);
        }
        return reply.status(204).send(null);
      },
    );
  }
}
