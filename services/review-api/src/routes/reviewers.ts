// Admins' routes for reviewers and their keys.
import {
  ApiErrorCode,
  ApiKeyInfo,
  CreateKeyBody,
  CreateReviewerBody,
  CreatedKey,
  Reviewer,
  ReviewerIdParam,
} from '@hitl/api-contract';
import {
  createApiKey,
  createReviewer,
  getReviewer,
  listApiKeys,
  listReviewers,
  revokeApiKey,
  setReviewerDisabled,
} from '@hitl/db';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../errors';
import { bodyErrorResponses, errorResponses, pathErrorResponses, principalOf, type Api } from '../http';
import { E, reviewerView, keyView, type RouteDeps } from './common';

export function reviewerAdminRoutes(app: Api, { pool, authenticator }: RouteDeps): void {
  const admin = { role: 'admin' as const };
  const tags = ['admin'];

  app.get(
    '/v1/admin/reviewers',
    {
      config: admin,
      schema: { tags, summary: 'All reviewers', response: { 200: Type.Array(Reviewer), ...errorResponses } },
    },
    async () => (await listReviewers(pool)).map(reviewerView),
  );

  app.post(
    '/v1/admin/reviewers',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Add a reviewer or an admin',
        body: CreateReviewerBody,
        response: { 201: Reviewer, 409: E, ...errorResponses, ...bodyErrorResponses },
      },
    },
    async (request, reply) => {
      const { id, name, role, groups } = request.body;
      const made = await createReviewer(pool, { id, name: name ?? id, role, groups: groups ?? [] });
      return reply.status(201).send(reviewerView(made));
    },
  );

  app.get(
    '/v1/admin/reviewers/:reviewerId/keys',
    {
      config: admin,
      schema: {
        tags,
        summary: 'A reviewer’s keys (never their secrets)',
        params: ReviewerIdParam,
        response: { 200: Type.Array(ApiKeyInfo), ...errorResponses, ...pathErrorResponses },
      },
    },
    async (request) => {
      if (!(await getReviewer(pool, request.params.reviewerId))) {
        throw new ApiError(ApiErrorCode.notFound, `no reviewer ${request.params.reviewerId}`);
      }
      return (await listApiKeys(pool, request.params.reviewerId)).map(keyView);
    },
  );

  app.post(
    '/v1/admin/reviewers/:reviewerId/keys',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Create a key for a reviewer: the key is in this response only',
        params: ReviewerIdParam,
        body: CreateKeyBody,
        response: {
          201: CreatedKey,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
      // The body is optional: none is an empty one.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const { key, info } = await createApiKey(pool, request.params.reviewerId, {
        expiresInDays: request.body.expiresInDays,
        createdBy: principalOf(request).reviewerId,
      });
      return reply.status(201).send({ key, info: keyView(info) });
    },
  );

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    app.post(
      `/v1/admin/reviewers/:reviewerId/${action}`,
      {
        config: admin,
        schema: {
          tags,
          summary: disabled
            ? 'Disable a reviewer: their keys stop working at once, and the tasks they hold go back'
            : 'Enable a disabled reviewer again',
          params: ReviewerIdParam,
          response: {
            200: Reviewer,
            ...errorResponses,
            ...bodyErrorResponses,
            ...pathErrorResponses,
          },
        },
      },
      async (request) => reviewerView(await setReviewerDisabled(pool, request.params.reviewerId, disabled)),
    );
  }

  app.delete(
    '/v1/admin/keys/:keyId',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Revoke a key; it stops working at once',
        params: Type.Object({ keyId: Type.String() }),
        response: {
          200: ApiKeyInfo,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request) => {
      const info = await revokeApiKey(pool, request.params.keyId);
      authenticator.forget(info.id);
      return keyView(info);
    },
  );
}
