import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import {
  createPool,
  enqueueOutbox,
  migrate,
  relayOutbox,
  withTransaction,
  type OutboxRecord,
  type OutboxRow,
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

// Each test starts from an empty outbox: the relay takes every unpublished row, whoever wrote it.
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
});

describe('relayOutbox', () => {
  it('publishes every row once, in id order, in batches, and stamps them', async () => {
    const eventIds = Array.from({ length: 25 }, (_, i) => `e${i + 1}`);
    await enqueue(eventIds.slice(0, 10).map((id) => decision(id)));
    await enqueue(eventIds.slice(10).map((id) => decision(id)));

    const batches: OutboxRow[][] = [];
    const published = await relayOutbox(pool, async (rows) => void batches.push(rows), { batchSize: 10 });
    expect(published).toBe(25);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((r) => r.key)).toEqual(eventIds);
    expect(batches[0]![0]).toMatchObject({
      topic: 'hitl.decisions.v1',
      value: { eventId: 'e1', label: 'spam' },
      headers: {},
    });
    expect(batches[0]![0]!.createdAt).toBeInstanceOf(Date);
    expect(await unpublishedCount()).toBe(0);

    // Nothing left: a second run publishes nothing and calls publish not at all.
    expect(await relayOutbox(pool, async (rows) => void batches.push(rows))).toBe(0);
    expect(batches).toHaveLength(3);
  });

  it('leaves a batch unpublished when publish throws, and publishes it on the next run', async () => {
    await enqueue(['e1', 'e2', 'e3'].map((id) => decision(id)));
    const brokerDown = new Error('broker unavailable');
    await expect(
      relayOutbox(pool, async () => {
        throw brokerDown;
      }),
    ).rejects.toBe(brokerDown);
    expect(await unpublishedCount()).toBe(3);

    const keys: string[] = [];
    expect(await relayOutbox(pool, async (rows) => void keys.push(...rows.map((r) => r.key)))).toBe(3);
    expect(keys).toEqual(['e1', 'e2', 'e3']);
  });

  it('keeps the batches published before a failure', async () => {
    await enqueue(['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => decision(id)));
    let calls = 0;
    await expect(
      relayOutbox(
        pool,
        async () => {
          if (++calls === 2) throw new Error('broker unavailable');
        },
        { batchSize: 2 },
      ),
    ).rejects.toThrow('broker unavailable');
    const { rows } = await pool.query<{ key: string }>(
      'SELECT key FROM outbox WHERE published_at IS NULL ORDER BY id',
    );
    expect(rows.map((r) => r.key)).toEqual(['e3', 'e4', 'e5']);
  });

  it('never publishes a row twice when relays run concurrently', async () => {
    const total = 200;
    await enqueue(Array.from({ length: total }, (_, i) => decision(`e${i}`)));
    const seen: string[][] = [[], [], [], []];
    // Slow publishes keep each relay's row locks held while the others look for work.
    const results = await Promise.all(
      seen.map((out) =>
        relayOutbox(
          pool,
          async (rows) => {
            await new Promise((r) => setTimeout(r, 5));
            out.push(...rows.map((r) => r.id));
          },
          { batchSize: 7 },
        ),
      ),
    );
    const all = seen.flat();
    expect(results.reduce((a, b) => a + b, 0)).toBe(total);
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    // The work was shared, not done by one relay while the others waited.
    expect(seen.filter((ids) => ids.length > 0).length).toBeGreaterThan(1);
    // Each relay still saw its own rows in id order.
    for (const ids of seen) expect(ids.map(Number)).toEqual([...ids.map(Number)].sort((a, b) => a - b));
    expect(await unpublishedCount()).toBe(0);
  });

  it('rejects a batch size that is not a positive integer', async () => {
    await expect(relayOutbox(pool, async () => undefined, { batchSize: 0 })).rejects.toThrow(RangeError);
  });
});
