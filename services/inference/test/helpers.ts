import { topics, type InputEvent, type ModelLifecycle } from '@hitl/contracts';
import { migrate, promoteModelVersion, registerModelVersion, createPool, type ModelVersion } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { mulberry32, toOnnx, trainLinearClassifier, trainTextClassifier } from '@hitl/model';
import {
  createTestDatabase,
  uniqueTestTopics,
  kafkaBrokers,
  uniqueName,
  type TestDatabase,
} from '@hitl/testkit';
import { type Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { loadInferenceConfig, type InferenceConfig } from '../src';

import { classTexts, testKafka, testLogger } from '@hitl/testkit';

export { testKafka };
export const logger = testLogger;

/** Short texts of each class, drawn from a seeded generator. */
export function texts(classes: readonly string[], perClass: number, seed: number) {
  return classTexts(classes, perClass, mulberry32(seed));
}

export function textModel(modelId: string, seed: number, classes = ['ham', 'spam']): Uint8Array {
  const data = texts(classes, 40, seed);
  const model = trainTextClassifier({
    texts: data.map((d) => d.text),
    labels: data.map((d) => d.label),
    classes,
    epochs: 20,
    seed,
  });
  return toOnnx(model, { modelId });
}

export function featuresModel(modelId: string, width: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  const features: number[][] = [];
  const labels: string[] = [];
  for (let i = 0; i < 100; i++) {
    const label = i % 2 === 0 ? 'a' : 'b';
    features.push(Array.from({ length: width }, () => rand() + (label === 'a' ? 1 : -1)));
    labels.push(label);
  }
  return toOnnx(trainLinearClassifier({ features, labels, epochs: 20, seed }), { modelId });
}

/** A fresh, migrated database and a pool on it. */
export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_inference');
  await migrate({ databaseUrl: db.url, logger });
  return { db, pool: createPool({ connectionString: db.url, max: 4 }) };
}

export async function registerAndPromote(
  pool: Pool,
  input: {
    modelId: string;
    onnx: Uint8Array;
    classes: string[];
    featureWidth?: number;
    temperature?: number;
  },
): Promise<ModelVersion> {
  const version = await registerModelVersion(pool, {
    modelId: input.modelId,
    onnx: input.onnx,
    classes: input.classes,
    inputKind: input.featureWidth === undefined ? 'text' : 'features',
    ...(input.featureWidth === undefined ? {} : { featureWidth: input.featureWidth }),
    ...(input.temperature === undefined ? {} : { temperature: input.temperature }),
  });
  return promoteModelVersion(pool, input.modelId, version.version);
}

/** The test's own copies of the service's topics, created on the broker. */
export function serviceTopics(partitions = 3) {
  return uniqueTestTopics({
    events: partitions,
    predictions: partitions,
    models: 1,
    rescoreRequests: partitions,
    rescored: partitions,
    deadLetters: 1,
  });
}

export type ServiceTopics = Awaited<ReturnType<typeof serviceTopics>>;

/** The environment of a service on the test's topics and database. */
export function serviceEnv(
  t: ServiceTopics,
  databaseUrl: string,
  modelId: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: databaseUrl,
    MODEL_ID: modelId,
    GROUP_ID: uniqueName('inference'),
    INSTANCE_ID: 'test-0',
    EVENTS_TOPIC: t.events,
    PREDICTIONS_TOPIC: t.predictions,
    MODELS_TOPIC: t.models,
    RESCORE_REQUESTS_TOPIC: t.rescoreRequests,
    RESCORED_TOPIC: t.rescored,
    DLQ_TOPIC: t.deadLetters,
    MODEL_POLL_MS: '0',
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export function serviceConfig(...args: Parameters<typeof serviceEnv>): InferenceConfig {
  return loadInferenceConfig(serviceEnv(...args));
}

export function inputEvent(eventId: string, input: InputEvent['data']['input']): InputEvent {
  const at = new Date().toISOString();
  return {
    type: 'event.submitted',
    version: 1,
    producedAt: at,
    data: { eventId, stream: 'test', occurredAt: at, input },
  };
}

export async function sendEvents(kafka: Kafka, topic: string, events: InputEvent[]): Promise<void> {
  const producer = new TypedProducer({ kafka });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += 500) {
      await producer.send(
        { ...topics.events, name: topic },
        events.slice(i, i + 500).map((value) => ({ value })),
      );
    }
  } finally {
    await producer.disconnect();
  }
}

/** Announces a promotion on the models topic, as the registry's outbox relay does. */
export async function announcePromotion(kafka: Kafka, topic: string, version: ModelVersion): Promise<void> {
  const record: ModelLifecycle = {
    type: 'model.promoted',
    version: 1,
    producedAt: new Date().toISOString(),
    data: {
      model: { id: version.modelId, version: version.version },
      parentVersion: version.parentVersion,
      classes: version.classes,
      inputKind: version.inputKind,
      metrics: {},
    },
  };
  const producer = new TypedProducer({ kafka });
  await producer.connect();
  try {
    await producer.send({ ...topics.models, name: topic }, [{ value: record }]);
  } finally {
    await producer.disconnect();
  }
}
