import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import { readdirSync } from 'node:fs';
import { DbError, migrate, migrationsDir } from '../src/index';

// Every migration shipped, in the order they apply.
const ALL = readdirSync(migrationsDir)
  .filter((file) => file.endsWith('.sql'))
  .map((file) => file.replace(/\.sql$/, ''))
  .sort();

// One fresh database per scenario, all created and dropped by this file.
const databases: TestDatabase[] = [];

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase('hitl_db_migrate');
  databases.push(db);
  return db;
}

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

async function query<R extends Record<string, unknown>>(url: string, sql: string): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

// Everything a migration could change in the public schema, as comparable text.
async function schemaOf(url: string): Promise<unknown[]> {
  return query(
    url,
    `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.column_default
       FROM information_schema.columns c WHERE c.table_schema = 'public'
     UNION ALL
     SELECT tablename, indexname, indexdef, NULL, NULL FROM pg_indexes WHERE schemaname = 'public'
     ORDER BY 1, 2`,
  );
}

describe('migrate', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await freshDatabase();
  });

  it('creates the outbox table on an empty database', async () => {
    expect(await migrate({ databaseUrl: db.url })).toEqual(ALL);

    const columns = await query(
      db.url,
      `SELECT column_name, data_type, is_nullable, column_default
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'outbox'
        ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      {
        column_name: 'id',
        data_type: 'bigint',
        is_nullable: 'NO',
        column_default: "nextval('outbox_id_seq'::regclass)",
      },
      { column_name: 'topic', data_type: 'text', is_nullable: 'NO', column_default: null },
      { column_name: 'key', data_type: 'text', is_nullable: 'NO', column_default: null },
      { column_name: 'value', data_type: 'jsonb', is_nullable: 'NO', column_default: null },
      { column_name: 'headers', data_type: 'jsonb', is_nullable: 'NO', column_default: "'{}'::jsonb" },
      {
        column_name: 'created_at',
        data_type: 'timestamp with time zone',
        is_nullable: 'NO',
        column_default: 'now()',
      },
      {
        column_name: 'published_at',
        data_type: 'timestamp with time zone',
        is_nullable: 'YES',
        column_default: null,
      },
      // The relay batch that claimed the row (1700000003000_outbox_relay_batches).
      { column_name: 'relay_batch', data_type: 'bigint', is_nullable: 'YES', column_default: null },
    ]);
    const [index] = await query<{ indexdef: string }>(
      db.url,
      `SELECT indexdef FROM pg_indexes WHERE tablename = 'outbox' AND indexname = 'outbox_unpublished_idx'`,
    );
    expect(index?.indexdef).toContain('WHERE (published_at IS NULL)');

    const [row] = await query<{ headers: unknown; published_at: unknown }>(
      db.url,
      `INSERT INTO outbox (topic, key, value) VALUES ('hitl.decisions.v1', 'e1', '{"label":"spam"}')
       RETURNING headers, published_at`,
    );
    expect(row).toEqual({ headers: {}, published_at: null });
  });

  it('is a no-op the second time', async () => {
    const before = await schemaOf(db.url);
    expect(await migrate({ databaseUrl: db.url })).toEqual([]);
    expect(await schemaOf(db.url)).toEqual(before);
    const runs = await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM pgmigrations');
    expect(runs).toEqual([{ n: String(ALL.length) }]);
  });

  it('reverts with direction down and re-applies', async () => {
    const other = await freshDatabase();
    await migrate({ databaseUrl: other.url });
    expect(ALL.length).toBeGreaterThanOrEqual(3);
    expect(await migrate({ databaseUrl: other.url, direction: 'down' })).toEqual([ALL.at(-1)]);
    expect(await query(other.url, `SELECT to_regclass('model_versions') AS t`)).not.toEqual([{ t: null }]);
    expect(await migrate({ databaseUrl: other.url, direction: 'down', count: ALL.length })).toEqual(
      ALL.slice(0, -1).reverse(),
    );
    expect(await query(other.url, `SELECT to_regclass('outbox') AS t`)).toEqual([{ t: null }]);
    expect(await migrate({ databaseUrl: other.url })).toEqual(ALL);
  });

  it('lets services starting together migrate once: the others wait for the lock', async () => {
    const shared = await freshDatabase();
    const results = await Promise.all([1, 2, 3].map(() => migrate({ databaseUrl: shared.url })));
    expect(results.flat()).toEqual(ALL);
    expect(await query(shared.url, 'SELECT name FROM pgmigrations ORDER BY id')).toEqual(
      ALL.map((name) => ({ name })),
    );
  });

  it('fails with a stable code when the database is unreachable', async () => {
    const url = new URL(db.url);
    url.pathname = '/hitl_db_does_not_exist';
    await expect(migrate({ databaseUrl: url.toString() })).rejects.toMatchObject({
      code: 'HITL_ERR_MIGRATION',
    });
    await expect(migrate({ databaseUrl: url.toString() })).rejects.toBeInstanceOf(DbError);
  });
});
