import { topics, type DeadLetter, type Prediction, type RescoreRequest } from '@hitl/contracts';
import { registerModelVersion, promoteModelVersion } from '@hitl/db';
import { TypedProducer } from '@hitl/kafka';
import { applyTemperature, loadOnnxClassifier } from '@hitl/model';
import { TopicReader, jsonValue, readTopic, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createInferenceService, type InferenceService } from '../src';
import {
  announcePromotion,
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
  texts,
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

async function setup(modelId: string, env: Record<string, string> = {}) {
  const t = await serviceTopics();
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

function predictionsOf(reader: TopicReader): Prediction[] {
  return reader.values<Prediction>();
}

async function reader(
  t: ServiceTopics,
  topic: 'predictions' | 'deadLetters' | 'rescored',
): Promise<TopicReader> {
  const r = await TopicReader.start(t[topic]);
  cleanups.push(() => r.stop());
  return r;
}

function countsById(predictions: Prediction[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of predictions) counts.set(p.data.eventId, (counts.get(p.data.eventId) ?? 0) + 1);
  return counts;
}

describe('inference service', () => {
  it('publishes a prediction with no model for every event before any model is promoted', async () => {
    const { t, service } = await setup(uniqueName('cold'));
    await start(service);
    const ids = Array.from({ length: 30 }, (_, i) => `cold-${i}`);
    await sendEvents(
      kafka,
      t.events,
      ids.map((id) => inputEvent(id, { text: 'free prize' })),
    );
    const records = await readTopic(t.predictions, ids.length, { settleMs: 1_000 });
    const predictions = records.map((r) => jsonValue<Prediction>(r));
    expect(predictions.map((p) => p.data.eventId).sort()).toEqual([...ids].sort());
    for (const p of predictions) {
      expect(p.data).toMatchObject({ model: null, label: null, classes: [], confidence: 0 });
    }
    // The prediction is keyed by event id, so all records of one event share a partition downstream.
    expect(records.every((r) => r.key === jsonValue<Prediction>(r).data.eventId)).toBe(true);
  });

  it('scores a stream exactly once and swaps versions mid-stream without losing or doubling an event', async () => {
    const modelId = uniqueName('swap');
    const v1 = await registerAndPromote(pool, {
      modelId,
      onnx: textModel(modelId, 1),
      classes: ['ham', 'spam'],
    });
    const { t, service, registry } = await setup(modelId, { BATCH_SIZE: '50' });
    await start(service);
    expect(service.slot.version).toBe(v1.version);
    const predictions = await reader(t, 'predictions');

    const corpus = texts(['ham', 'spam', 'other'], 200, 7);
    const total = 1_200;
    const sentAfterSwap = new Set<string>();
    let swapped = false;
    let sent = 0;
    const sending = (async () => {
      while (sent < total) {
        const events = Array.from({ length: 40 }, (_, i) =>
          inputEvent(`swap-${sent + i}`, { text: corpus[(sent + i) % corpus.length]!.text }),
        );
        await sendEvents(kafka, t.events, events);
        if (swapped) for (const e of events) sentAfterSwap.add(e.data.eventId);
        sent += events.length;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    await predictions.waitForCount(200);
    const v2 = await registerModelVersion(pool, {
      modelId,
      onnx: textModel(modelId, 2, ['ham', 'spam', 'other']),
      classes: ['ham', 'spam', 'other'],
      inputKind: 'text',
      parentVersion: v1.version,
    });
    await announcePromotion(kafka, t.models, await promoteModelVersion(pool, modelId, v2.version));
    await waitFor(() => service.slot.version === v2.version, { message: 'swap to version 2' });
    swapped = true;
    await sending;
    await predictions.waitForCount(total, { settleMs: 2_000 });

    const all = predictionsOf(predictions);
    const counts = countsById(all);
    expect(counts.size).toBe(total);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(all.length).toBe(total);

    const versions = new Map([
      [1, ['ham', 'spam']],
      [2, ['ham', 'spam', 'other']],
    ]);
    for (const p of all) {
      expect(versions.get(p.data.model!.version)).toEqual(p.data.classes);
      expect(p.data.classes).toContain(p.data.label);
      expect(p.data.confidence).toBe(Math.max(...Object.values(p.data.probabilities)));
    }
    const byVersion = (v: number) => all.filter((p) => p.data.model!.version === v).length;
    expect(byVersion(1)).toBeGreaterThanOrEqual(200);
    expect(byVersion(2)).toBeGreaterThan(0);
    // Every event sent once the swap was done is scored by the new version ...
    expect(sentAfterSwap.size).toBeGreaterThan(0);
    for (const p of all) {
      if (sentAfterSwap.has(p.data.eventId)) expect(p.data.model!.version).toBe(2);
    }
    // ... and within each partition no prediction of version 1 follows one of version 2.
    const lastVersion = new Map<number, number>();
    for (const r of predictions.records) {
      const v = jsonValue<Prediction>(r).data.model!.version;
      expect(v).toBeGreaterThanOrEqual(lastVersion.get(r.partition) ?? 1);
      lastVersion.set(r.partition, v);
    }
    const metrics = await registry.getSingleMetricAsString('hitl_inference_model_version');
    expect(metrics).toMatch(/ 2$/m);
  });

  it('dead-letters events that do not fit the model with their own codes, and goes on', async () => {
    const modelId = uniqueName('fit');
    await registerAndPromote(pool, {
      modelId,
      onnx: featuresModel(modelId, 4, 3),
      classes: ['a', 'b'],
      featureWidth: 4,
    });
    const { t, service } = await setup(modelId);
    await start(service);
    const good = (id: string) => inputEvent(id, { features: [1, 2, 3, 4] });
    await sendEvents(kafka, t.events, [
      good('ok-1'),
      inputEvent('no-features', { text: 'hello' }),
      inputEvent('too-narrow', { features: [1, 2, 3] }),
      good('ok-2'),
    ]);
    // JSON has no Infinity; 1e999 parses to it.
    const infinite = JSON.stringify(good('not-finite')).replace('[1,2,3,4]', '[1,2,1e999,4]');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: t.events, messages: [{ key: 'not-finite', value: infinite }] });
    await producer.disconnect();
    await sendEvents(kafka, t.events, [good('ok-3')]);

    const dead = (await readTopic(t.deadLetters, 3, { settleMs: 1_000 })).map((r) =>
      jsonValue<DeadLetter>(r),
    );
    const codes = Object.fromEntries(dead.map((d) => [d.data.source.key ?? '', d.data.error.code]));
    expect(codes).toEqual({
      'no-features': 'HITL_ERR_INPUT_NO_FEATURES',
      'too-narrow': 'HITL_ERR_INPUT_FEATURE_WIDTH',
      'not-finite': 'HITL_ERR_INPUT_NOT_FINITE',
    });
    const narrow = dead.find((d) => d.data.source.key === 'too-narrow')!;
    expect(narrow.data.error.message).toContain('scores 4 features; the event has 3');
    expect(JSON.parse(Buffer.from(narrow.data.payloadBase64!, 'base64').toString())).toMatchObject({
      data: { eventId: 'too-narrow' },
    });
    const predictions = (await readTopic(t.predictions, 3, { settleMs: 1_000 })).map((r) =>
      jsonValue<Prediction>(r),
    );
    expect(predictions.map((p) => p.data.eventId).sort()).toEqual(['ok-1', 'ok-2', 'ok-3']);
  });

  it('dead-letters an event without text when the model scores text', async () => {
    const modelId = uniqueName('text');
    await registerAndPromote(pool, { modelId, onnx: textModel(modelId, 5), classes: ['ham', 'spam'] });
    const { t, service } = await setup(modelId);
    await start(service);
    await sendEvents(kafka, t.events, [
      inputEvent('numbers', { features: [1, 2] }),
      inputEvent('empty', { text: '' }),
    ]);
    const [dead] = await readTopic(t.deadLetters, 1, { settleMs: 500 });
    expect(jsonValue<DeadLetter>(dead!).data).toMatchObject({
      source: { key: 'numbers' },
      error: { code: 'HITL_ERR_INPUT_NO_TEXT' },
    });
    // Empty text is text: the model scores it (from its bias alone).
    const [empty] = await readTopic(t.predictions, 1);
    expect(jsonValue<Prediction>(empty!).data).toMatchObject({
      eventId: 'empty',
      model: { id: modelId },
    });
  });

  it('picks up a promotion from the registry poll when no lifecycle step arrives', async () => {
    const modelId = uniqueName('poll');
    const { t, service } = await setup(modelId, { MODEL_POLL_MS: '200' });
    await start(service);
    expect(service.slot.version).toBeNull();
    await registerAndPromote(pool, { modelId, onnx: textModel(modelId, 9), classes: ['ham', 'spam'] });
    await waitFor(() => service.slot.version === 1, { message: 'version 1 from the poll' });
    await sendEvents(kafka, t.events, [inputEvent('after-poll', { text: 'cash prize' })]);
    const [record] = await readTopic(t.predictions, 1);
    expect(jsonValue<Prediction>(record!).data.model).toEqual({
      id: modelId,
      version: 1,
    });
  });

  it('applies the calibration temperature the registry keeps for a version whose file lacks one', async () => {
    const modelId = uniqueName('temperature');
    const onnx = textModel(modelId, 11);
    await registerAndPromote(pool, { modelId, onnx, classes: ['ham', 'spam'] });
    const raw = await loadOnnxClassifier(onnx);
    const text = 'cash prize winner';
    const [rawRow] = await raw.predictProba([text]);
    await raw.close();
    const { t, service } = await setup(modelId);
    await start(service);
    await sendEvents(kafka, t.events, [inputEvent('uncalibrated', { text })]);
    const [first] = await readTopic(t.predictions, 1);
    expect(jsonValue<Prediction>(first!).data.probabilities['spam']).toBeCloseTo(rawRow![1]!, 6);

    // Version 2: the same file, with a temperature of 3 kept beside it.
    const v2 = await registerModelVersion(pool, {
      modelId,
      onnx,
      classes: ['ham', 'spam'],
      inputKind: 'text',
      temperature: 3,
    });
    await promoteModelVersion(pool, modelId, v2.version);
    await service.slot.refresh();
    expect(service.slot.version).toBe(2);
    await sendEvents(kafka, t.events, [inputEvent('calibrated', { text })]);
    const records = await readTopic(t.predictions, 2);
    const calibrated = records
      .map((r) => jsonValue<Prediction>(r).data)
      .find((p) => p.eventId === 'calibrated')!;
    const [expected] = applyTemperature([rawRow!], 3);
    expect(calibrated.model).toEqual({ id: modelId, version: 2 });
    expect(calibrated.probabilities['spam']).toBeCloseTo(expected![1]!, 6);
    // Softer: a temperature above 1 moves the confidence towards a half.
    expect(Math.abs(calibrated.confidence - 0.5)).toBeLessThan(Math.abs(Math.max(...rawRow!) - 0.5));
  });
  it('scores waiting tasks again with the version in force, reading the registry when a request is ahead of it', async () => {
    const modelId = uniqueName('rescore');
    await registerAndPromote(pool, { modelId, onnx: textModel(modelId, 3), classes: ['ham', 'spam'] });
    const { t, service, registry } = await setup(modelId);
    await start(service);
    expect(service.slot.version).toBe(1);
    const rescored = await reader(t, 'rescored');
    // Version 2 is promoted in the registry, and its lifecycle record is not sent: the requests
    // naming it are the first this service hears of it.
    await registerAndPromote(pool, { modelId, onnx: textModel(modelId, 4), classes: ['ham', 'spam'] });
    const at = new Date().toISOString();
    const request = (eventId: string, id = modelId): RescoreRequest => ({
      type: 'rescore.requested',
      version: 1,
      producedAt: at,
      data: {
        eventId,
        stream: 'test',
        occurredAt: at,
        input: { text: `cash prize for ${eventId}` },
        attributes: { source: 'queue' },
        model: { id, version: 2 },
        requestedAt: at,
      },
    });
    const producer = new TypedProducer({ kafka });
    await producer.connect();
    try {
      await producer.send({ ...topics.rescoreRequests, name: t.rescoreRequests }, [
        ...['w-1', 'w-2', 'w-3'].map((id) => ({ value: request(id) })),
        { value: request('other', 'another-model') },
      ]);
    } finally {
      await producer.disconnect();
    }
    await rescored.waitForCount(3, { settleMs: 1_000 });
    const scored = rescored.values<Prediction>();
    expect(scored.map((p) => p.data.eventId).sort()).toEqual(['w-1', 'w-2', 'w-3']);
    for (const p of scored) {
      expect(p.type).toBe('prediction.scored');
      expect(p.data.model).toEqual({ id: modelId, version: 2 });
      expect(p.data.attributes).toEqual({ source: 'queue' });
      expect(p.data.classes).toEqual(['ham', 'spam']);
    }
    expect(service.slot.version).toBe(2);
    const counts = await registry.getSingleMetric('hitl_inference_rescored_total')!.get();
    expect(Object.fromEntries(counts.values.map((v) => [String(v.labels['outcome']), v.value]))).toEqual({
      scored: 3,
      skipped: 1,
    });
  });
});
