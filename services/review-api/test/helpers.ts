import {
  topics,
  type Decision,
  type Prediction,
  type ReviewRequest,
  type ReviewReason,
} from '@hitl/contracts';
import { createApiKey, createPool, createReviewer, migrate, type Role } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { createTestDatabase, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { type Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createReviewApi, loadReviewApiConfig, type ReviewApi } from '../src';

import { testKafka, testLogger } from '@hitl/testkit';
import { reviewEnv, reviewTopics, type ReviewTopics } from './in-process';

export { testKafka };
export const logger = testLogger;

export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_review');
  await migrate({ databaseUrl: db.url, logger });
  return { db, pool: createPool({ connectionString: db.url, max: 10 }) };
}

export { reviewEnv, reviewTopics, type ReviewTopics };

/** Starts the review API in-process on a free port. */
export async function startApi(
  t: ReviewTopics,
  db: TestDatabase,
  extra: Record<string, string> = {},
): Promise<ReviewApi> {
  const api = await createReviewApi(loadReviewApiConfig(reviewEnv(t, db.url, extra)), {
    logger,
    registry: new Registry(),
    kafka: testKafka(),
  });
  await api.start();
  return api;
}

/** A reviewer (or admin) with a fresh key. */
export async function person(pool: Pool, role: Role = 'reviewer', id = uniqueName(role)) {
  await createReviewer(pool, { id, name: id, role });
  const { key, info } = await createApiKey(pool, id);
  return { id, key, keyId: info.id };
}

/** A review request for an event, as the router writes it. */
export function reviewRequest(
  eventId: string,
  opts: {
    label?: string | null;
    confidence?: number;
    reason?: ReviewReason;
    requiredReviewers?: number;
    priority?: number;
    stream?: string;
  } = {},
): ReviewRequest {
  const at = new Date().toISOString();
  const label = opts.label === undefined ? 'spam' : opts.label;
  const confidence = opts.confidence ?? 0.6;
  const prediction: Prediction['data'] =
    label === null
      ? {
          eventId,
          stream: opts.stream ?? 'email',
          occurredAt: at,
          input: { text: `text of ${eventId}` },
          model: null,
          classes: [],
          label: null,
          probabilities: {},
          confidence: 0,
          margin: 0,
          entropy: 0,
          scoredAt: at,
        }
      : {
          eventId,
          stream: opts.stream ?? 'email',
          occurredAt: at,
          input: { text: `text of ${eventId}` },
          model: { id: 'spam', version: 1 },
          classes: ['ham', 'spam'],
          label,
          probabilities: {
            ham: label === 'ham' ? confidence : 1 - confidence,
            spam: label === 'spam' ? confidence : 1 - confidence,
          },
          confidence,
          margin: Math.abs(2 * confidence - 1),
          entropy: 0.6,
          scoredAt: at,
        };
  return {
    type: 'review.requested',
    version: 1,
    producedAt: at,
    data: {
      eventId,
      prediction,
      reason: opts.reason ?? 'low_confidence',
      priority: opts.priority ?? 1 - confidence,
      policyVersion: 1,
      requiredReviewers: opts.requiredReviewers ?? 1,
      requestedAt: at,
    },
  };
}

export async function sendReviewRequests(
  kafka: Kafka,
  topic: string,
  records: ReviewRequest[],
): Promise<void> {
  const producer = new TypedProducer({ kafka });
  await producer.connect();
  try {
    await producer.send(
      { ...topics.reviewRequests, name: topic },
      records.map((value) => ({ value })),
    );
  } finally {
    await producer.disconnect();
  }
}

/** Sends review requests to the API's topic and waits until each is a task. */
export async function ingestAll(api: ReviewApi, topic: string, requests: ReviewRequest[]): Promise<void> {
  await sendReviewRequests(testKafka(), topic, requests);
  await waitFor(
    async () => (await Promise.all(requests.map((r) => api.tasks.get(r.data.eventId)))).every(Boolean),
    { message: 'a task for every request' },
  );
}

/** Decisions read from a topic, by event id: exactly one each is the invariant. */
export function decisionsByEvent(values: Decision[]): Map<string, Decision['data'][]> {
  const by = new Map<string, Decision['data'][]>();
  for (const d of values) by.set(d.data.eventId, [...(by.get(d.data.eventId) ?? []), d.data]);
  return by;
}

/** A tiny HTTP client for tests: JSON in, status and JSON out. */
export interface Reply {
  status: number;
  body: Record<string, unknown> | null;
  headers: Headers;
}

export function client(baseUrl: string, key?: string) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      body:
        text && response.headers.get('content-type')?.includes('json')
          ? (JSON.parse(text) as Record<string, unknown>)
          : null,
      headers: response.headers,
    };
  };
}
export type Client = ReturnType<typeof client>;
