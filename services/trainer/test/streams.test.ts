// The trainer with streams registered: each model learns from its own stream's corrections only,
// a stream added while it runs gets its model trained, and a quiet model is not starved by a busy
// one. (An empty registry is what every other test file runs on: MODEL_ID takes every correction.)
import type { Correction } from '@hitl/contracts';
import { addStream, getPromotedVersion, listTrainingRuns } from '@hitl/db';
import { TopicReader, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { countLabelledExamples, createTrainerService, trainingDue, type TrainerService } from '../src';
import {
  correction,
  eventIds,
  lifecycleOf,
  logger,
  sendCorrections,
  serviceTopics,
  steps,
  testDatabase,
  testKafka,
  textCorrections,
  texts,
  trainerConfig,
  type ServiceTopics,
} from './helpers';

let kafka: Kafka;
let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  kafka = testKafka();
});

beforeEach(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await pool.end();
  await db.drop();
});

async function topicsAndReader(): Promise<{ t: ServiceTopics; models: TopicReader }> {
  const t = await serviceTopics();
  cleanups.push(t.cleanup);
  const models = await TopicReader.start(t.models);
  cleanups.push(() => models.stop());
  return { t, models };
}

async function startTrainer(
  t: ServiceTopics,
  modelId: string,
  env: Record<string, string> = {},
  registry = new Registry(),
): Promise<TrainerService> {
  const service = createTrainerService(trainerConfig(t, db.url, modelId, env), { logger, registry, kafka });
  cleanups.push(() => service.stop());
  await service.start();
  await waitFor(() => service.ready(), { message: 'trainer ready' });
  return service;
}

/** Waits for a version of the model to be promoted (the first, or a later one if it was rejected). */
async function waitForPromotion(models: TopicReader, modelId: string, timeoutMs = 60_000) {
  await waitFor(() => steps(lifecycleOf(models, modelId)).some((s) => s.startsWith('model.promoted')), {
    timeoutMs,
    message: `a version of ${modelId} promoted`,
  });
}

function onStream(records: readonly Correction[], stream: string): Correction[] {
  return records.map((r) => ({ ...r, data: { ...r.data, stream } }));
}

/** Corrections of 3 numeric features: "low" around 0, "high" around 2. */
function featureCorrections(ids: readonly string[], stream: string): Correction[] {
  return ids.map((id, i) => {
    const label = i % 2 === 0 ? 'low' : 'high';
    const base = label === 'high' ? 2 : 0;
    const features = [0, 1, 2].map((j) => base + (((i * 7 + j * 3) % 10) - 5) / 10);
    const c = correction(id, { features }, label);
    return { ...c, data: { ...c.data, stream } };
  });
}

/** Interleaves lists: a[0], b[0], a[1], b[1], ... */
function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

async function stored(modelId: string): Promise<number> {
  const counts = await countLabelledExamples(pool, modelId);
  return counts.train + counts.eval;
}

async function examplesByModel(modelIds: readonly string[]) {
  const { rows } = await pool.query<{ model_id: string; stream: string; n: number }>(
    `SELECT model_id, stream, count(*)::int AS n FROM labelled_examples
      WHERE model_id = ANY($1::text[]) GROUP BY model_id, stream ORDER BY model_id, stream`,
    [modelIds],
  );
  return rows.map((r) => `${r.model_id} ${r.stream} ${r.n}`);
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe('trainer with streams', () => {
  it('trains each model from its own stream, follows the registry, and skips unregistered streams', async () => {
    const defaultModel = uniqueName('default');
    const mailModel = uniqueName('mail');
    const sensorModel = uniqueName('sensor');
    const { t, models } = await topicsAndReader();
    const registry = new Registry();
    // Checks only when the test asks.
    const trainer = await startTrainer(t, defaultModel, { CHECK_INTERVAL_MS: '600000' }, registry);

    // Empty registry: MODEL_ID takes every correction, whatever its stream, as before streams.
    expect(trainer.models()).toEqual([defaultModel]);
    await sendCorrections(
      kafka,
      t.corrections,
      onStream(textCorrections(eventIds('before', 4), texts(['ham', 'spam'], 2, 3)), 'anything'),
    );
    await waitFor(async () => (await stored(defaultModel)) === 4, {
      message: 'labels of MODEL_ID stored',
    });

    // Two streams registered while the trainer runs: it follows the registry without a restart.
    await addStream(pool, { id: 'mail', classes: ['ham', 'spam'], inputKind: 'text', modelId: mailModel });
    await addStream(pool, {
      id: 'sensor',
      classes: ['low', 'high'],
      inputKind: 'features',
      featureWidth: 3,
      modelId: sensorModel,
    });
    await trainer.checkAll();
    expect(trainer.models()).toEqual([mailModel, sensorModel].sort());

    const mail = onStream(textCorrections(eventIds('mail', 120), texts(['ham', 'spam'], 60, 11)), 'mail');
    const sensor = featureCorrections(eventIds('sensor', 120), 'sensor');
    const stray = onStream(textCorrections(eventIds('stray', 6), texts(['ham', 'spam'], 3, 12)), 'nobody');
    await sendCorrections(kafka, t.corrections, [...interleave(mail, sensor), ...stray]);
    await waitFor(
      async () =>
        (await trainingDue(pool, mailModel)).newLabels === 120 &&
        (await trainingDue(pool, sensorModel)).newLabels === 120 &&
        (await metric(registry, 'hitl_trainer_examples_total', {
          model: 'unregistered',
          result: 'unregistered',
        })) === 6,
      { timeoutMs: 30_000, message: 'both streams stored, the stray stream skipped' },
    );
    expect(await examplesByModel([defaultModel, mailModel, sensorModel])).toEqual(
      [`${defaultModel} anything 4`, `${mailModel} mail 120`, `${sensorModel} sensor 120`].sort(),
    );

    const results = await trainer.checkAll();
    expect(results.get(mailModel)).toMatchObject({ kind: 'trained', round: { outcome: 'promoted' } });
    expect(results.get(sensorModel)).toMatchObject({ kind: 'trained', round: { outcome: 'promoted' } });
    expect(results.has(defaultModel)).toBe(false);
    await waitForPromotion(models, mailModel);
    await waitForPromotion(models, sensorModel);

    const mailVersion = (await getPromotedVersion(pool, mailModel))!;
    expect(mailVersion).toMatchObject({ classes: ['ham', 'spam'], inputKind: 'text' });
    const sensorVersion = (await getPromotedVersion(pool, sensorModel))!;
    // The stream's classes in its order, and its input.
    expect(sensorVersion).toMatchObject({ classes: ['low', 'high'], inputKind: 'features', featureWidth: 3 });
    const [mailRun] = await listTrainingRuns(pool, mailModel);
    const [sensorRun] = await listTrainingRuns(pool, sensorModel);
    // Each trained on its own stream's examples only.
    expect(mailRun!.examples + mailRun!.evalExamples).toBe(120);
    expect(sensorRun!.examples + sensorRun!.evalExamples).toBe(120);
    expect(await listTrainingRuns(pool, defaultModel)).toHaveLength(0);
    expect(
      await metric(registry, 'hitl_trainer_trainings_total', { model: mailModel, outcome: 'promoted' }),
    ).toBe(1);
    expect(
      await metric(registry, 'hitl_trainer_trainings_total', { model: sensorModel, outcome: 'promoted' }),
    ).toBe(1);
  });

  it('trains a quiet model, added while running, while a busy one keeps receiving labels', async () => {
    const defaultModel = uniqueName('default');
    const busyModel = uniqueName('busy');
    const quietModel = uniqueName('quiet');
    const { t, models } = await topicsAndReader();
    await addStream(pool, { id: 'busy', classes: ['ham', 'spam'], inputKind: 'text', modelId: busyModel });
    await startTrainer(t, defaultModel, { CHECK_INTERVAL_MS: '100', RETRAIN_EVERY: '20' });

    // The busy stream gets a batch of labels as soon as the last one is stored, until told to stop:
    // with RETRAIN_EVERY 20 its model is due at every check.
    let stop = false;
    let batches = 0;
    const busy = (async () => {
      while (!stop) {
        const ids = eventIds(`busy-${batches}`, 40);
        await sendCorrections(
          kafka,
          t.corrections,
          onStream(textCorrections(ids, texts(['ham', 'spam'], 20, 100 + batches)), 'busy'),
        );
        batches++;
        await waitFor(async () => (await stored(busyModel)) === 40 * batches, {
          timeoutMs: 30_000,
          message: `busy batch ${batches} stored`,
        });
      }
    })();
    cleanups.push(async () => {
      stop = true;
      await busy.catch(() => undefined);
    });
    await waitForPromotion(models, busyModel);

    // The quiet stream is added while everything runs, and gets its labels once (200: enough held
    // out for a first version to be judged).
    await addStream(pool, {
      id: 'quiet',
      classes: ['other', 'ham'],
      inputKind: 'text',
      modelId: quietModel,
    });
    const quietFrom = batches;
    const quietSent = Date.now();
    await sendCorrections(
      kafka,
      t.corrections,
      onStream(textCorrections(eventIds('quiet', 200), texts(['other', 'ham'], 100, 21)), 'quiet'),
    );
    await waitForPromotion(models, quietModel, 120_000);
    // The busy stream kept receiving labels (and training) meanwhile.
    expect(batches).toBeGreaterThan(quietFrom);
    const quietPromoted = (await getPromotedVersion(pool, quietModel))!.promotedAt!.getTime();
    const busyRuns = await listTrainingRuns(pool, busyModel);
    // ... and its model went on training while the quiet one waited for, and got, its turn.
    expect(busyRuns.some((r) => r.startedAt.getTime() >= quietSent)).toBe(true);
    expect(quietPromoted).toBeGreaterThanOrEqual(quietSent);
    stop = true;
    await busy;

    expect((await getPromotedVersion(pool, quietModel))!.classes).toEqual(['other', 'ham']);
    expect((await getPromotedVersion(pool, busyModel))!.classes).toEqual(['ham', 'spam']);
    expect(await examplesByModel([busyModel, quietModel])).toEqual(
      [`${busyModel} busy ${40 * batches}`, `${quietModel} quiet 200`].sort(),
    );
    expect((await listTrainingRuns(pool, busyModel)).length).toBeGreaterThan(1);
  }, 180_000);
});
