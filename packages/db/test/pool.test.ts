import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, type Pool } from 'pg';
import { createTestDatabase, waitFor, type TestDatabase } from '@hitl/testkit';
import { createPool, type DbLogger, withTransaction } from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;
const errors: unknown[] = [];
const logger: DbLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (obj) => errors.push(obj),
};

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_pool');
  pool = createPool({ connectionString: db.url, max: 3, applicationName: 'hitl-db-test', logger });
  await pool.query('CREATE TABLE reviews (event_id text PRIMARY KEY, label text NOT NULL)');
});

afterAll(async () => {
  // Guarded: when setup failed (no DATABASE_URL), its error is the one worth reading.
  await pool?.end();
  await db?.drop();
});

async function labels(): Promise<string[]> {
  const { rows } = await pool.query<{ label: string }>('SELECT label FROM reviews ORDER BY event_id');
  return rows.map((r) => r.label);
}

describe('withTransaction', () => {
  it('commits and returns what fn returns', async () => {
    const result = await withTransaction(pool, async (client) => {
      await client.query(`INSERT INTO reviews VALUES ('e1', 'spam')`);
      await client.query(`INSERT INTO reviews VALUES ('e2', 'ham')`);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await labels()).toEqual(['spam', 'ham']);
  });

  it('rolls back everything when fn throws, rethrows its error and releases the client', async () => {
    const failure = new Error('reviewer lease expired');
    await expect(
      withTransaction(pool, async (client) => {
        await client.query(`INSERT INTO reviews VALUES ('e3', 'spam')`);
        await client.query(`UPDATE reviews SET label = 'changed'`);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await labels()).toEqual(['spam', 'ham']);
    expect(pool.totalCount).toBe(pool.idleCount);
  });

  it('rolls back when a statement fails', async () => {
    await expect(
      withTransaction(pool, async (client) => {
        await client.query(`INSERT INTO reviews VALUES ('e4', 'spam')`);
        await client.query(`INSERT INTO reviews VALUES ('e1', 'duplicate')`);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await labels()).toEqual(['spam', 'ham']);
  });
});

describe('createPool', () => {
  it('survives an idle client being killed by the server, logging the error', async () => {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    client.release();
    const idleBefore = pool.idleCount;

    // Kill it from outside the pool, as a failover or an operator would.
    const admin = new Client({ connectionString: db!.url });
    await admin.connect();
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await admin.end();

    await waitFor(() => errors.length > 0, { message: 'the pool to report the killed client' });
    expect(pool.idleCount).toBe(idleBefore - 1);
    expect(await labels()).toEqual(['spam', 'ham']);
  });

  it('sets application_name for pg_stat_activity', async () => {
    const { rows } = await pool.query<{ name: string }>('SELECT current_setting($1) AS name', [
      'application_name',
    ]);
    expect(rows).toEqual([{ name: 'hitl-db-test' }]);
  });
});
