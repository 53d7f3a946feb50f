import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { createValidator, ModelLifecycle } from '@hitl/contracts';
import { certifyHeldOut, type HeldOutDecisions } from '@hitl/policy';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import {
  createPool,
  getCertification,
  getModelVersion,
  getPromotedVersion,
  listModelEvents,
  listModelVersions,
  migrate,
  promoteModelVersion,
  registerModelVersion,
  RegistryError,
  rollbackModel,
  withTransaction,
  type RegisterModelVersionInput,
} from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_registry');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 8, applicationName: 'hitl-db-registry-test' });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

let modelSeq = 0;
/** A model id of its own per test, so tests share the database without sharing state. */
function newModelId(): string {
  return `spam-${++modelSeq}`;
}

function bytes(seed: number, length = 64): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 31 + i) % 256);
}

function input(modelId: string, seed: number, extra: Partial<RegisterModelVersionInput> = {}) {
  return {
    modelId,
    onnx: bytes(seed),
    classes: ['ham', 'spam'],
    inputKind: 'text' as const,
    ...extra,
  };
}

async function registerMany(modelId: string, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) await registerModelVersion(pool, input(modelId, i));
}

async function statuses(modelId: string): Promise<Record<number, string>> {
  const versions = await listModelVersions(pool, modelId);
  return Object.fromEntries(versions.map((v) => [v.version, v.status]));
}

/** The hitl.models.v1 records enqueued for a model (its id is their key), oldest first. */
async function lifecycleRecords(modelId: string): Promise<ModelLifecycle[]> {
  const { rows } = await pool.query<{ topic: string; value: ModelLifecycle }>(
    'SELECT topic, value FROM outbox WHERE key = $1 ORDER BY id',
    [modelId],
  );
  for (const row of rows) expect(row.topic).toBe('hitl.models.v1');
  return rows.map((r) => r.value);
}

/** What the lifecycle records say, in short: [type, version]. */
async function lifecycleSteps(modelId: string): Promise<[string, number][]> {
  return (await lifecycleRecords(modelId)).map((r) => [r.type, r.data.model.version]);
}

describe('registerModelVersion', () => {
  it('numbers versions 1, 2 per model and round-trips bytes, hash and metadata', async () => {
    const modelId = newModelId();
    const first = await registerModelVersion(pool, {
      ...input(modelId, 1),
      metrics: { f1: 0.91 },
      modelCard: { trainedOn: 1200 },
      createdBy: 'trainer',
    });
    const second = await registerModelVersion(pool, {
      modelId,
      onnx: bytes(2, 128),
      classes: ['a', 'b', 'c'],
      inputKind: 'features',
      featureWidth: 16,
      parentVersion: 1,
    });
    expect([first.version, second.version]).toEqual([1, 2]);
    expect(first).toMatchObject({
      modelId,
      status: 'candidate',
      classes: ['ham', 'spam'],
      inputKind: 'text',
      featureWidth: null,
      metrics: { f1: 0.91 },
      modelCard: { trainedOn: 1200 },
      parentVersion: null,
      createdBy: 'trainer',
      promotedAt: null,
    });
    expect(first.createdAt).toBeInstanceOf(Date);

    const stored = await getModelVersion(pool, modelId, 2);
    expect(stored).not.toBeNull();
    expect(Buffer.isBuffer(stored!.onnx)).toBe(true);
    expect(stored!.onnx.equals(Buffer.from(bytes(2, 128)))).toBe(true);
    expect(stored!.onnxSha256).toBe(createHash('sha256').update(bytes(2, 128)).digest('hex'));
    expect(stored).toMatchObject({
      inputKind: 'features',
      featureWidth: 16,
      parentVersion: 1,
      onnxBytes: 128,
    });
    expect(await getModelVersion(pool, modelId, 3)).toBeNull();

    const listed = await listModelVersions(pool, modelId);
    expect(listed.map((v) => v.version)).toEqual([1, 2]);
    expect(listed[0]).not.toHaveProperty('onnx');
    expect(listed[0]?.onnxSha256).toBe(first.onnxSha256);
  });

  it('gives concurrent registrations distinct versions 1..5', async () => {
    const modelId = newModelId();
    const created = await Promise.all(
      [1, 2, 3, 4, 5].map((seed) => registerModelVersion(pool, input(modelId, seed))),
    );
    expect(created.map((v) => v.version).sort()).toEqual([1, 2, 3, 4, 5]);
    expect((await listModelVersions(pool, modelId)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps certified thresholds, the held-out predictions behind them and a temperature with a version', async () => {
    const modelId = newModelId();
    const heldOut: HeldOutDecisions = {
      classes: ['ham', 'spam'],
      decisions: Array.from({ length: 400 }, (_, i): [number, number, 0 | 1] => [i % 2, 0.6 + i / 1000, 1]),
    };
    const thresholds = certifyHeldOut(heldOut, { targetAccuracy: 0.95, confidenceLevel: 0.9 });
    const plain = await registerModelVersion(pool, input(modelId, 1));
    expect(plain).toMatchObject({ thresholds: null, temperature: null });
    expect(await getCertification(pool, modelId, 1)).toEqual({ thresholds: null, heldOut: null });
    const kept = await registerModelVersion(
      pool,
      input(modelId, 2, { thresholds, heldOut, temperature: 1.5 }),
    );
    expect(kept).toMatchObject({ thresholds, temperature: 1.5 });
    expect((await listModelVersions(pool, modelId))[1]).toMatchObject({ thresholds, temperature: 1.5 });
    expect(await getCertification(pool, modelId, 2)).toEqual({ thresholds, heldOut });
    expect(await getCertification(pool, modelId, 3)).toBeNull();
  });

  it('numbers each model on its own', async () => {
    const a = newModelId();
    const b = newModelId();
    await registerModelVersion(pool, input(a, 1));
    await registerModelVersion(pool, input(a, 2));
    expect((await registerModelVersion(pool, input(b, 3))).version).toBe(1);
  });

  it.each([
    ['fewer than 2 classes', { classes: ['spam'] }],
    ['duplicate classes', { classes: ['spam', 'spam'] }],
    ['features without a width', { inputKind: 'features' as const }],
    ['a width on a text model', { featureWidth: 8 }],
    ['empty bytes', { onnx: new Uint8Array() }],
    ['a parent that does not exist', { parentVersion: 7 }],
    ['a temperature of 0', { temperature: 0 }],
    ['an infinite temperature', { temperature: Infinity }],
  ])('refuses %s with HITL_ERR_MODEL_INVALID', async (_name, extra) => {
    const modelId = newModelId();
    const error = await registerModelVersion(pool, input(modelId, 1, extra)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: 'HITL_ERR_MODEL_INVALID' });
    expect(await listModelVersions(pool, modelId)).toEqual([]);
  });
});

describe('promotion and rollback', () => {
  it('promotes 1 then 2: 1 is retired and 2 is the promoted one', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 2);
    expect(await getPromotedVersion(pool, modelId)).toBeNull();

    const one = await promoteModelVersion(pool, modelId, 1, { actor: 'trainer' });
    expect(one).toMatchObject({ version: 1, status: 'promoted' });
    expect(one.promotedAt).toBeInstanceOf(Date);
    const two = await promoteModelVersion(pool, modelId, 2, { actor: 'trainer', reason: 'better f1' });
    expect(two).toMatchObject({ version: 2, status: 'promoted' });

    expect(await statuses(modelId)).toEqual({ 1: 'retired', 2: 'promoted' });
    expect((await getModelVersion(pool, modelId, 1))?.retiredAt).toBeInstanceOf(Date);
    const promoted = await getPromotedVersion(pool, modelId);
    expect(promoted?.version).toBe(2);
    expect(promoted?.onnx.equals(Buffer.from(bytes(2)))).toBe(true);

    // Promoting the promoted version again changes nothing.
    await promoteModelVersion(pool, modelId, 2);
    expect(await statuses(modelId)).toEqual({ 1: 'retired', 2: 'promoted' });

    const events = await listModelEvents(pool, modelId);
    expect(events.map((e) => [e.version, e.event])).toEqual([
      [1, 'registered'],
      [2, 'registered'],
      [1, 'promoted'],
      [1, 'retired'],
      [2, 'promoted'],
    ]);
    expect(events[4]).toMatchObject({ actor: 'trainer', reason: 'better f1' });

    // One model.promoted record per promotion, none for the repeated one.
    expect(await lifecycleSteps(modelId)).toEqual([
      ['model.promoted', 1],
      ['model.promoted', 2],
    ]);
  });

  it('enqueues a model.promoted record that matches the hitl.models.v1 schema', async () => {
    const modelId = newModelId();
    await registerModelVersion(pool, input(modelId, 1));
    await registerModelVersion(pool, {
      ...input(modelId, 2, { classes: ['a', 'b', 'c'], inputKind: 'features', featureWidth: 4 }),
      parentVersion: 1,
      metrics: { macroF1: 0.87, accuracy: 0.9, perClassRecall: { a: 0.8 }, note: 'night run' },
    });
    await promoteModelVersion(pool, modelId, 2, { actor: 'trainer', reason: 'beat the champion' });

    const [record, ...rest] = await lifecycleRecords(modelId);
    expect(rest).toEqual([]);
    expect(createValidator(ModelLifecycle).check(record)).toBe(true);
    expect(record).toEqual({
      type: 'model.promoted',
      version: 1,
      producedAt: expect.any(String),
      data: {
        model: { id: modelId, version: 2 },
        parentVersion: 1,
        classes: ['a', 'b', 'c'],
        inputKind: 'features',
        // Only the figures: nested and textual metrics stay in the registry.
        metrics: { macroF1: 0.87, accuracy: 0.9 },
        reason: 'beat the champion',
        actor: 'trainer',
      },
    });
    const { rows } = await pool.query<{ key: string; headers: unknown; published_at: Date | null }>(
      'SELECT key, headers, published_at FROM outbox WHERE key = $1',
      [modelId],
    );
    expect(rows).toEqual([{ key: modelId, headers: {}, published_at: null }]);
  });

  it('refuses a promotion whose record the topic would refuse, changing nothing', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 1);
    const error = await promoteModelVersion(pool, modelId, 1, { reason: 'x'.repeat(2_001) }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({
      code: 'HITL_ERR_MODEL_INVALID',
      message: expect.stringContaining('/data/reason'),
    });
    expect(await statuses(modelId)).toEqual({ 1: 'candidate' });
    expect(await lifecycleRecords(modelId)).toEqual([]);
  });

  it('rolls back: 2 rolled_back, 1 promoted again; then refuses with no previous version', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 3);
    await promoteModelVersion(pool, modelId, 1);
    await promoteModelVersion(pool, modelId, 2);

    const restored = await rollbackModel(pool, modelId, { actor: 'oncall', reason: 'bad precision' });
    expect(restored).toMatchObject({ version: 1, status: 'promoted' });
    expect(await statuses(modelId)).toEqual({ 1: 'promoted', 2: 'rolled_back', 3: 'candidate' });
    expect((await getModelVersion(pool, modelId, 2))?.rolledBackAt).toBeInstanceOf(Date);
    expect((await getPromotedVersion(pool, modelId))?.version).toBe(1);

    await expect(rollbackModel(pool, modelId)).rejects.toMatchObject({ code: 'HITL_ERR_MODEL_NO_PREVIOUS' });
    expect(await statuses(modelId)).toEqual({ 1: 'promoted', 2: 'rolled_back', 3: 'candidate' });

    // The rollback announced both steps, in order; the refused one announced nothing.
    expect(await lifecycleSteps(modelId)).toEqual([
      ['model.promoted', 1],
      ['model.promoted', 2],
      ['model.rolled_back', 2],
      ['model.promoted', 1],
    ]);
    const records = await lifecycleRecords(modelId);
    for (const record of records.slice(2)) {
      expect(record.data).toMatchObject({
        actor: 'oncall',
        reason: 'bad precision',
        classes: ['ham', 'spam'],
      });
    }
  });

  it('rolls back step by step through earlier promotions', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 3);
    for (const v of [1, 2, 3]) await promoteModelVersion(pool, modelId, v);
    expect((await rollbackModel(pool, modelId)).version).toBe(2);
    expect((await rollbackModel(pool, modelId)).version).toBe(1);
    expect(await statuses(modelId)).toEqual({ 1: 'promoted', 2: 'rolled_back', 3: 'rolled_back' });
  });

  it('refuses a rollback with no previous version, and with nothing promoted', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 1);
    await expect(rollbackModel(pool, modelId)).rejects.toMatchObject({ code: 'HITL_ERR_MODEL_NOT_FOUND' });
    await promoteModelVersion(pool, modelId, 1);
    const error = await rollbackModel(pool, modelId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: 'HITL_ERR_MODEL_NO_PREVIOUS' });
    expect(await statuses(modelId)).toEqual({ 1: 'promoted' });
  });

  it('refuses to promote a rolled_back or missing version', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 2);
    await promoteModelVersion(pool, modelId, 1);
    await promoteModelVersion(pool, modelId, 2);
    await rollbackModel(pool, modelId);
    await expect(promoteModelVersion(pool, modelId, 2)).rejects.toMatchObject({
      code: 'HITL_ERR_MODEL_ROLLED_BACK',
    });
    await expect(promoteModelVersion(pool, modelId, 9)).rejects.toMatchObject({
      code: 'HITL_ERR_MODEL_NOT_FOUND',
    });
    await expect(promoteModelVersion(pool, 'no-such-model', 1)).rejects.toMatchObject({
      code: 'HITL_ERR_MODEL_NOT_FOUND',
    });
    expect(await statuses(modelId)).toEqual({ 1: 'promoted', 2: 'rolled_back' });
  });

  it('leaves exactly one promoted version after concurrent promotions', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 5);
    await Promise.all([1, 2, 3, 4, 5].map((v) => promoteModelVersion(pool, modelId, v)));
    const all = Object.values(await statuses(modelId));
    expect(all.filter((s) => s === 'promoted')).toHaveLength(1);
    expect(all.filter((s) => s === 'retired')).toHaveLength(4);
    // The last model.promoted record names the version that ended up promoted.
    const steps = await lifecycleSteps(modelId);
    expect(steps).toHaveLength(5);
    expect(steps.at(-1)).toEqual(['model.promoted', (await getPromotedVersion(pool, modelId))?.version]);
  });

  it("works inside the caller's transaction and is undone with it", async () => {
    const modelId = newModelId();
    await registerMany(modelId, 1);
    const marker = new Error('outbox write failed');
    await expect(
      withTransaction(pool, async (client) => {
        await promoteModelVersion(client, modelId, 1);
        expect((await getPromotedVersion(client, modelId))?.version).toBe(1);
        throw marker;
      }),
    ).rejects.toBe(marker);
    expect(await getPromotedVersion(pool, modelId)).toBeNull();
    expect(await lifecycleRecords(modelId)).toEqual([]);

    // Outside a transaction a client is refused rather than silently auto-committing each step.
    const client = await pool.connect();
    try {
      await expect(promoteModelVersion(client, modelId, 1)).rejects.toMatchObject({ code: '25P01' });
    } finally {
      client.release();
    }
  });
});

describe('immutability (enforced by the database)', () => {
  it('rejects changing the bytes or other identity columns by raw SQL', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 1);
    const sneaky = Buffer.from(bytes(99));
    const sha = createHash('sha256').update(sneaky).digest('hex');
    await expect(
      pool.query(
        'UPDATE model_versions SET onnx = $3, onnx_sha256 = $4 WHERE model_id = $1 AND version = $2',
        [modelId, 1, sneaky, sha],
      ),
    ).rejects.toThrow(/immutable/);
    await expect(
      pool.query(`UPDATE model_versions SET classes = '["x","y"]' WHERE model_id = $1`, [modelId]),
    ).rejects.toThrow(/immutable/);
    await expect(
      pool.query('UPDATE model_versions SET version = 2 WHERE model_id = $1', [modelId]),
    ).rejects.toThrow(/immutable/);
    expect((await getModelVersion(pool, modelId, 1))?.onnx.equals(Buffer.from(bytes(1)))).toBe(true);

    // Lifecycle columns and metrics stay writable.
    await pool.query(`UPDATE model_versions SET metrics = '{"f1": 0.5}' WHERE model_id = $1`, [modelId]);
    expect((await getModelVersion(pool, modelId, 1))?.metrics).toEqual({ f1: 0.5 });
  });

  it('rejects DELETE and TRUNCATE', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 1);
    await expect(pool.query('DELETE FROM model_versions WHERE model_id = $1', [modelId])).rejects.toThrow(
      /cannot be deleted/,
    );
    await expect(pool.query('TRUNCATE model_versions CASCADE')).rejects.toThrow(/immutable/);
    expect(await listModelVersions(pool, modelId)).toHaveLength(1);
  });

  it('rejects a hash that does not match the bytes and a second promoted row', async () => {
    const modelId = newModelId();
    await registerMany(modelId, 2);
    await expect(
      pool.query(
        `INSERT INTO model_versions (model_id, version, onnx, onnx_sha256, classes, input_kind, status)
         VALUES ($1, 3, '\\x01', 'bad', '["a","b"]', 'text', 'candidate')`,
        [modelId],
      ),
    ).rejects.toMatchObject({ code: '23514' });
    await promoteModelVersion(pool, modelId, 1);
    await expect(
      pool.query(`UPDATE model_versions SET status = 'promoted' WHERE model_id = $1 AND version = 2`, [
        modelId,
      ]),
    ).rejects.toMatchObject({ code: '23505' });
  });
});

describe('migrate', () => {
  it('is still a no-op the second time', async () => {
    expect(await migrate({ databaseUrl: db!.url })).toEqual([]);
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY id');
    expect(rows.map((r) => r.name)).toContain('1700000001000_model_registry');
  });
});
