import {
  createPool,
  enqueueOutbox,
  getOutboxRelayState,
  migrate,
  withTransaction,
  type OutboxRecord,
} from '@hitl/db';
import {
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  TopicReader,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@hitl/testkit';
import { type Kafka } from 'kafkajs';
import type { Pool } from 'pg';

import { testKafka, testLogger } from '@hitl/testkit';

export { testKafka };
export const logger = testLogger;

/** A fresh, migrated database and a pool on it, for one test file. */
export async function testDatabase(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('hitl_outbox');
  await migrate({ databaseUrl: db.url });
  const pool = createPool({ connectionString: db.url, max: 8, applicationName: 'hitl-outbox-test' });
  return { db, pool };
}

/** What one relay (and its replicas) is named by: unique per test. */
export interface RelayNames {
  transactionalId: string;
  markerGroupId: string;
  markerTopic: string;
}

export function relayNames(): RelayNames {
  return {
    transactionalId: uniqueName('outbox-relay-tx'),
    markerGroupId: uniqueName('outbox-relay-marker'),
    markerTopic: uniqueName('outbox-relay-marker'),
  };
}

/** Two output topics of three partitions, like the review API's decisions and corrections. */
export async function outputTopics(): Promise<{
  decisions: string;
  corrections: string;
  cleanup(): Promise<void>;
}> {
  const decisions = uniqueName('outbox-decisions');
  const corrections = uniqueName('outbox-corrections');
  await createTestTopics([
    { topic: decisions, numPartitions: 3 },
    { topic: corrections, numPartitions: 3 },
  ]);
  return { decisions, corrections, cleanup: () => deleteTestTopics([decisions, corrections]) };
}

export interface TestValue {
  eventId: string;
  kind: 'decision' | 'correction';
}

/** A decision and its correction for one event, as the review API writes them. */
export function decisionRecords(
  topics: { decisions: string; corrections: string },
  eventId: string,
): OutboxRecord[] {
  return [
    {
      topic: topics.decisions,
      key: eventId,
      value: { eventId, kind: 'decision' },
      headers: { 'hitl-trace': `trace-${eventId}` },
    },
    { topic: topics.corrections, key: eventId, value: { eventId, kind: 'correction' } },
  ];
}

/** Enqueues the records in one committed transaction; returns their ids. */
export function enqueue(pool: Pool, records: OutboxRecord[]): Promise<string[]> {
  return withTransaction(pool, (client) => enqueueOutbox(client, records));
}

/**
 * Keeps committing transactions of one to three events (a decision and a correction each) until
 * stopped; `eventIds` holds the events of the committed ones.
 */
export function startWriter(
  pool: Pool,
  topics: { decisions: string; corrections: string },
  opts: {
    prefix: string;
    pauseMs?: number;
    onCommit?: () => void;
    /** Wait while more rows than this are unpublished (looked at every 20 writes). */
    maxBacklog?: number;
  },
) {
  const eventIds: string[] = [];
  let running = true;
  let n = 0;
  let writes = 0;
  const done = (async () => {
    while (running) {
      writes++;
      if (opts.maxBacklog !== undefined && writes % 20 === 1) {
        while (running && (await unpublishedCount(pool)) > opts.maxBacklog) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        if (!running) break;
      }
      const events = Array.from({ length: 1 + (n % 3) }, () => `${opts.prefix}-${n++}`);
      await enqueue(
        pool,
        events.flatMap((eventId) => decisionRecords(topics, eventId)),
      );
      eventIds.push(...events);
      opts.onCommit?.();
      await new Promise((resolve) => setTimeout(resolve, opts.pauseMs ?? 5));
    }
  })();
  return {
    eventIds,
    async stop(): Promise<void> {
      running = false;
      await done;
    },
  };
}

export async function unpublishedCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
  );
  return rows[0]!.n;
}

/**
 * Reads both topics read_committed until every event's decision and correction arrived, then a
 * while longer so that a duplicate would show; returns how often each (kind, event) was seen.
 */
export async function readEvents(
  topics: { decisions: string; corrections: string },
  eventCount: number,
  settleMs = 2_000,
): Promise<Map<string, number>> {
  const readers = [await TopicReader.start(topics.decisions), await TopicReader.start(topics.corrections)];
  try {
    const total = () => readers.reduce((n, r) => n + r.records.length, 0);
    await waitFor(() => total() >= 2 * eventCount, {
      timeoutMs: 60_000,
      message: `${2 * eventCount} records on ${topics.decisions} and ${topics.corrections}`,
    });
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const seen = new Map<string, number>();
    for (const reader of readers) {
      for (const v of reader.values<TestValue>()) {
        const id = `${v.kind}:${v.eventId}`;
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
    }
    return seen;
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
  }
}

/** Asserts each event's decision and correction were read exactly once, and nothing else. */
export function expectEachOnce(seen: Map<string, number>, eventIds: readonly string[]): void {
  const duplicates = [...seen].filter(([, n]) => n > 1);
  const expected = eventIds.flatMap((id) => [`decision:${id}`, `correction:${id}`]).sort();
  if (duplicates.length > 0)
    throw new Error(`read more than once: ${JSON.stringify(duplicates.slice(0, 10))}`);
  const missing = expected.filter((id) => !seen.has(id));
  if (missing.length > 0) throw new Error(`never read: ${JSON.stringify(missing.slice(0, 10))}`);
  const expectedSet = new Set(expected);
  const unexpected = [...seen.keys()].filter((id) => !expectedSet.has(id));
  if (unexpected.length > 0)
    throw new Error(`read but never enqueued: ${JSON.stringify(unexpected.slice(0, 10))}`);
}

/** The marker group's committed offset and metadata, as the relay reads it. */
export async function readMarker(
  kafka: Kafka,
  names: RelayNames,
): Promise<{ offset: string; metadata: string | null }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: names.markerGroupId, topics: [names.markerTopic] });
    const partition = offsets?.partitions.find((p) => p.partition === 0);
    return { offset: partition?.offset ?? '-1', metadata: partition?.metadata ?? null };
  } finally {
    await admin.disconnect();
  }
}

/** The outbox's identity, which the relay writes with its marker. */
export async function outboxId(pool: Pool): Promise<string> {
  return (await getOutboxRelayState(pool)).outboxId;
}

/** Forgets which relay led, as on a database no relay has led yet. */
export async function forgetRelay(pool: Pool): Promise<void> {
  await pool.query(
    'UPDATE outbox_relay SET transactional_id = NULL, marker_group_id = NULL, marker_topic = NULL, changed_at = NULL',
  );
}

/** Records `names` as the relay that last led, as if a relay so named had. */
export async function recordRelay(pool: Pool, names: RelayNames): Promise<void> {
  await pool.query('UPDATE outbox_relay SET transactional_id = $1, marker_group_id = $2, marker_topic = $3', [
    names.transactionalId,
    names.markerGroupId,
    names.markerTopic,
  ]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
