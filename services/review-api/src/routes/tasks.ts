// What reviewers do with tasks: claim, read, extend, give back, skip and answer.
import {
  AnswerBody,
  AnswerResult,
  ApiErrorCode,
  ClaimBody,
  EventIdParam,
  IdempotencyHeaders,
  Lease,
  Me,
  Task,
} from '@hitl/api-contract';
import { getCurrentPolicy } from '@hitl/db';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../errors';
import { bodyErrorResponses, errorResponses, pathErrorResponses, principalOf, type Api } from '../http';
import { E, type RouteDeps } from './common';

export function taskRoutes(app: Api, { tasks, pool, policyName }: RouteDeps): void {
  const reviewer = { role: 'reviewer' as const };
  const tags = ['review'];

  app.get(
    '/v1/me',
    {
      config: reviewer,
      schema: {
        tags,
        summary: 'Who this key belongs to, and how tasks are shown to them (from the routing policy)',
        response: { 200: Me, ...errorResponses },
      },
    },
    async (request) => {
      const p = principalOf(request);
      // Read on each call: a client asks once per session, and a policy change shows at the next.
      const policy = await getCurrentPolicy(pool, policyName);
      const { hideSuggestion, featureNames } = policy ?? DEFAULT_POLICY_SPEC;
      return {
        id: p.reviewerId,
        name: p.name,
        role: p.role,
        keyId: p.keyId,
        settings: { hideSuggestion, featureNames: [...featureNames] },
      };
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
          'Answers 204 when no task is waiting for you. Repeatable: without an Idempotency-Key, you get back a task you already hold that fits the filters; with one, the same key gets the same task while its lease lasts, and a new key a new task. 409 HITL_ERR_LEASE_LIMIT when you hold as many tasks as one reviewer may. Admins claim the tasks escalated to them with escalated: true.',
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
      if (!task) throw new ApiError(ApiErrorCode.notFound, `no task for event ${request.params.eventId}`);
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
