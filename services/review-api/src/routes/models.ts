// Admins' routes for models: versions, promotion, rollback and training.
import { ModelChangeBody, ModelVersionSummary, TrainingRequested, TrainingRun } from '@hitl/api-contract';
import {
  listModelVersions,
  listTrainingRuns,
  promoteModelVersion,
  requestTraining,
  rollbackModel,
} from '@hitl/db';
import { Type } from '@sinclair/typebox';
import { bodyErrorResponses, errorResponses, pathErrorResponses, principalOf, type Api } from '../http';
import { E, iso, modelView, type RouteDeps } from './common';

export function modelRoutes(app: Api, { pool, onOutbox }: RouteDeps): void {
  const admin = { role: 'admin' as const };
  const tags = ['admin'];

  const modelParams = Type.Object({ modelId: Type.String({ minLength: 1, maxLength: 200 }) });
  app.get(
    '/v1/admin/models/:modelId',
    {
      config: admin,
      schema: {
        tags,
        summary: 'The versions of a model',
        params: modelParams,
        response: { 200: Type.Array(ModelVersionSummary), ...errorResponses, ...pathErrorResponses },
      },
    },
    async (request) => (await listModelVersions(pool, request.params.modelId)).map(modelView),
  );

  app.post(
    '/v1/admin/models/:modelId/versions/:version/promote',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Promote a version: inference swaps to it',
        params: Type.Object({ modelId: Type.String(), version: Type.Integer({ minimum: 1 }) }),
        body: Type.Optional(ModelChangeBody),
        response: {
          200: ModelVersionSummary,
          409: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request) => {
      const who = principalOf(request);
      const promoted = await promoteModelVersion(pool, request.params.modelId, request.params.version, {
        actor: who.reviewerId,
        ...(request.body?.reason ? { reason: request.body.reason } : {}),
      });
      onOutbox();
      return modelView(promoted);
    },
  );

  app.post(
    '/v1/admin/models/:modelId/train',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Ask the trainer to train a new version now, whatever the count of new labels',
        params: modelParams,
        response: {
          202: TrainingRequested,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const asked = await requestTraining(pool, request.params.modelId, principalOf(request).reviewerId);
      return reply
        .status(202)
        .send({ id: asked.id, modelId: asked.modelId, requestedAt: asked.requestedAt.toISOString() });
    },
  );

  app.get(
    '/v1/admin/models/:modelId/trainings',
    {
      config: admin,
      schema: {
        tags,
        summary: 'The most recent training runs of a model, newest first',
        params: modelParams,
        response: {
          200: Type.Array(TrainingRun),
          ...errorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request) =>
      (await listTrainingRuns(pool, request.params.modelId, { limit: 50 })).map((r) => ({
        id: r.id,
        status: r.status,
        trigger: r.trigger,
        startedBecause: r.startedBecause,
        startedAt: r.startedAt.toISOString(),
        finishedAt: iso(r.finishedAt),
        examples: r.examples,
        evalExamples: r.evalExamples,
        version: r.version,
        outcome: r.outcome,
        reason: r.reason,
      })),
  );

  app.post(
    '/v1/admin/models/:modelId/rollback',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Roll back the promoted version to the one promoted before it',
        params: modelParams,
        body: Type.Optional(ModelChangeBody),
        response: {
          200: ModelVersionSummary,
          409: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request) => {
      const who = principalOf(request);
      const now = await rollbackModel(pool, request.params.modelId, {
        actor: who.reviewerId,
        ...(request.body?.reason ? { reason: request.body.reason } : {}),
      });
      onOutbox();
      return modelView(now);
    },
  );
}
