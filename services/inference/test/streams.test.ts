import {
  topics,
  type DeadLetter,
  type InputEvent,
  type Prediction,
  type RescoreRequest,
} from '@hitl/contracts';
import { addStream } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createInferenceService, type InferenceService } from '../src';
import {
  featuresModel,
  inputEvent,
  logger,
  registerAndPromote,
  sendEvents,
  serviceConfig,
  serviceTopics,
  testDatabase,
  testKafka,
  textModel,
  type ServiceTopics,
} from './helpers';

let kafka: Kafka;
let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  kafka = testKafka();
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function setup(modelId: string, env: Record<string, string> = {}, partitions = 3) {
  const t = await serviceTopics(partitions);
  cleanups.push(t.cleanup);
  const registry = new Registry();
  const service = createInferenceService(serviceConfig(t, db.url, modelId, env), { logger, registry, kafka });
  cleanups.push(() => service.stop());
  return { t, service, registry };
}

async function start(service: InferenceService): Promise<void> {
  await service.start();
  await waitFor(() => service.ready(), { message: 'service ready' });
}

async function reader(t: ServiceTopics, topic: 'predictions' | 'deadLetters'): Promise<TopicReader> {
  const r = await TopicReader.start(t[topic]);
  cleanups.push(() => r.stop());
  return r;
}

function streamEvent(eventId: string, stream: string, input: InputEvent['data']['input']): InputEvent {
  const event = inputEvent(eventId, input);
  return { ...event, data: { ...event.data, stream } };
}

/** A text model promoted for `modelId` and a stream of it. */
async function textStream(stream: string, modelId: string, classes: string[], seed: number) {
  await registerAndPromote(pool, { modelId, onnx: textModel(modelId, seed, classes), classes });
  await addStream(pool, { id: stream, classes, inputKind: 'text', modelId }, { reason: 'test' });
}

async function metricValues(registry: Registry, name: string) {
  return (await registry.getSingleMetric(name)!.get()).values;
}

// The tests run in order on one database: the registry is empty for the first one only.
describe('inference with a stream registry', () => {
  it('serves MODEL_ID for events of every stream while no stream is registered', async () => {
    const modelId = uniqueName('default');
    await registerAndPromote(pool, { modelId, onnx: textModel(modelId, 1), classes: ['ham', 'spam'] });
    const { t, service, registry } = await setup(modelId);
    await start(service);
    expect(service.slot.version).toBe(1);
    expect(service.models.entries().map(([id]) => id)).toEqual([modelId]);
    const predictions = await reader(t, 'predictions');
    await sendEvents(kafka, t.events, [
      streamEvent('e-1', 'email', { text: 'cash prize' }),
      streamEvent('e-2', 'anything', { text: 'lunch at noon' }),
    ]);
    await predictions.waitForCount(2);
    for (const p of predictions.values<Prediction>()) {
      expect(p.data.model).toEqual({ id: modelId, version: 1 });
    }
    const counted = await metricValues(registry, 'hitl_inference_predictions_total');
    expect(new Set(counted.map((v) => v.labels['stream']))).toEqual(new Set(['email', 'anything']));
    expect(counted.every((v) => v.labels['model'] === modelId)).toBe(true);
  });

  it('scores each event of an interleaved batch by its own stream model, and dead-letters an unknown stream', async () => {
    const [spam, tickets] = [uniqueName('spam'), uniqueName('tickets')];
    const [spamModel, ticketsModel] = [uniqueName('spam-model'), uniqueName('tickets-model')];
    await textStream(spam, spamModel, ['ham', 'spam'], 2);
    await textStream(tickets, ticketsModel, ['ham', 'spam', 'other'], 3);
    // One partition and every event sent before the service starts: they arrive in one batch.
    const { t, service, registry } = await setup(uniqueName('unused-default'), {}, 1);
    const events: InputEvent[] = [];
    for (let i = 0; i < 40; i++) {
      events.push(
        i % 2 === 0
          ? streamEvent(`s-${i}`, spam, { text: `cheap meds offer ${i}` })
          : streamEvent(`t-${i}`, tickets, { text: `the app crashes on start ${i}` }),
      );
    }
    events.splice(7, 0, streamEvent('stray', 'nobody-registered-this', { text: 'hello' }));
    await sendEvents(kafka, t.events, events);
    const predictions = await reader(t, 'predictions');
    const dead = await reader(t, 'deadLetters');
    await start(service);
    // MODEL_ID is no stream's model: with streams registered it serves nothing.
    expect(service.slot.version).toBeNull();
    expect(service.models.slot(spamModel)?.version).toBe(1);
    expect(service.models.slot(ticketsModel)?.version).toBe(1);

    await predictions.waitForCount(40);
    await dead.waitForCount(1);
    const all = predictions.values<Prediction>();
    expect(new Set(all.map((p) => p.data.eventId)).size).toBe(40);
    for (const p of all) {
      const own = p.data.stream === spam ? spamModel : ticketsModel;
      expect(p.data.model).toEqual({ id: own, version: 1 });
      expect(p.data.classes).toEqual(p.data.stream === spam ? ['ham', 'spam'] : ['ham', 'spam', 'other']);
    }
    // Predictions keep the order of their events on the partition.
    expect(all.map((p) => p.data.eventId)).toEqual(
      events.filter((e) => e.data.eventId !== 'stray').map((e) => e.data.eventId),
    );
    const [letter] = dead.values<DeadLetter>();
    expect(letter!.data).toMatchObject({
      source: { key: 'stray' },
      error: { code: 'HITL_ERR_STREAM_UNKNOWN' },
    });
    expect(letter!.data.error.message).toContain('nobody-registered-this');

    const counted = await metricValues(registry, 'hitl_inference_predictions_total');
    const byModel = (model: string) =>
      counted.filter((v) => v.labels['model'] === model).reduce((n, v) => n + v.value, 0);
    expect(byModel(spamModel)).toBe(20);
    expect(byModel(ticketsModel)).toBe(20);
    // One batch, one onnxruntime call per model.
    const calls = await metricValues(registry, 'hitl_inference_batch_size');
    const callsOf = (model: string) =>
      calls.find(
        (v) =>
          (v as { metricName?: string }).metricName === 'hitl_inference_batch_size_count' &&
          v.labels['model'] === model,
      )?.value;
    expect(callsOf(spamModel)).toBe(1);
    expect(callsOf(ticketsModel)).toBe(1);
    const rejected = await metricValues(registry, 'hitl_inference_rejected_total');
    expect(rejected).toEqual([
      expect.objectContaining({
        value: 1,
        labels: { model: 'none', stream: 'unregistered', code: 'HITL_ERR_STREAM_UNKNOWN' },
      }),
    ]);
    const bytes = await metricValues(registry, 'hitl_inference_model_bytes');
    expect(bytes.map((v) => v.labels['model']).sort()).toEqual([spamModel, ticketsModel].sort());
    expect(bytes.every((v) => v.value > 0)).toBe(true);
  });

  it('scores a waiting task again only with the model of its stream', async () => {
    const [a, b] = [uniqueName('rescore-a'), uniqueName('rescore-b')];
    const [aModel, bModel] = [uniqueName('rescore-a-model'), uniqueName('rescore-b-model')];
    await textStream(a, aModel, ['ham', 'spam'], 7);
    await textStream(b, bModel, ['ham', 'spam'], 8);
    const { t, service, registry } = await setup(uniqueName('unused-default'));
    await start(service);
    const rescored = await TopicReader.start(t.rescored);
    cleanups.push(() => rescored.stop());
    const at = new Date().toISOString();
    const request = (eventId: string, stream: string, model: string): RescoreRequest => ({
      type: 'rescore.requested',
      version: 1,
      producedAt: at,
      data: {
        eventId,
        stream,
        occurredAt: at,
        input: { text: 'cash prize' },
        model: { id: model, version: 1 },
        requestedAt: at,
      },
    });
    const producer = new TypedProducer({ kafka });
    await producer.connect();
    try {
      await producer.send({ ...topics.rescoreRequests, name: t.rescoreRequests }, [
        { value: request('a-own', a, aModel) },
        // Names the model of another stream: never scored with it.
        { value: request('a-other', a, bModel) },
        { value: request('b-own', b, bModel) },
      ]);
    } finally {
      await producer.disconnect();
    }
    await rescored.waitForCount(2);
    await waitFor(
      async () =>
        (await metricValues(registry, 'hitl_inference_rescored_total')).reduce((n, v) => n + v.value, 0) ===
        3,
      { message: 'three requests handled' },
    );
    const byId = new Map(rescored.values<Prediction>().map((p) => [p.data.eventId, p.data.model]));
    expect(byId).toEqual(
      new Map([
        ['a-own', { id: aModel, version: 1 }],
        ['b-own', { id: bModel, version: 1 }],
      ]),
    );
    const counts = await metricValues(registry, 'hitl_inference_rescored_total');
    expect(counts.find((v) => v.labels['outcome'] === 'skipped')).toMatchObject({ value: 1 });
  });

  it('serves a stream added while it runs, with no restart and no periodic registry check', async () => {
    const first = uniqueName('first');
    const firstModel = uniqueName('first-model');
    await textStream(first, firstModel, ['ham', 'spam'], 4);
    // No periodic registry check: an event of a stream it does not know makes it read the registry.
    const { t, service } = await setup(uniqueName('unused-default'), { STREAMS_POLL_MS: '0' });
    await start(service);
    const predictions = await reader(t, 'predictions');
    const dead = await reader(t, 'deadLetters');
    await sendEvents(kafka, t.events, [streamEvent('first-1', first, { text: 'free money' })]);
    await predictions.waitForCount(1);

    // A stream of numeric features, added while the service runs.
    const added = uniqueName('added');
    const addedModel = uniqueName('added-model');
    expect(service.models.slot(addedModel)).toBeUndefined();
    await registerAndPromote(pool, {
      modelId: addedModel,
      onnx: featuresModel(addedModel, 4, 5),
      classes: ['a', 'b'],
      featureWidth: 4,
    });
    await addStream(pool, {
      id: added,
      classes: ['a', 'b'],
      inputKind: 'features',
      featureWidth: 4,
      modelId: addedModel,
    });
    await sendEvents(kafka, t.events, [
      streamEvent('added-1', added, { features: [1, 2, 3, 4] }),
      streamEvent('first-2', first, { text: 'see you at lunch' }),
      streamEvent('added-2', added, { features: [-1, -2, -3, -4] }),
    ]);
    await predictions.waitForCount(4);
    const byId = new Map(predictions.values<Prediction>().map((p) => [p.data.eventId, p.data]));
    expect(byId.get('added-1')!.model).toEqual({ id: addedModel, version: 1 });
    expect(byId.get('added-2')!.model).toEqual({ id: addedModel, version: 1 });
    expect(byId.get('first-2')!.model).toEqual({ id: firstModel, version: 1 });
    expect(service.models.slot(addedModel)?.version).toBe(1);

    expect(dead.records.length).toBe(0);
  });

  it('follows the registry on its periodic check: loads the model of an added stream, unloads that of a removed one', async () => {
    const { t, service, registry } = await setup(uniqueName('unused-default'), { STREAMS_POLL_MS: '100' });
    await start(service);
    const later = uniqueName('later');
    const laterModel = uniqueName('later-model');
    await textStream(later, laterModel, ['ham', 'spam'], 6);
    await waitFor(() => service.models.slot(laterModel)?.version === 1, { message: 'the new model loaded' });
    expect(service.models.modelFor(later)).toBe(laterModel);
    expect(service.models.modelFor('nobody-registered-this')).toBeNull();
    await waitFor(
      async () =>
        (await metricValues(registry, 'hitl_inference_model_version')).some(
          (v) => v.labels['model'] === laterModel,
        ),
      { message: 'its version in the metrics' },
    );

    // The stream removed (by hand: the registry has no remove), its model is unloaded and its
    // events are dead-lettered.
    const dead = await reader(t, 'deadLetters');
    await pool.query('DELETE FROM streams WHERE id = $1', [later]);
    await waitFor(() => service.models.slot(laterModel) === undefined, { message: 'the model unloaded' });
    await sendEvents(kafka, t.events, [streamEvent('later-1', later, { text: 'free money' })]);
    await dead.waitForCount(1);
    expect(dead.values<DeadLetter>()[0]!.data).toMatchObject({
      source: { key: 'later-1' },
      error: { code: 'HITL_ERR_STREAM_UNKNOWN' },
    });
    const versions = await metricValues(registry, 'hitl_inference_model_version');
    expect(versions.map((v) => v.labels['model'])).not.toContain(laterModel);
    expect(versions.length).toBeGreaterThan(0);
  });
});
