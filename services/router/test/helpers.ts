import { topics, type Prediction, type PredictionData } from '@hitl/contracts';
import { createPool, migrate } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import {
  createTestDatabase,
  uniqueTestTopics,
  kafkaBrokers,
  uniqueName,
  type TestDatabase,
} from '@hitl/testkit';
import { type Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { loadRouterConfig, type RouterConfig } from '../src';

import { testKafka, testLogger } from '@hitl/testkit';

export { testKafka };
export const logger = testLogger;

export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_router');
  await migrate({ databaseUrl: db.url, logger });
  return { db, pool: createPool({ connectionString: db.url, max: 4 }) };
}

export function routerTopics(partitions = 3) {
  return uniqueTestTopics({
    predictions: partitions,
    decisions: partitions,
    reviewRequests: partitions,
    deadLetters: 1,
  });
}

export type RouterTopics = Awaited<ReturnType<typeof routerTopics>>;

export function routerEnv(
  t: RouterTopics,
  databaseUrl: string,
  policyName: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: databaseUrl,
    POLICY_NAME: policyName,
    GROUP_ID: uniqueName('router'),
    INSTANCE_ID: 'test-0',
    PREDICTIONS_TOPIC: t.predictions,
    DECISIONS_TOPIC: t.decisions,
    REVIEW_REQUESTS_TOPIC: t.reviewRequests,
    DLQ_TOPIC: t.deadLetters,
    POLICY_POLL_MS: '100',
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export function routerConfig(...args: Parameters<typeof routerEnv>): RouterConfig {
  return loadRouterConfig(routerEnv(...args));
}

/**
 * A ham/spam prediction of the given confidence (label spam when confidence ≥ 0.5), or with no
 * model, of stream `test` (which no test registers) or of the one given.
 */
export function prediction(eventId: string, confidence: number | null, stream = 'test'): Prediction {
  const at = new Date().toISOString();
  const base = {
    eventId,
    stream,
    occurredAt: at,
    input: { text: `text of ${eventId}` },
    scoredAt: at,
  };
  const data: PredictionData =
    confidence === null
      ? {
          ...base,
          model: null,
          classes: [],
          label: null,
          probabilities: {},
          confidence: 0,
          margin: 0,
          entropy: 0,
        }
      : {
          ...base,
          model: { id: 'spam', version: 1 },
          classes: ['ham', 'spam'],
          label: 'spam',
          probabilities: { ham: 1 - confidence, spam: confidence },
          confidence,
          margin: Math.abs(2 * confidence - 1),
          entropy: 0.5,
        };
  return { type: 'prediction.scored', version: 1, producedAt: at, data };
}

/** Confidences in [0.5, 1), deterministic per index, and a no-model prediction every 10th. */
export function confidenceOf(i: number): number | null {
  if (i % 10 === 9) return null;
  return 0.5 + ((i * 7919) % 500) / 1000;
}

export async function sendPredictions(kafka: Kafka, topic: string, records: Prediction[]): Promise<void> {
  const producer = new TypedProducer({ kafka });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 500) {
      await producer.send(
        { ...topics.predictions, name: topic },
        records.slice(i, i + 500).map((value) => ({ value })),
      );
    }
  } finally {
    await producer.disconnect();
  }
}
