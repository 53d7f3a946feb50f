import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, enqueueOutbox, migrate, withTransaction } from '@hitl/db';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import { runCli } from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli_prune');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-prune-test' });
  // No KAFKA_BROKERS: pruning touches only Postgres.
  env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('hitl prune', () => {
  it('deletes old published outbox rows and idempotency records in batches, and prints the counts', async () => {
    await withTransaction(pool, (client) =>
      enqueueOutbox(
        client,
        Array.from({ length: 5 }, (_, i) => ({ topic: 't', key: `e${i}`, value: { i } })),
      ),
    );
    // Three published 10 days ago, one published now, one never published.
    await pool.query(
      `UPDATE outbox SET published_at = now() - interval '10 days', relay_batch = 1 WHERE id <= 3`,
    );
    await pool.query(`UPDATE outbox SET published_at = now(), relay_batch = 2 WHERE id = 4`);
    await pool.query(`INSERT INTO reviewers (id, name, role) VALUES ('ann', 'Ann', 'reviewer')`);
    await pool.query(
      `INSERT INTO review_idempotency (reviewer_id, key, event_id, status_code, response, created_at)
       VALUES ('ann', 'k1', 'e1', 200, '{}', now() - interval '3 days'), ('ann', 'k2', 'e2', 200, '{}', now())`,
    );

    const run = await runCli(['prune'], {
      ...env,
      HITL_RETENTION_OUTBOX_DAYS: '9',
      HITL_RETENTION_IDEMPOTENCY_DAYS: '2',
      HITL_RETENTION_BATCH_SIZE: '2',
    });
    expect(run.stderr).toBe('outbox: 2 so far\noutbox: 3 so far\nreview_idempotency: 1 so far\n');
    expect(run.code).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatchObject({
      outbox: { deleted: 3 },
      reviewIdempotency: { deleted: 1 },
      reviewTaskLeases: { cleared: 0 },
    });
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM outbox ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(['4', '5']);
    const { rows: keys } = await pool.query<{ key: string }>('SELECT key FROM review_idempotency');
    expect(keys.map((r) => r.key)).toEqual(['k2']);
  });

  it('refuses a bad setting with exit 78, naming the variable', async () => {
    const run = await runCli(['prune'], { ...env, HITL_RETENTION_BATCH_SIZE: 'many' });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('HITL_RETENTION_BATCH_SIZE: must be an integer');
  });
});
