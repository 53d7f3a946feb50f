import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '@hitl/testkit';
import type { Pool } from 'pg';
import {
  claimOutboxBatch,
  createPool,
  enqueueOutbox,
  findDeadLetterRedrives,
  loadRetentionConfig,
  markOutboxBatchPublished,
  migrate,
  pruneRetention,
  redriveDeadLetters,
  withTransaction,
  type RetentionOptions,
  type RetentionTable,
} from '../src/index';

let db: TestDatabase | undefined;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('hitl_db_retention');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 4, applicationName: 'hitl-db-retention-test' });
  await pool.query(`INSERT INTO reviewers (id, name, role) VALUES ('ann', 'Ann', 'reviewer')`);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

beforeEach(async () => {
  await pool.query(
    'TRUNCATE outbox, review_idempotency, dlq_redrives, review_tasks, model_decision_counts, model_decision_count_offsets CASCADE',
  );
});

const settings: RetentionOptions = {
  outboxDays: 7,
  idempotencyDays: 7,
  expiredLeaseHours: 24,
  learningCountDays: 91,
  routedEventDays: 30,
  batchSize: 1000,
};

/** Enqueues `n` rows for `topic` and returns their ids. */
async function enqueue(topic: string, n: number): Promise<string[]> {
  return withTransaction(pool, (client) =>
    enqueueOutbox(
      client,
      Array.from({ length: n }, (_, i) => ({ topic, key: `e${i}`, value: { i } })),
    ),
  );
}

/** Claims and stamps every unpublished row, then moves the stamps back by `daysAgo`. */
async function publishAll(batch: number, daysAgo: number): Promise<void> {
  await claimOutboxBatch(pool, batch, 10_000);
  await markOutboxBatchPublished(pool, batch);
  await pool.query(
    `UPDATE outbox SET published_at = now() - make_interval(days => $2), created_at = now() - make_interval(days => $2)
      WHERE relay_batch = $1`,
    [batch, daysAgo],
  );
}

async function outboxTopics(): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ topic: string; n: number }>(
    'SELECT topic, count(*)::int AS n FROM outbox GROUP BY topic',
  );
  return Object.fromEntries(rows.map((r) => [r.topic, r.n]));
}

describe('pruneRetention: the outbox', () => {
  it('deletes published rows past the retention and keeps recent and unpublished ones, in batches', async () => {
    await enqueue('old-published', 7);
    await publishAll(1, 8);
    await enqueue('recent-published', 2);
    await publishAll(2, 6);
    // Written long ago but never published: claimed by a relay (in flight) or not claimed yet.
    await enqueue('old-claimed', 2);
    await claimOutboxBatch(pool, 3, 10);
    await enqueue('old-unclaimed', 2);
    await pool.query(`UPDATE outbox SET created_at = now() - interval '30 days' WHERE published_at IS NULL`);

    const batches: { table: RetentionTable; rows: number; total: number }[] = [];
    const result = await pruneRetention(pool, {
      ...settings,
      batchSize: 3,
      onBatch: (progress) => batches.push(progress),
    });

    expect(result.outbox).toBe(7);
    expect(batches.filter((b) => b.table === 'outbox')).toEqual([
      { table: 'outbox', rows: 3, total: 3 },
      { table: 'outbox', rows: 3, total: 6 },
      { table: 'outbox', rows: 1, total: 7 },
    ]);
    expect(await outboxTopics()).toEqual({ 'recent-published': 2, 'old-claimed': 2, 'old-unclaimed': 2 });
    // The relay still finds its claimed batch and the rows it has yet to claim.
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
    );
    expect(rows[0]!.n).toBe(4);
    expect((await pruneRetention(pool, settings)).outbox).toBe(0);
  });

  it('skips a row another transaction holds instead of waiting for it', async () => {
    const [held] = await enqueue('old-published', 3);
    await publishAll(1, 10);
    const other = await pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM outbox WHERE id = $1 FOR UPDATE', [held]);
      const result = await pruneRetention(pool, settings);
      expect(result.outbox).toBe(2);
      await other.query('COMMIT');
    } finally {
      other.release();
    }
    expect((await pruneRetention(pool, settings)).outbox).toBe(1);
  });

  it('a redrive whose outbox row was published and pruned still shows as published', async () => {
    await redriveDeadLetters(
      pool,
      'hitl.dlq.v1',
      [
        {
          at: { partition: 0, offset: '5' },
          source: { topic: 'hitl.events.v1', partition: 1, offset: '9' },
          errorCode: 'HITL_ERR_SCHEMA',
          record: { topic: 'hitl.events.v1', key: 'e1', value: { eventId: 'e1' } },
        },
      ],
      'ops',
    );
    const before = await findDeadLetterRedrives(pool, 'hitl.dlq.v1', [{ partition: 0, offset: '5' }]);
    expect(before.get('0:5')?.published).toBe(false);
    await publishAll(1, 8);
    expect((await pruneRetention(pool, settings)).outbox).toBe(1);
    const after = await findDeadLetterRedrives(pool, 'hitl.dlq.v1', [{ partition: 0, offset: '5' }]);
    expect(after.get('0:5')?.published).toBe(true);
  });
});

describe('pruneRetention: idempotency records and leases', () => {
  it('deletes idempotency records past the retention and keeps recent ones', async () => {
    await pool.query(
      `INSERT INTO review_idempotency (reviewer_id, key, event_id, status_code, response, created_at)
       SELECT 'ann', 'old-' || i, 'e' || i, 200, '{}'::jsonb, now() - interval '8 days' FROM generate_series(1, 5) i
       UNION ALL
       SELECT 'ann', 'new-' || i, 'e' || i, 200, '{}'::jsonb, now() - interval '6 days' FROM generate_series(1, 2) i`,
    );
    const result = await pruneRetention(pool, { ...settings, batchSize: 2 });
    expect(result.reviewIdempotency).toBe(5);
    const { rows } = await pool.query<{ key: string }>('SELECT key FROM review_idempotency ORDER BY key');
    expect(rows.map((r) => r.key)).toEqual(['new-1', 'new-2']);
  });

  it('clears leases that ran out long ago, keeps the others, and never deletes a task', async () => {
    const task = (eventId: string, status: string, expiresAgo: string | null) =>
      pool.query(
        `INSERT INTO review_tasks (event_id, stream, request, classes, reason, priority, policy_version,
                                   required_reviewers, needed, status, final_label, decided_at,
                                   lease_owner, lease_expires_at, requested_at)
         VALUES ($1, 's', '{}'::jsonb, '{a,b}', 'uncertain', 1, 1, 1, 1, $2,
                 CASE WHEN $2 = 'decided' THEN 'a' END, CASE WHEN $2 = 'decided' THEN now() - interval '90 days' END,
                 CASE WHEN $3::interval IS NOT NULL THEN 'ann' END, now() - $3::interval, now() - interval '90 days')`,
        [eventId, status, expiresAgo],
      );
    await task('stale', 'open', '2 days');
    await task('stale-escalated', 'escalated', '3 days');
    await task('recently-expired', 'open', '1 hour');
    await task('held', 'open', '-5 minutes');
    await task('decided', 'decided', null);

    const result = await pruneRetention(pool, settings);
    expect(result.reviewTaskLeases).toBe(2);
    const { rows } = await pool.query<{ event_id: string; lease_owner: string | null }>(
      'SELECT event_id, lease_owner FROM review_tasks ORDER BY event_id',
    );
    expect(rows).toEqual([
      { event_id: 'decided', lease_owner: null },
      { event_id: 'held', lease_owner: 'ann' },
      { event_id: 'recently-expired', lease_owner: 'ann' },
      { event_id: 'stale', lease_owner: null },
      { event_id: 'stale-escalated', lease_owner: null },
    ]);
  });
});

describe('pruneRetention: per-minute counts of model decisions', () => {
  it('deletes the minutes past the retention, in batches, and keeps the later minutes and the offsets', async () => {
    await pool.query(
      `INSERT INTO model_decision_counts (minute, model_id, model_version, decisions)
       SELECT date_trunc('minute', now(), 'UTC') - make_interval(days => d), 'spam', v, 3
         FROM generate_series(0, 95, 5) d, generate_series(1, 2) v`,
    );
    await pool.query(
      `INSERT INTO model_decision_count_offsets (topic, "partition", next_offset) VALUES ('t', 0, 40)`,
    );
    // Days 50 to 95 are past 50 days (day 50's minute began before the cutoff): 10 days of two
    // versions each, 4 rows at a time.
    const result = await pruneRetention(pool, { ...settings, learningCountDays: 50, batchSize: 4 });
    expect(result.modelDecisionCounts).toBe(20);
    const { rows } = await pool.query<{ oldest: number; n: number }>(
      `SELECT extract(day FROM now() - min(minute))::int AS oldest, count(*)::int AS n FROM model_decision_counts`,
    );
    expect(rows).toEqual([{ oldest: 45, n: 20 }]);
    expect((await pool.query('SELECT next_offset FROM model_decision_count_offsets')).rows).toEqual([
      { next_offset: '40' },
    ]);
  });
});

describe('pruneRetention: the router’s routed event ids', () => {
  it('deletes the ids routed before the retention and keeps the later ones', async () => {
    await pool.query(
      `INSERT INTO routed_events (event_id, topic, "partition", "offset", routed_at)
       SELECT 'e-' || d, 'hitl.predictions.v1', 0, d, now() - make_interval(days => d) - interval '1 minute'
         FROM generate_series(0, 9) d`,
    );
    const result = await pruneRetention(pool, { ...settings, routedEventDays: 5, batchSize: 2 });
    expect(result.routedEvents).toBe(5);
    const { rows } = await pool.query<{ event_id: string }>(
      'SELECT event_id FROM routed_events ORDER BY "offset"',
    );
    expect(rows.map((r) => r.event_id)).toEqual(['e-0', 'e-1', 'e-2', 'e-3', 'e-4']);
  });
});

describe('loadRetentionConfig', () => {
  it('has defaults, and names a bad variable', () => {
    expect(loadRetentionConfig({})).toEqual({
      outboxDays: 7,
      idempotencyDays: 7,
      expiredLeaseHours: 24,
      learningCountDays: 91,
      routedEventDays: 30,
      batchSize: 1000,
    });
    expect(() => loadRetentionConfig({ HITL_RETENTION_OUTBOX_DAYS: '0' })).toThrow(
      /HITL_RETENTION_OUTBOX_DAYS: must be at least 1/,
    );
  });
});
