import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { kafkaBrokers, ProcessGroup, waitFor, waitForDrain, type TestDatabase } from '@hitl/testkit';
import type { Kafka } from 'kafkajs';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { OutboxRelay } from '../src/index';
import {
  expectEachOnce,
  forgetRelay,
  logger,
  outboxId,
  outputTopics,
  readEvents,
  readMarker,
  relayNames,
  sleep,
  startWriter,
  testDatabase,
  testKafka,
  unpublishedCount,
  type RelayNames,
} from './helpers';

const root = join(__dirname, '..');
const CRASH_APP = 'outbox-relay-crash';
const fixture = join(__dirname, 'fixtures', 'relay-process.ts');
const processes = new ProcessGroup();
const cleanups: (() => Promise<unknown>)[] = [];
let db: TestDatabase;
let pool: Pool;
let kafka: Kafka;

beforeAll(async () => {
  ({ db, pool } = await testDatabase());
  kafka = testKafka();
});

// Each test starts from an empty outbox that no relay has led: rows a failed test left behind,
// bound for its deleted topics, would otherwise hold up the next test's relay.
beforeEach(async () => {
  await pool.query('TRUNCATE outbox RESTART IDENTITY');
  await forgetRelay(pool);
});

afterEach(async () => {
  await processes.stopAll();
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

function startRelayProcess(names: RelayNames, applicationName: string) {
  return processes.start(fixture, {
    cwd: root,
    readyText: 'outbox relay process ready',
    env: {
      RELAY_SETTINGS: JSON.stringify({
        databaseUrl: db.url,
        brokers: kafkaBrokers(),
        ...names,
        batchSize: 10,
        pollIntervalMs: 50,
        applicationName,
      }),
    },
  });
}

/** The application name of the session holding this database's relay lock, if any. */
async function lockHolder(): Promise<string | null> {
  const { rows } = await pool.query<{ application_name: string }>(
    `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0]?.application_name ?? null;
}

/** Batches claimed and not stamped: a relay is between its claim and its stamp. */
async function claimedBatches(): Promise<number[]> {
  const { rows } = await pool.query<{ batch: string }>(
    'SELECT DISTINCT relay_batch AS batch FROM outbox WHERE published_at IS NULL AND relay_batch IS NOT NULL',
  );
  return rows.map((r) => Number(r.batch));
}

/**
 * Kills the relay process between a batch's Kafka commit and its stamp: holds the claimed rows'
 * locks so that the stamp waits (nothing else touches Postgres between claim and stamp, so the
 * relay is then past its commit), kills it, and ends its waiting backend before the stamp lands.
 */
async function killAfterKafkaCommit(relay: ChildProcess): Promise<void> {
  const blocker = await pool.connect();
  try {
    await blocker.query('BEGIN');
    await waitFor(
      async () => {
        const { rowCount } = await blocker.query(
          'SELECT id FROM outbox WHERE relay_batch IS NOT NULL AND published_at IS NULL FOR UPDATE',
        );
        return (rowCount ?? 0) > 0;
      },
      { intervalMs: 1, timeoutMs: 30_000, message: 'a claimed batch to hold' },
    );
    const stampWaiting = async () => {
      const { rows } = await pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [CRASH_APP],
      );
      return rows.map((r) => r.pid);
    };
    await waitFor(async () => (await stampWaiting()).length > 0, {
      intervalMs: 2,
      timeoutMs: 30_000,
      message: 'the stamp waiting',
    });
    await ProcessGroup.stop(relay, 'SIGKILL');
    for (const pid of await stampWaiting()) await pool.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await blocker.query('ROLLBACK');
    blocker.release();
  }
}

/** Where a kill landed, judged from what it left: for the log, the test asserts the outcome. */
async function killedWhere(names: RelayNames, outboxId: string): Promise<string> {
  const claimed = await claimedBatches();
  if (claimed.length === 0) return 'outside a batch';
  // Give a commit the broker had begun time to complete before the marker is read.
  await sleep(200);
  const marker = await readMarker(kafka, names);
  const committed = marker.metadata === outboxId ? Number(marker.offset) : 0;
  return claimed.every((b) => b <= committed) ? 'after the Kafka commit' : 'before the Kafka commit';
}

describe('relay process', () => {
  it('publishes every row exactly once across repeated kill -9 while rows keep coming', async () => {
    const topics = await outputTopics();
    cleanups.push(topics.cleanup);
    const names = relayNames();
    const id = await outboxId(pool);
    // At most 500 rows waiting: while the relay is down (a process starting takes seconds, longer
    // on a busy machine) the writer waits instead of building a backlog whose size is the
    // machine's speed.
    const writer = startWriter(pool, topics, { prefix: 'crash', pauseMs: 3, maxBacklog: 500 });
    cleanups.push(() => writer.stop());

    const kills: string[] = [];
    for (let round = 0; round < 9; round++) {
      const relay = await startRelayProcess(names, CRASH_APP);
      if (round % 3 === 0) {
        // At a random moment: starting, fencing, recovering, publishing or idle.
        await sleep(200 + Math.random() * 1_500);
        await ProcessGroup.stop(relay, 'SIGKILL');
      } else if (round % 3 === 1) {
        // Inside a batch: claimed, and not stamped, most likely before its Kafka commit.
        await waitFor(async () => (await claimedBatches()).length > 0, {
          intervalMs: 1,
          timeoutMs: 30_000,
          message: 'a batch in flight',
        });
        await sleep(Math.random() * 15);
        await ProcessGroup.stop(relay, 'SIGKILL');
      } else {
        await killAfterKafkaCommit(relay);
      }
      const where = await killedWhere(names, id);
      if (round % 3 === 2) expect(where).toBe('after the Kafka commit');
      kills.push(where);
    }
    await writer.stop();
    logger.info({ kills, rows: writer.eventIds.length * 2 }, 'kills');

    // A last run that is not killed publishes what is left, then stops on SIGTERM.
    const last = await startRelayProcess(names, CRASH_APP);
    await waitForDrain(() => unpublishedCount(pool), { message: 'rows not stamped published' });
    await ProcessGroup.stop(last, 'SIGTERM');
    expect(last.exitCode).toBe(0);

    expect(writer.eventIds.length).toBeGreaterThan(200);
    expectEachOnce(await readEvents(topics, writer.eventIds.length, 3_000), writer.eventIds);
  }, 180_000);

  it('hands over to a standby when the leader is killed with SIGKILL mid-batch', async () => {
    const topics = await outputTopics();
    cleanups.push(topics.cleanup);
    const names = relayNames();
    await startRelayProcess(names, 'outbox-relay-leader');
    await waitFor(async () => (await lockHolder()) === 'outbox-relay-leader', {
      message: 'the process leading',
    });
    const standby = new OutboxRelay({ pool, kafka, logger, ...names, batchSize: 10, pollIntervalMs: 50 });
    cleanups.push(() => standby.stop());
    await standby.start();
    const writer = startWriter(pool, topics, { prefix: 'handover', pauseMs: 3, maxBacklog: 500 });
    cleanups.push(() => writer.stop());

    await sleep(500);
    expect(standby.leading).toBe(false);
    await waitFor(async () => (await claimedBatches()).length > 0, {
      intervalMs: 1,
      timeoutMs: 30_000,
      message: 'a batch in flight',
    });
    await processes.stopAll('SIGKILL');
    await waitFor(() => standby.leading, { timeoutMs: 15_000, message: 'the standby leading' });
    await sleep(500);
    await writer.stop();
    await waitForDrain(() => unpublishedCount(pool), { message: 'rows not stamped published' });
    expectEachOnce(await readEvents(topics, writer.eventIds.length), writer.eventIds);
  }, 120_000);
});
