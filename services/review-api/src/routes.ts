// The routes: what reviewers do (claim, extend, release, skip, answer) and what admins do
// (reviewers and keys, the routing policy, models).
import {
  createApiKey,
  createReviewer,
  getCurrentPolicy,
  getReviewer,
  listApiKeys,
  listModelVersions,
  listPolicyVersions,
  listReviewers,
  listTrainingRuns,
  promoteModelVersion,
  requestTraining,
  revokeApiKey,
  rollbackModel,
  setReviewerDisabled,
  updatePolicy,
  type ApiKeyInfo as KeyInfo,
  type ModelVersionSummary as ModelSummary,
  type Reviewer as ReviewerRecord,
  type StoredPolicy as PolicyRecord,
} from '@hitl/db';
import { Type } from '@sinclair/typebox';
import { Readable } from 'node:stream';
import type { Pool } from 'pg';
import type { Authenticator } from './auth';
import { ApiError, ApiErrorCode } from './errors';
import { bodyErrorResponses, errorResponses, pathErrorResponses, principalOf, type Api } from './http';
import {
  AnswerBody,
  AnswerResult,
  ApiKeyInfo,
  ClaimBody,
  CreateKeyBody,
  CreateReviewerBody,
  CreatedKey,
  EventIdParam,
  ExportQuery,
  IdempotencyHeaders,
  Lease,
  Me,
  ModelChangeBody,
  ModelVersionSummary,
  PolicyChangeBody,
  Reviewer,
  ReviewerIdParam,
  Stats,
  StoredPolicy,
  Task,
  TaskListQuery,
  TaskPage,
  TrainingRequested,
  TrainingRun,
} from './schemas';
import { exportLabels, listTasks, reviewStats } from './queries';
import type { TaskStore } from './tasks';

const E = Type.Ref('ErrorBody');
const iso = (d: Date | null) => d?.toISOString() ?? null;

const reviewerView = (r: ReviewerRecord) => ({
  ...r,
  createdAt: r.createdAt.toISOString(),
  disabledAt: iso(r.disabledAt),
});
const keyView = (k: KeyInfo) => ({
  ...k,
  createdAt: k.createdAt.toISOString(),
  revokedAt: iso(k.revokedAt),
  lastUsedAt: iso(k.lastUsedAt),
  expiresAt: iso(k.expiresAt),
});
const policyView = (p: PolicyRecord) => ({ ...p, createdAt: p.createdAt.toISOString() });
const modelView = (m: ModelSummary) => ({
  modelId: m.modelId,
  version: m.version,
  status: m.status,
  classes: m.classes,
  inputKind: m.inputKind,
  featureWidth: m.featureWidth,
  metrics: m.metrics,
  thresholds: m.thresholds,
  temperature: m.temperature,
  parentVersion: m.parentVersion,
  createdAt: m.createdAt.toISOString(),
  promotedAt: iso(m.promotedAt),
});

export interface RouteDeps {
  pool: Pool;
  tasks: TaskStore;
  authenticator: Authenticator;
  /** The routing policy the admin endpoints change (the router's POLICY_NAME). */
  policyName: string;
  /** Called after a change that wrote outbox rows (model promotion or rollback). */
  onOutbox: () => void;
}

export function reviewerRoutes(app: Api, { tasks }: RouteDeps): void {
  const reviewer = { role: 'reviewer' as const };
  const tags = ['review'];

  app.get(
    '/v1/me',
    {
      config: reviewer,
      schema: { tags, summary: 'Who this key belongs to', response: { 200: Me, ...errorResponses } },
    },
    async (request) => {
      const p = principalOf(request);
      return { id: p.reviewerId, name: p.name, role: p.role, keyId: p.keyId };
    },
  );

  app.post(
    '/v1/tasks/claim',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'Claim the next task: most urgent first, then oldest, under a lease',
        description:
          'Answers 204 when no task is waiting for you. Repeatable: without an Idempotency-Key, you get back a task you already hold that fits the filters; with one, the same key gets the same task while its lease lasts, and a new key a new task. 409 HITL_ERR_LEASE_LIMIT when you hold as many tasks as one reviewer may.',
        headers: IdempotencyHeaders,
        body: Type.Optional(ClaimBody),
        response: { 200: Task, 204: Type.Null(), 409: E, ...errorResponses, ...bodyErrorResponses },
      },
    },
    async (request, reply) => {
      const task = await tasks.claim(
        principalOf(request),
        request.body ?? {},
        request.headers['idempotency-key'],
      );
      if (!task) return reply.status(204).send(null);
      return task;
    },
  );

  app.get(
    '/v1/tasks/:eventId',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'One task',
        params: EventIdParam,
        response: { 200: Task, ...errorResponses, ...pathErrorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      // A reviewer sees a task they hold or answered; any other is, to them, not there.
      const task = await tasks.get(request.params.eventId, who.role === 'admin' ? undefined : who.reviewerId);
      if (!task)
        throw new ApiError(404, ApiErrorCode.notFound, `no task for event ${request.params.eventId}`);
      return task;
    },
  );

  app.post(
    '/v1/tasks/:eventId/lease',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'Extend your lease on a task (while you are still reading it)',
        description: 'Up to MAX_LEASE_SECONDS after the claim; past that 409 HITL_ERR_LEASE_EXTENSION_LIMIT.',
        params: EventIdParam,
        response: {
          200: Lease,
          409: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request) => tasks.extend(principalOf(request), request.params.eventId),
  );

  app.delete(
    '/v1/tasks/:eventId/lease',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'Give a task back to the queue',
        params: EventIdParam,
        response: {
          204: Type.Null(),
          409: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request, reply) => {
      await tasks.release(principalOf(request), request.params.eventId);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/tasks/:eventId/skip',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'Give a task back and never get it again',
        params: EventIdParam,
        response: {
          204: Type.Null(),
          409: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request, reply) => {
      await tasks.skip(principalOf(request), request.params.eventId);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/tasks/:eventId/answers',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'Answer a task you hold: its label, and a comment if you like',
        description:
          'The label must be one of the task’s classes. When the answers agree (a majority of the reviewers the policy asks for), the task is decided and the decision is published. With an Idempotency-Key header, a retry returns the first result.',
        params: EventIdParam,
        headers: IdempotencyHeaders,
        body: AnswerBody,
        response: {
          200: AnswerResult,
          409: E,
          422: E,
          ...errorResponses,
          ...bodyErrorResponses,
          ...pathErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const { statusCode, result } = await tasks.submit(
        principalOf(request),
        request.params.eventId,
        request.body,
        request.headers['idempotency-key'],
      );
      // 200, or the status of the first try of a retried submit.
      return reply.status(statusCode as 200).send(result);
    },
  );
}

export function adminRoutes(app: Api, deps: RouteDeps): void {
  const { pool, authenticator, policyName, onOutbox } = deps;
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
      const { id, name, role } = request.body;
      return reply.status(201).send(reviewerView(await createReviewer(pool, { id, name: name ?? id, role })));
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
        throw new ApiError(404, ApiErrorCode.notFound, `no reviewer ${request.params.reviewerId}`);
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

  app.get(
    '/v1/admin/policy',
    {
      config: admin,
      schema: {
        tags,
        summary: 'The routing policy in force',
        response: { 200: StoredPolicy, 404: E, ...errorResponses },
      },
    },
    async () => {
      const policy = await getCurrentPolicy(pool, policyName);
      if (!policy)
        throw new ApiError(404, 'HITL_ERR_POLICY_NOT_FOUND', `no routing policy ${policyName} yet`);
      return policyView(policy);
    },
  );

  app.get(
    '/v1/admin/policy/history',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Every version of the routing policy, oldest first',
        response: { 200: Type.Array(StoredPolicy), ...errorResponses },
      },
    },
    async () => (await listPolicyVersions(pool, policyName)).map(policyView),
  );

  app.put(
    '/v1/admin/policy',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Make a new version of the routing policy (the router applies it within seconds)',
        body: PolicyChangeBody,
        response: { 200: StoredPolicy, 422: E, ...errorResponses, ...bodyErrorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      const policy = await updatePolicy(pool, policyName, () => request.body.spec, {
        actor: who.reviewerId,
        ...(request.body.reason ? { reason: request.body.reason } : {}),
      });
      return policyView(policy);
    },
  );

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

export function queryRoutes(app: Api, { pool }: RouteDeps): void {
  const tags = ['queries'];
  app.get(
    '/v1/tasks',
    {
      config: { role: 'reviewer' },
      schema: {
        tags,
        summary: 'Tasks, newest first, filtered, a page at a time',
        querystring: TaskListQuery,
        response: { 200: TaskPage, ...errorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      // Reviewers see the tasks they hold or answered; what else was decided is for admins.
      return listTasks(pool, {
        ...request.query,
        ...(who.role === 'admin' ? {} : { visibleTo: who.reviewerId }),
      });
    },
  );

  app.get(
    '/v1/stats',
    {
      config: { role: 'reviewer' },
      schema: {
        tags,
        summary:
          'Queue depth by reason and class, oldest wait, decisions per hour, per-reviewer counts and agreement',
        response: { 200: Stats, ...errorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      // A reviewer gets the queue and their own figures, not the other reviewers'.
      return reviewStats(pool, who.role === 'admin' ? {} : { reviewerId: who.reviewerId });
    },
  );

  app.get(
    '/v1/export',
    {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'The labelled data as JSON lines (application/x-ndjson), streamed, oldest decision first',
        querystring: ExportQuery,
        response: {
          // Keyed by media type, so the document says what the stream is sent as (errors stay JSON).
          200: {
            description: 'The labelled data, one JSON object per line.',
            content: {
              'application/x-ndjson': {
                schema: Type.String({
                  description:
                    'One JSON object per line: eventId, stream, input, label, reviewerLabels, reviewReason, modelPrediction, decidedAt.',
                }),
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      void reply.type('application/x-ndjson');
      return reply.send(Readable.from(exportLabels(pool, request.query)));
    },
  );
}
