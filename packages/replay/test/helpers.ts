// The real review API, started in-process on a fresh database with topics of its own (as the
// client's tests start it), and reviewers with keys.
import type { ReviewRequest } from '@hitl/contracts';
import { createApiKey, createPool, createReviewer, migrate, type Role } from '@hitl/db';
import { createReviewApi, loadReviewApiConfig, type ReviewApi } from '@hitl/review-api';
import {
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  kafkaBrokers,
  uniqueName,
  type TestDatabase,
} from '@hitl/testkit';
import { Kafka, logLevel } from 'kafkajs';
import type { Pool } from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function testKafka(): Kafka {
  return new Kafka({ clientId: 'hitl-replay-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
}

export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_replay');
  await migrate({ databaseUrl: db.url, logger });
  return { db, pool: createPool({ connectionString: db.url, max: 5 }) };
}

export interface RunningApi {
  api: ReviewApi;
  url: string;
  stop(): Promise<void>;
}

/** The review API on a free port, with its own topics, consumer group, relay id and policy name. */
export async function startApi(db: TestDatabase, extra: Record<string, string> = {}): Promise<RunningApi> {
  const names = {
    reviewRequests: uniqueName('review-requests'),
    decisions: uniqueName('decisions'),
    corrections: uniqueName('corrections'),
    deadLetters: uniqueName('dlq'),
  };
  await createTestTopics(Object.values(names).map((topic) => ({ topic, numPartitions: 1 })));
  const config = loadReviewApiConfig({
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: db.url,
    API_PORT: '0',
    API_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    GROUP_ID: uniqueName('review-api'),
    INSTANCE_ID: 'replay-test-0',
    OUTBOX_RELAY_ID: uniqueName('relay'),
    POLICY_NAME: uniqueName('policy'),
    REVIEW_REQUESTS_TOPIC: names.reviewRequests,
    DECISIONS_TOPIC: names.decisions,
    CORRECTIONS_TOPIC: names.corrections,
    DLQ_TOPIC: names.deadLetters,
    LOG_LEVEL: 'warn',
    ...extra,
  });
  const api = await createReviewApi(config, { logger, registry: new Registry(), kafka: testKafka() });
  try {
    await api.start();
  } catch (error) {
    await api.stop();
    await deleteTestTopics(Object.values(names));
    throw error;
  }
  return {
    api,
    url: api.url(),
    async stop() {
      await api.stop();
      await deleteTestTopics(Object.values(names));
    },
  };
}

/** A reviewer (or admin) with a fresh key. */
export async function person(pool: Pool, role: Role = 'reviewer'): Promise<{ id: string; key: string }> {
  const id = uniqueName(role);
  await createReviewer(pool, { id, name: `${role} ${id}`, role });
  const { key } = await createApiKey(pool, id);
  return { id, key };
}

/** A review request as the router writes it: a model 60% sure of `predicted`, over `classes`. */
export function reviewRequest(
  eventId: string,
  opts: { stream: string; predicted: string; classes: string[] },
): ReviewRequest['data'] {
  const at = new Date().toISOString();
  const rest = opts.classes.filter((c) => c !== opts.predicted);
  const probabilities = Object.fromEntries([
    [opts.predicted, 0.6],
    ...rest.map((c) => [c, 0.4 / rest.length]),
  ]) as Record<string, number>;
  return {
    eventId,
    prediction: {
      eventId,
      stream: opts.stream,
      occurredAt: at,
      input: { text: `text of ${eventId}` },
      scoredAt: at,
      model: { id: 'replay-test', version: 1 },
      classes: opts.classes,
      label: opts.predicted,
      probabilities,
      confidence: 0.6,
      margin: 0.2,
      entropy: 0.9,
    },
    reason: 'low_confidence',
    priority: 0.4,
    policyVersion: 1,
    requiredReviewers: 1,
    requestedAt: at,
  };
}
