import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import { Client, type Pool } from 'pg';
import {
  adoptOutboxRelay,
  claimedOutboxBatches,
  claimOutboxBatch,
  createPool,
  enqueueOutbox,
  getOutboxRelayState,
  markOutboxBatchesPublishedThrough,
  markOutboxBatchPublished,
  MAX_OUTBOX_RECORD_BYTES,
  migrate,
  outboxBacklog,
  outboxBatchRows,
  tryLockOutboxRelay,
  unlockOutboxRelay,
  withTransaction,
  type OutboxRecord,
} from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_outbox');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 8, applicationName: 'hitl-db-outbox-test' });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

// Each test starts from an empty outbox: a claim takes every unpublished row, whoever wrote it.
beforeEach(async () => {
  await pool.query('TRUNCATE outbox RESTART IDENTITY');
});

function decision(eventId: string, label = 'spam'): OutboxRecord {
  return { topic: 'hitl.decisions.v1', key: eventId, value: { eventId, label } };
}

async function enqueue(records: readonly OutboxRecord[]): Promise<string[]> {
  return withTransaction(pool, (client) => enqueueOutbox(client, records));
}

async function unpublishedCount(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
  );
  return rows[0]!.n;
}

describe('enqueueOutbox', () => {
  it("stores records in the caller's transaction, with ids in the order given", async () => {
    const ids = await enqueue([
      { ...decision('e1'), headers: { 'hitl-trace': 't1' } },
      decision('e2', 'ham'),
      decision('e3'),
    ]);
    const { rows } = await pool.query(
      'SELECT id, topic, key, value, headers, published_at FROM outbox ORDER BY id',
    );
    expect(rows).toEqual([
      {
        id: ids[0],
        topic: 'hitl.decisions.v1',
        key: 'e1',
        value: { eventId: 'e1', label: 'spam' },
        headers: { 'hitl-trace': 't1' },
        published_at: null,
      },
      expect.objectContaining({ id: ids[1], key: 'e2', value: { eventId: 'e2', label: 'ham' }, headers: {} }),
      expect.objectContaining({ id: ids[2], key: 'e3' }),
    ]);
  });

  it('is undone with the transaction', async () => {
    const marker = new Error('decision refused');
    await expect(
      withTransaction(pool, async (client) => {
        await enqueueOutbox(client, [decision('e1')]);
        throw marker;
      }),
    ).rejects.toBe(marker);
    expect(await unpublishedCount()).toBe(0);
  });

  it('refuses a record without a JSON value, storing none of the batch', async () => {
    await expect(enqueue([decision('e1'), { topic: 't', key: 'k', value: undefined }])).rejects.toThrow(
      /no JSON value/,
    );
    expect(await unpublishedCount()).toBe(0);
  });

  it('refuses a record too large to publish, storing none of the batch', async () => {
    const big = { topic: 't', key: 'k', value: 'x'.repeat(MAX_OUTBOX_RECORD_BYTES) };
    await expect(enqueue([decision('e1'), big])).rejects.toThrow(/more than the limit of 1000000/);
    expect(await unpublishedCount()).toBe(0);
    // Just under the limit (the value's quotes and the key count too) is fine.
    const fits = { topic: 't', key: 'k', value: 'x'.repeat(MAX_OUTBOX_RECORD_BYTES - 2 - 1 - 2) };
    expect(await enqueue([fits])).toHaveLength(1);
  });
});

function keysOf(rows: { key: string }[]): string[] {
  return rows.map((r) => r.key);
}

describe('relay batches', () => {
  it('claims unclaimed rows in id order, up to the limit, as one numbered batch', async () => {
    const ids = await enqueue(['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => decision(id)));
    const first = await claimOutboxBatch(pool, 1, 3);
    expect(first.map((r) => r.id)).toEqual(ids.slice(0, 3));
    expect(first[0]).toEqual({
      id: ids[0],
      topic: 'hitl.decisions.v1',
      key: 'e1',
      value: { eventId: 'e1', label: 'spam' },
      headers: {},
      createdAt: expect.any(Date),
    });
    expect(keysOf(await claimOutboxBatch(pool, 2, 10))).toEqual(['e4', 'e5']);
    expect(await claimOutboxBatch(pool, 3, 10)).toEqual([]);
    const { rows } = await pool.query<{ key: string; relay_batch: string }>(
      'SELECT key, relay_batch FROM outbox ORDER BY id',
    );
    expect(rows.map((r) => [r.key, Number(r.relay_batch)])).toEqual([
      ['e1', 1],
      ['e2', 1],
      ['e3', 1],
      ['e4', 2],
      ['e5', 2],
    ]);
  });

  it('claims the rows of a transaction that commits late, after later ids were claimed', async () => {
    const late = await pool.connect();
    try {
      await late.query('BEGIN');
      const [lateId] = await enqueueOutbox(late, [decision('late')]);
      const [earlyId] = await enqueue([decision('early')]);
      expect(BigInt(lateId!)).toBeLessThan(BigInt(earlyId!));
      // The open transaction's row is not seen, let alone claimed.
      expect(keysOf(await claimOutboxBatch(pool, 1, 10))).toEqual(['early']);
      await late.query('COMMIT');
    } finally {
      late.release();
    }
    expect(keysOf(await claimOutboxBatch(pool, 2, 10))).toEqual(['late']);
  });

  it('lists claimed batches until they are stamped published', async () => {
    await enqueue(['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => decision(id)));
    await claimOutboxBatch(pool, 7, 2);
    await claimOutboxBatch(pool, 8, 2);
    await claimOutboxBatch(pool, 9, 2);
    expect(await claimedOutboxBatches(pool)).toEqual([7, 8, 9]);
    expect(keysOf(await outboxBatchRows(pool, 8))).toEqual(['e3', 'e4']);

    expect(await markOutboxBatchPublished(pool, 8)).toBe(2);
    expect(await markOutboxBatchPublished(pool, 8)).toBe(0);
    expect(await outboxBatchRows(pool, 8)).toEqual([]);
    expect(await claimedOutboxBatches(pool)).toEqual([7, 9]);

    // Through 8: batch 7 is stamped, 9 stays claimed.
    expect(await markOutboxBatchesPublishedThrough(pool, 8)).toBe(2);
    expect(await claimedOutboxBatches(pool)).toEqual([9]);
    expect(await unpublishedCount()).toBe(1);
    expect(await markOutboxBatchesPublishedThrough(pool, 9)).toBe(1);
    expect(await claimedOutboxBatches(pool)).toEqual([]);
    expect(await unpublishedCount()).toBe(0);
  });

  it('reports the backlog: pending, unclaimed and the age of the oldest', async () => {
    expect(await outboxBacklog(pool)).toEqual({ pending: 0, unclaimed: 0, oldestPendingSeconds: 0 });
    await enqueue(['e1', 'e2', 'e3'].map((id) => decision(id)));
    await pool.query(`UPDATE outbox SET created_at = now() - interval '90 seconds' WHERE key = 'e1'`);
    await claimOutboxBatch(pool, 1, 1);
    const backlog = await outboxBacklog(pool);
    expect(backlog).toMatchObject({ pending: 3, unclaimed: 2 });
    expect(backlog.oldestPendingSeconds).toBeGreaterThanOrEqual(90);
    expect(backlog.oldestPendingSeconds).toBeLessThan(120);
    await markOutboxBatchPublished(pool, 1);
    expect((await outboxBacklog(pool)).oldestPendingSeconds).toBeLessThan(30);
  });

  it('refuses a batch number or limit that is not a positive integer', async () => {
    await expect(claimOutboxBatch(pool, 0, 10)).rejects.toThrow(RangeError);
    await expect(claimOutboxBatch(pool, 1, 0)).rejects.toThrow(RangeError);
    await expect(outboxBatchRows(pool, 1.5)).rejects.toThrow(RangeError);
  });
});

describe('relay lock and identity', () => {
  async function connect(): Promise<Client> {
    const client = new Client({ connectionString: db!.url });
    await client.connect();
    return client;
  }

  it('lets one session hold the relay lock; it passes on when released or when the session ends', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    try {
      expect(await tryLockOutboxRelay(a)).toBe(true);
      expect(await tryLockOutboxRelay(b)).toBe(false);
      await unlockOutboxRelay(a);
      expect(await tryLockOutboxRelay(b)).toBe(true);
      expect(await tryLockOutboxRelay(a)).toBe(false);
      await b.end();
      expect(await tryLockOutboxRelay(a)).toBe(true);
    } finally {
      await a.end();
      await b.end().catch(() => undefined);
    }
  });

  it("keeps one identity per outbox, another database's differs", async () => {
    const { outboxId: id, relay } = await getOutboxRelayState(pool);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(relay).toBeNull();
    expect((await getOutboxRelayState(pool)).outboxId).toBe(id);
    const other = await createTestDatabase('hitl_db_outbox_other');
    try {
      await migrate({ databaseUrl: other.url });
      const otherPool = createPool({ connectionString: other.url, max: 1 });
      try {
        expect((await getOutboxRelayState(otherPool)).outboxId).not.toBe(id);
      } finally {
        await otherPool.end();
      }
    } finally {
      await other.drop();
    }
  });

  it('adopts a relay: stamps the batches its predecessor published, releases the rest, records its names', async () => {
    const names = { transactionalId: 'tx-b', markerGroupId: 'group-b', markerTopic: 'topic-b' };
    await enqueue(['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => decision(id)));
    await claimOutboxBatch(pool, 4, 2);
    await markOutboxBatchPublished(pool, 4);
    await claimOutboxBatch(pool, 5, 1);
    await claimOutboxBatch(pool, 6, 1);
    const client = await pool.connect();
    try {
      expect(await adoptOutboxRelay(client, names, 5)).toEqual({ stamped: 1, released: 1 });
    } finally {
      client.release();
    }
    const { rows } = await pool.query<{ key: string; relay_batch: string | null; published: boolean }>(
      'SELECT key, relay_batch, published_at IS NOT NULL AS published FROM outbox ORDER BY id',
    );
    expect(rows.map((r) => [r.key, r.relay_batch, r.published])).toEqual([
      ['e1', '4', true],
      ['e2', '4', true],
      ['e3', '5', true],
      ['e4', null, false],
      ['e5', null, false],
    ]);
    const state = await getOutboxRelayState(pool);
    expect(state.relay).toEqual(names);
    await pool.query(
      'UPDATE outbox_relay SET transactional_id = NULL, marker_group_id = NULL, marker_topic = NULL',
    );
  });
});
