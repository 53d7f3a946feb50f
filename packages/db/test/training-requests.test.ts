import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import {
  createPool,
  DbError,
  listTrainingRequests,
  listTrainingRuns,
  migrate,
  requestTraining,
  withTransaction,
} from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_training');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 4, applicationName: 'hitl-db-training-test' });
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

/** A run as the trainer records one: finished, or still running when `running`. */
async function recordRun(modelId: string, n: number, opts: { running?: boolean } = {}): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    opts.running
      ? `INSERT INTO training_runs (model_id, trigger, started_because, instance, labels_through, examples, eval_examples)
         VALUES ($1, 'request', $2, 'trainer-a', $3::int, $3::int, 1) RETURNING id::text`
      : `INSERT INTO training_runs (model_id, trigger, started_because, instance, labels_through, examples, eval_examples,
                                    status, finished_at, outcome, reason)
         VALUES ($1, 'doubled', $2, 'trainer-a', $3::int, $3::int, 1, 'finished', now(), 'skipped', 'too few labels')
         RETURNING id::text`,
    [modelId, `run ${n}`, n],
  );
  return rows[0]!.id;
}

describe('requestTraining', () => {
  it('stores a pending request, listed newest first, and no longer pending once a run handles it', async () => {
    const modelId = newModelId();
    // Eleven, so that ids sort as numbers (10 after 9), not as text.
    const asked = [];
    for (let i = 0; i < 11; i++) asked.push(await requestTraining(pool, modelId, `admin-${i}`));
    expect(asked[0]).toMatchObject({ modelId, requestedBy: 'admin-0', handledAt: null, runId: null });
    expect(asked[0]!.requestedAt).toBeInstanceOf(Date);

    const listed = await listTrainingRequests(pool, modelId);
    expect(listed.map((r) => r.id)).toEqual(asked.map((r) => r.id).reverse());
    expect(await listTrainingRequests(pool, modelId, { limit: 2 })).toEqual(listed.slice(0, 2));
    expect(await listTrainingRequests(pool, newModelId())).toEqual([]);

    const runId = await recordRun(modelId, 1, { running: true });
    await pool.query('UPDATE training_requests SET handled_at = now(), run_id = $2 WHERE id = $1', [
      asked[0]!.id,
      runId,
    ]);
    const pending = await listTrainingRequests(pool, modelId, { pending: true });
    expect(pending.map((r) => r.id)).toEqual(listed.slice(0, 10).map((r) => r.id));
    expect((await listTrainingRequests(pool, modelId)).at(-1)).toMatchObject({
      runId,
      handledAt: expect.any(Date),
    });
  });

  it('refuses a blank model id or actor with HITL_ERR_TRAINING_REQUEST_INVALID, storing nothing', async () => {
    const modelId = newModelId();
    for (const [model, actor] of [
      ['', 'admin'],
      ['  ', 'admin'],
      [modelId, ''],
      [modelId, ' \t'],
    ] as const) {
      const refused = requestTraining(pool, model, actor);
      await expect(refused).rejects.toBeInstanceOf(DbError);
      await expect(refused).rejects.toMatchObject({ code: 'HITL_ERR_TRAINING_REQUEST_INVALID' });
    }
    expect(await listTrainingRequests(pool, modelId)).toEqual([]);
  });

  it("joins the caller's transaction: a rollback takes the request back", async () => {
    const modelId = newModelId();
    await expect(
      withTransaction(pool, async (client) => {
        await requestTraining(client, modelId, 'admin');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await listTrainingRequests(pool, modelId)).toEqual([]);
  });
});

describe('listTrainingRuns', () => {
  it("gives the model's runs newest first, with why they started and how they ended", async () => {
    const modelId = newModelId();
    const ids = [];
    for (let i = 1; i <= 11; i++) ids.push(await recordRun(modelId, i));
    await recordRun(newModelId(), 1);

    const runs = await listTrainingRuns(pool, modelId);
    expect(runs.map((r) => r.id)).toEqual(ids.reverse());
    expect(runs[0]).toEqual({
      id: ids[0],
      modelId,
      status: 'finished',
      trigger: 'doubled',
      startedBecause: 'run 11',
      instance: 'trainer-a',
      startedAt: expect.any(Date),
      finishedAt: expect.any(Date),
      examples: 11,
      evalExamples: 1,
      version: null,
      outcome: 'skipped',
      reason: 'too few labels',
    });
    expect(await listTrainingRuns(pool, modelId, { limit: 3 })).toEqual(runs.slice(0, 3));
  });
});
