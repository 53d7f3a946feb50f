import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { claimOutboxBatch, enqueueOutbox, getOutboxRelayState, tryLockOutboxRelay } from '@hitl/db';
import { sendEncoded } from '@hitl/kafka';
import { createTestTopics, uniqueName, waitFor, type TestDatabase } from '@hitl/testkit';
import { KafkaJSError, type Kafka, type PartitionOffset } from 'kafkajs';
import { Client, type Pool } from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { encodeOutboxRows, OUTBOX_ID_HEADER, OutboxRelay, type OutboxRelayOptions } from '../src/index';
import {
  decisionRecords,
  enqueue,
  expectEachOnce,
  forgetRelay,
  logger,
  outboxId,
  outputTopics,
  readEvents,
  readMarker,
  recordRelay,
  relayNames,
  sleep,
  startWriter,
  testDatabase,
  testKafka,
  unpublishedCount,
  type RelayNames,
} from './helpers';

let db: TestDatabase;
let pool: Pool;
let kafka: Kafka;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
  kafka = testKafka();
});

// Each test starts from an empty outbox that no relay has led: a relay takes every unpublished
// row, whoever wrote it, and each test's relays have names of their own.
beforeEach(async () => {
  await pool.query('TRUNCATE outbox RESTART IDENTITY');
  await forgetRelay(pool);
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

type Topics = Awaited<ReturnType<typeof outputTopics>>;

async function topicsForTest(): Promise<Topics> {
  const topics = await outputTopics();
  cleanups.push(topics.cleanup);
  return topics;
}

function newRelay(names: RelayNames, opts: Partial<OutboxRelayOptions> = {}): OutboxRelay {
  const relay = new OutboxRelay({ pool, kafka, logger, pollIntervalMs: 50, ...names, ...opts });
  cleanups.push(() => relay.stop());
  return relay;
}

function events(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

async function enqueueEvents(topics: Topics, eventIds: readonly string[]): Promise<void> {
  await enqueue(
    pool,
    eventIds.flatMap((id) => decisionRecords(topics, id)),
  );
}

async function metricValue(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** Records of a topic with their headers, read_committed, from the start. */
async function readHeaders(topic: string, count: number): Promise<Record<string, string>[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('outbox-headers'), maxWaitTimeInMs: 200 });
  const out: Record<string, string>[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])));
      },
    });
    await waitFor(() => out.length >= count, { timeoutMs: 30_000, message: `${count} records on ${topic}` });
    return out;
  } finally {
    await consumer.disconnect();
  }
}

/** A pino logger whose lines the test can read. */
function capturedLogger() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) };
}

describe('OutboxRelay.drain', () => {
  it('publishes the rows of many transactions exactly once, with their headers, and stamps them', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    // 40 transactions of 1 to 3 events each, committed concurrently, so ids and commits interleave.
    const batches = Array.from({ length: 40 }, (_, t) => events(`many-${t}`, 1 + (t % 3)));
    await Promise.all(batches.map((eventIds) => enqueueEvents(topics, eventIds)));
    const eventIds = batches.flat();
    const rows = 2 * eventIds.length;

    const registry = new Registry();
    const relay = newRelay(names, { batchSize: 7, registry });
    expect(await relay.drain()).toBe(rows);
    expect(await unpublishedCount(pool)).toBe(0);
    const { rows: batchesUsed } = await pool.query<{ n: number; max: string }>(
      'SELECT count(DISTINCT relay_batch)::int AS n, max(relay_batch) AS max FROM outbox',
    );
    expect(batchesUsed[0]).toEqual({ n: Math.ceil(rows / 7), max: String(Math.ceil(rows / 7)) });
    expect(await readMarker(kafka, names)).toEqual({
      offset: String(Math.ceil(rows / 7)),
      metadata: await outboxId(pool),
    });

    expectEachOnce(await readEvents(topics, eventIds.length), eventIds);
    const headers = await readHeaders(topics.decisions, eventIds.length);
    expect(headers).toHaveLength(eventIds.length);
    for (const h of headers) {
      expect(h[OUTBOX_ID_HEADER]).toMatch(/^\d+$/);
      expect(h['hitl-trace']).toMatch(/^trace-many-/);
    }

    expect(await metricValue(registry, 'hitl_outbox_published_total')).toBe(rows);
    expect(await metricValue(registry, 'hitl_outbox_pending')).toBe(0);
    expect(await metricValue(registry, 'hitl_outbox_oldest_pending_seconds')).toBe(0);
    expect(await metricValue(registry, 'hitl_outbox_relay_leader')).toBe(0);
    // Nothing left: the next drain publishes nothing.
    expect(await relay.drain()).toBe(0);
  });

  it('returns 0 without connecting to Kafka when nothing is pending', async () => {
    const offline = testKafka({ brokers: ['127.0.0.1:1'], retry: { retries: 0 } });
    const relay = newRelay(relayNames(), { kafka: offline });
    const started = Date.now();
    expect(await relay.drain()).toBe(0);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('fails with the Kafka error when the broker is unreachable, leaving the rows and the lock', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    await enqueueEvents(topics, ['offline-1']);
    const offline = testKafka({ brokers: ['127.0.0.1:1'], retry: { retries: 1, initialRetryTime: 50 } });
    await expect(newRelay(names, { kafka: offline }).drain()).rejects.toBeInstanceOf(KafkaJSError);
    const { rows } = await pool.query<{ claimed: number }>(
      'SELECT count(relay_batch)::int AS claimed FROM outbox',
    );
    expect(rows[0]!.claimed).toBe(0);
    // The lock was let go: the next relay publishes.
    expect(await newRelay(names).drain()).toBe(2);
    expectEachOnce(await readEvents(topics, 1), ['offline-1']);
  });

  it('stamps a batch that reached Kafka before its relay died unstamped, without publishing it again', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    await enqueueEvents(topics, events('stamp', 2));
    expect(await newRelay(names).drain()).toBe(4);
    // The relay died after its Kafka commit, before the stamp.
    await pool.query('UPDATE outbox SET published_at = NULL WHERE relay_batch = 1');
    await enqueueEvents(topics, ['stamp-2']);

    expect(await newRelay(names).drain()).toBe(2);
    expect(await unpublishedCount(pool)).toBe(0);
    expectEachOnce(await readEvents(topics, 3), events('stamp', 3));
  });

  it('publishes a batch that was claimed but never reached Kafka, under its own number', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    await enqueueEvents(topics, events('claimed', 2));
    expect(await newRelay(names).drain()).toBe(4);
    await enqueueEvents(topics, ['claimed-2', 'claimed-3']);
    // The relay died after claiming batch 2.
    expect(await claimOutboxBatch(pool, 2, 100)).toHaveLength(4);
    await enqueueEvents(topics, ['claimed-4']);

    expect(await newRelay(names, { batchSize: 100 }).drain()).toBe(6);
    const { rows } = await pool.query<{ key: string; relay_batch: string }>(
      'SELECT key, relay_batch FROM outbox ORDER BY id',
    );
    expect(rows.map((r) => `${r.key}@${r.relay_batch}`)).toEqual([
      'claimed-0@1',
      'claimed-0@1',
      'claimed-1@1',
      'claimed-1@1',
      'claimed-2@2',
      'claimed-2@2',
      'claimed-3@2',
      'claimed-3@2',
      'claimed-4@3',
      'claimed-4@3',
    ]);
    expect((await readMarker(kafka, names)).offset).toBe('3');
    expectEachOnce(await readEvents(topics, 5), events('claimed', 5));
  });

  it('aborts the transaction a dead relay left open and publishes that batch once', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    await enqueueEvents(topics, events('open', 1));
    expect(await newRelay(names).drain()).toBe(2);
    await enqueueEvents(topics, ['open-1', 'open-2']);
    const claimed = await claimOutboxBatch(pool, 2, 100);

    // A relay with the same transactional id sent batch 2 and its marker, and died uncommitted.
    const dead = kafka.producer({
      transactionalId: names.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await dead.connect();
    const transaction = await dead.transaction();
    await sendEncoded(transaction, encodeOutboxRows(claimed));
    const marker: PartitionOffset = { partition: 0, offset: '2' };
    await transaction.sendOffsets({
      consumerGroupId: names.markerGroupId,
      topics: [{ topic: names.markerTopic, partitions: [marker] }],
    });
    await dead.disconnect();

    expect(await newRelay(names).drain()).toBe(4);
    expect((await readMarker(kafka, names)).offset).toBe('2');
    // read_committed readers never see the aborted copies.
    expectEachOnce(await readEvents(topics, 3), events('open', 3));
  });

  it("does not trust another outbox's marker in its marker group", async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    await createTestTopics([{ topic: names.markerTopic }]);
    // Another database's relay, misconfigured with this group, committed its batch 500.
    const other = kafka.producer({
      transactionalId: uniqueName('other-outbox'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await other.connect();
    const transaction = await other.transaction();
    const foreign: PartitionOffset & { metadata: string } = {
      partition: 0,
      offset: '500',
      metadata: 'other',
    };
    await transaction.sendOffsets({
      consumerGroupId: names.markerGroupId,
      topics: [{ topic: names.markerTopic, partitions: [foreign] }],
    });
    await transaction.commit();
    await other.disconnect();
    expect(await readMarker(kafka, names)).toEqual({ offset: '500', metadata: 'other' });

    // This outbox's relay, so named, died after claiming batch 3: below 500, yet never published.
    await recordRelay(pool, names);
    await enqueueEvents(topics, events('foreign', 2));
    await claimOutboxBatch(pool, 3, 100);
    await enqueueEvents(topics, ['foreign-2']);
    const captured = capturedLogger();
    expect(await newRelay(names, { logger: captured.logger }).drain()).toBe(6);
    expectEachOnce(await readEvents(topics, 3), events('foreign', 3));
    expect(await readMarker(kafka, names)).toEqual({ offset: '4', metadata: await outboxId(pool) });
    expect(captured.lines.join('')).toContain('"code":"HITL_ERR_OUTBOX_MARKER_FOREIGN"');
  });

  it('decides the batches a relay with other names left claimed by its marker, not its own', async () => {
    const topics = await topicsForTest();
    const [x, y] = [relayNames(), relayNames()];
    // Relay y led first and committed its marker up to batch 10.
    await enqueueEvents(topics, events('y', 5));
    expect(await newRelay(y, { batchSize: 1 }).drain()).toBe(10);
    expect((await readMarker(kafka, y)).offset).toBe('10');
    // Then relay x, numbering from 1 with its own marker.
    await enqueueEvents(topics, ['x-0']);
    expect(await newRelay(x).drain()).toBe(2);
    await enqueueEvents(topics, ['x-1']);
    expect(await newRelay(x).drain()).toBe(2);
    expect((await readMarker(kafka, x)).offset).toBe('2');
    // x died twice: after committing batch 2 (unstamped), and after claiming batch 3 (unpublished).
    await pool.query('UPDATE outbox SET published_at = NULL WHERE relay_batch = 2');
    await enqueueEvents(topics, ['x-2']);
    expect(await claimOutboxBatch(pool, 3, 100)).toHaveLength(2);
    await enqueueEvents(topics, ['x-3']);

    // y's marker (10) covers both batch numbers; only x's marker tells them apart.
    const captured = capturedLogger();
    expect(await newRelay(y, { logger: captured.logger }).drain()).toBe(4);
    expect(await unpublishedCount(pool)).toBe(0);
    expect((await getOutboxRelayState(pool)).relay).toEqual(y);
    expect((await readMarker(kafka, y)).offset).toBe('11');
    expect(captured.lines.join('')).toContain('took the outbox over from a relay with other names');
    expectEachOnce(await readEvents(topics, 9), [...events('y', 5), ...events('x', 4)]);
  });

  it('returns 0 at once while another relay leads and has claimed what is pending', async () => {
    const topics = await topicsForTest();
    await enqueueEvents(topics, ['led-elsewhere']);
    const leader = new Client({ connectionString: db.url });
    await leader.connect();
    try {
      expect(await tryLockOutboxRelay(leader)).toBe(true);
      await claimOutboxBatch(leader, 1, 100);
      const started = Date.now();
      expect(await newRelay(relayNames()).drain()).toBe(0);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await leader.end();
    }
  });
});

describe('OutboxRelay.start', () => {
  it('publishes rows as they commit, sooner on wakeUp, and stops gracefully, twice', async () => {
    const topics = await topicsForTest();
    const registry = new Registry();
    // A poll far longer than the test: only wakeUp() gets the second row out in time.
    const relay = newRelay(relayNames(), { pollIntervalMs: 60_000, registry });
    await enqueueEvents(topics, ['woken-0']);
    await relay.start();
    await waitFor(async () => (await unpublishedCount(pool)) === 0, { message: 'the first row published' });
    expect(relay.leading).toBe(true);
    expect(await metricValue(registry, 'hitl_outbox_relay_leader')).toBe(1);

    await enqueueEvents(topics, ['woken-1']);
    relay.wakeUp();
    await waitFor(async () => (await unpublishedCount(pool)) === 0, {
      timeoutMs: 10_000,
      message: 'the woken row published',
    });
    await Promise.all([relay.stop(), relay.stop()]);
    await relay.stop();
    expect(relay.leading).toBe(false);
    expect(await metricValue(registry, 'hitl_outbox_relay_leader')).toBe(0);
    expect(await metricValue(registry, 'hitl_outbox_published_total')).toBe(4);
    expectEachOnce(await readEvents(topics, 2), ['woken-0', 'woken-1']);
    // The lock went with it.
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      expect(await tryLockOutboxRelay(client)).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('publishes a row whose transaction commits after rows with later ids were published', async () => {
    const topics = await topicsForTest();
    const relay = newRelay(relayNames());
    await relay.start();
    const late = await pool.connect();
    try {
      await late.query('BEGIN');
      const [lateId] = await enqueueOutbox(late, decisionRecords(topics, 'late'));
      const [earlyId] = await enqueue(pool, decisionRecords(topics, 'early'));
      expect(BigInt(lateId!)).toBeLessThan(BigInt(earlyId!));
      relay.wakeUp();
      await waitFor(
        async () => {
          const { rows } = await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM outbox WHERE key = 'early' AND published_at IS NOT NULL`,
          );
          return rows[0]!.n === 2;
        },
        { message: 'the early rows published' },
      );
      await late.query('COMMIT');
    } finally {
      late.release();
    }
    relay.wakeUp();
    await waitFor(async () => (await unpublishedCount(pool)) === 0, { message: 'the late rows published' });
    expectEachOnce(await readEvents(topics, 2), ['early', 'late']);
  });

  it('runs one leader among several relays; a standby takes over when the leader stops', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    const relays = [newRelay(names, { batchSize: 5 }), newRelay(names, { batchSize: 5 })];
    const writer = startWriter(pool, topics, { prefix: 'pair', pauseMs: 10 });
    cleanups.push(() => writer.stop());
    let mostLeaders = 0;
    const watching = setInterval(() => {
      mostLeaders = Math.max(mostLeaders, relays.filter((r) => r.leading).length);
    }, 2);
    try {
      await Promise.all(relays.map((r) => r.start()));
      await waitFor(() => relays.some((r) => r.leading), { message: 'a leader' });
      // The leader publishes while the writer goes on (a first transaction on a just-started
      // broker can take a while, hence a wait rather than a fixed pause).
      await waitFor(async () => (await unpublishedCount(pool)) < writer.eventIds.length * 2, {
        message: 'the leader publishing',
      });
      await sleep(500);
      const first = relays.find((r) => r.leading)!;
      const standby = relays.find((r) => r !== first)!;
      expect(standby.leading).toBe(false);

      await first.stop();
      await waitFor(() => standby.leading, { message: 'the standby leading' });
      // A new standby behind the new leader.
      relays.push(newRelay(names, { batchSize: 5 }));
      await relays[2]!.start();
      await sleep(1_000);
      await writer.stop();
      await waitFor(async () => (await unpublishedCount(pool)) === 0, {
        timeoutMs: 30_000,
        message: 'everything published',
      });
      expect(relays[2]!.leading).toBe(false);
    } finally {
      clearInterval(watching);
    }
    expect(mostLeaders).toBe(1);
    expectEachOnce(await readEvents(topics, writer.eventIds.length), writer.eventIds);
  });

  it('steps down when another producer fences its transactional id, recovers, and goes on', async () => {
    const topics = await topicsForTest();
    const names = relayNames();
    const captured = capturedLogger();
    const relay = newRelay(names, { logger: captured.logger });
    await enqueueEvents(topics, ['fenced-0']);
    await relay.start();
    await waitFor(async () => (await unpublishedCount(pool)) === 0, { message: 'the first row published' });

    const usurper = kafka.producer({
      transactionalId: names.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await usurper.connect();
    const fence = await usurper.transaction();
    await fence.abort();
    await usurper.disconnect();

    await enqueueEvents(topics, ['fenced-1', 'fenced-2']);
    relay.wakeUp();
    await waitFor(async () => (await unpublishedCount(pool)) === 0, {
      timeoutMs: 30_000,
      message: 'the rows after the fence published',
    });
    expect(relay.leading).toBe(true);
    const log = captured.lines.join('');
    expect(log).toContain('fenced by another relay with the same transactional id');
    expect(log.match(/"msg":"leading the outbox relay"/g)).toHaveLength(2);
    expectEachOnce(await readEvents(topics, 3), events('fenced', 3));
  });
});
