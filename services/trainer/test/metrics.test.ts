import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { listModelVersions, promoteModelVersion, registerModelVersion, rollbackModel } from '@hitl/db';
import { uniqueName, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { ModelLabels, OTHER_MODEL_LABEL, createTrainerService } from '../src';
import { logger, serviceTopics, testDatabase, testKafka, trainerConfig } from './helpers';

let db: TestDatabase;
let pool: Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function lastPromotionGauge(registry: Registry, modelId: string): Promise<number | undefined> {
  const { values } = await registry.getSingleMetric('hitl_trainer_last_promotion_timestamp_seconds')!.get();
  return values.find((v) => v.labels['model'] === modelId)?.value;
}

async function promotedAtSeconds(modelId: string, version: number): Promise<number> {
  const v = (await listModelVersions(pool, modelId)).find((m) => m.version === version)!;
  return v.promotedAt!.getTime() / 1000;
}

describe('trainer metrics', () => {
  it('reports when the model was last promoted, whoever promoted it', async () => {
    const t = await serviceTopics();
    cleanups.push(t.cleanup);
    const modelId = uniqueName('promotions');
    const registry = new Registry();
    // Checks run only when the test asks for one.
    const config = trainerConfig(t, db.url, modelId, { CHECK_INTERVAL_MS: '600000' });
    const trainer = createTrainerService(config, { logger, registry, kafka: testKafka() });
    cleanups.push(() => trainer.stop());
    await trainer.start();

    expect(await trainer.checkNow()).toMatchObject({ kind: 'not_due' });
    expect(await lastPromotionGauge(registry, modelId)).toBeUndefined();

    // The registry stores the bytes as given; nothing in this test loads them.
    const register = () =>
      registerModelVersion(pool, {
        modelId,
        onnx: Buffer.from(`model bytes ${Math.random()}`),
        classes: ['ham', 'spam'],
        inputKind: 'text',
      });
    const v1 = await register();
    await promoteModelVersion(pool, modelId, v1.version, { modelsTopic: t.models });
    await trainer.checkNow();
    expect(await lastPromotionGauge(registry, modelId)).toBe(await promotedAtSeconds(modelId, v1.version));

    const v2 = await register();
    await promoteModelVersion(pool, modelId, v2.version, { modelsTopic: t.models });
    await trainer.checkNow();
    const second = await promotedAtSeconds(modelId, v2.version);
    expect(await lastPromotionGauge(registry, modelId)).toBe(second);

    // A rollback promotes version 1 again: that is the last promotion now.
    await rollbackModel(pool, modelId, { modelsTopic: t.models });
    await trainer.checkNow();
    const again = await promotedAtSeconds(modelId, v1.version);
    expect(again).toBeGreaterThan(second);
    expect(await lastPromotionGauge(registry, modelId)).toBe(again);
  });
});

describe('model labels', () => {
  it('keeps the first 50 model ids as labels and counts later ones under other', () => {
    const labels = new ModelLabels();
    const ids = Array.from({ length: 60 }, (_, i) => `m${i}`);
    expect(ids.map((id) => labels.label(id))).toEqual([
      ...ids.slice(0, 50),
      ...Array.from({ length: 10 }, () => OTHER_MODEL_LABEL),
    ]);
    // A model seen first keeps its label for the life of the process.
    expect(labels.label('m3')).toBe('m3');
    expect(labels.label('m55')).toBe(OTHER_MODEL_LABEL);
  });
});
