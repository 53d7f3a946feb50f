import {
  topics,
  type Correction,
  type InputEvent,
  type ModelLifecycle,
  type RecordOf,
  type TopicSpec,
} from '@hitl/contracts';
import { createPool, migrate } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { mulberry32 } from '@hitl/model';
import {
  createTestDatabase,
  uniqueTestTopics,
  kafkaBrokers,
  uniqueName,
  type TestDatabase,
  type TopicReader,
} from '@hitl/testkit';
import { type Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { loadTrainerConfig, splitOf, type Split, type TrainerConfig } from '../src';

import { classTexts, testKafka, testLogger } from '@hitl/testkit';

export { testKafka };
export const logger = testLogger;

/** A fresh, migrated database and a pool on it, for one test file. */
export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_trainer');
  await migrate({ databaseUrl: db.url, logger });
  return { db, pool: createPool({ connectionString: db.url, max: 4 }) };
}

/** Short texts of each class (mostly its own words), drawn from a seeded generator. */
export function texts(classes: readonly string[], perClass: number, seed: number) {
  return classTexts(classes, perClass, mulberry32(seed));
}

/**
 * `n` event ids `<prefix>-<i>`, taking only those that fall in `split` when one is given. Fixed ids
 * (not unique names) keep each test's split, and so its models, the same from run to run.
 */
export function eventIds(prefix: string, n: number, split?: Split, evalShare = 0.2): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n; i++) {
    const id = `${prefix}-${i}`;
    if (split === undefined || splitOf(id, evalShare) === split) ids.push(id);
  }
  return ids;
}

export function correction(
  eventId: string,
  input: Correction['data']['input'],
  label: string,
  opts: { correctedAt?: string; reviewer?: string } = {},
): Correction {
  const at = opts.correctedAt ?? new Date().toISOString();
  return {
    type: 'correction.recorded',
    version: 1,
    producedAt: at,
    data: {
      eventId,
      stream: 'test',
      input,
      label,
      reviewerLabels: [{ reviewerId: opts.reviewer ?? 'alice', label }],
      modelPrediction: null,
      outcome: 'no_model',
      reviewReason: 'no_model',
      correctedAt: at,
    },
  };
}

/** Corrections of generated texts: `data[i]` labels event `ids[i]`. */
export function textCorrections(ids: readonly string[], data: readonly { text: string; label: string }[]) {
  return ids.map((id, i) => correction(id, { text: data[i]!.text }, data[i]!.label));
}

async function produce<T extends TopicSpec>(kafka: Kafka, spec: T, records: readonly RecordOf<T>[]) {
  const producer = new TypedProducer({ kafka });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 200) {
      await producer.send(
        spec,
        records.slice(i, i + 200).map((value) => ({ value })),
      );
    }
  } finally {
    await producer.disconnect();
  }
}

export function sendCorrections(kafka: Kafka, topic: string, records: readonly Correction[]): Promise<void> {
  return produce(kafka, { ...topics.corrections, name: topic }, records);
}

export function sendEvents(kafka: Kafka, topic: string, records: readonly InputEvent[]): Promise<void> {
  return produce(kafka, { ...topics.events, name: topic }, records);
}

export function inputEvent(eventId: string, text: string): InputEvent {
  const at = new Date().toISOString();
  return {
    type: 'event.submitted',
    version: 1,
    producedAt: at,
    data: { eventId, stream: 'test', occurredAt: at, input: { text } },
  };
}

/** The test's own copies of the topics the trainer (and an inference service) use. */
export function serviceTopics() {
  return uniqueTestTopics({ corrections: 3, models: 1, deadLetters: 1, events: 1, predictions: 1 });
}

export type ServiceTopics = Awaited<ReturnType<typeof serviceTopics>>;

/** The trainer's environment on the test's topics and database (relay names unique to the test). */
export function trainerEnv(
  t: ServiceTopics,
  databaseUrl: string,
  modelId: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: databaseUrl,
    MODEL_ID: modelId,
    GROUP_ID: uniqueName('trainer'),
    INSTANCE_ID: 'test-0',
    OUTBOX_RELAY_ID: uniqueName('relay'),
    CORRECTIONS_TOPIC: t.corrections,
    MODELS_TOPIC: t.models,
    DLQ_TOPIC: t.deadLetters,
    CHECK_INTERVAL_MS: '100',
    MIN_EVAL_EXAMPLES: '20',
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export function trainerConfig(...args: Parameters<typeof trainerEnv>): TrainerConfig {
  return loadTrainerConfig(trainerEnv(...args));
}

/** The lifecycle records of one model on a models topic, in order. */
export function lifecycleOf(reader: TopicReader, modelId: string): ModelLifecycle[] {
  return reader.values<ModelLifecycle>().filter((r) => r.data.model.id === modelId);
}

export function steps(records: readonly ModelLifecycle[]): string[] {
  return records.map((r) => `${r.type} ${r.data.model.version}`);
}
