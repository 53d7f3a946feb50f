import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DeadLetter } from '@hitl/contracts';
import { createPool, migrate, redriveDeadLetters } from '@hitl/db';
import {
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  jsonValue,
  kafkaBrokers,
  readTopic,
  uniqueName,
  type TestDatabase,
} from '@hitl/testkit';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { REDRIVEN_FROM_HEADER } from '../src/index';
import { runCli, testKafka } from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
let kafka: Kafka;
let env: NodeJS.ProcessEnv;
const dlqTopic = uniqueName('cli-dlq');
const eventsTopic = uniqueName('cli-dlq-events');
const predictionsTopic = uniqueName('cli-dlq-predictions');
const HOUR = 3_600_000;

interface Letter {
  partition: number;
  sourceTopic: string;
  sourceOffset: number;
  code: string;
  /** The original value; null for a tombstone. */
  payload: string | null;
  key?: string;
  headers?: Record<string, string>;
  /** The dead letter kept only part of the payload. */
  cut?: boolean;
  /** When it was dead-lettered (default now). */
  timestamp?: number;
}

function deadLetter(l: Letter): DeadLetter {
  const payload = l.payload === null ? null : Buffer.from(l.payload);
  return {
    type: 'record.dead_lettered',
    version: 1,
    producedAt: new Date().toISOString(),
    data: {
      source: {
        topic: l.sourceTopic,
        partition: 0,
        offset: String(l.sourceOffset),
        key: l.key ?? `evt-${l.sourceOffset}`,
        timestamp: String(Date.now()),
      },
      consumerGroup: 'hitl-test',
      payloadBase64: payload && (l.cut ? payload.subarray(0, 10) : payload).toString('base64'),
      payloadBytes: payload?.length ?? 0,
      payloadTruncated: l.cut === true,
      headers: l.headers ?? {},
      error: { code: l.code, message: `${l.code} happened\nto this record` },
      attempts: 1,
    },
  };
}

async function writeDlq(records: { partition: number; value: Buffer; timestamp?: number }[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const r of records) {
      await producer.send({
        topic: dlqTopic,
        messages: [{ partition: r.partition, value: r.value, timestamp: String(r.timestamp ?? Date.now()) }],
      });
    }
  } finally {
    await producer.disconnect();
  }
}

const events = [1, 2].map((n) => JSON.stringify({ type: 'input.received', version: 1, data: { n } }));
// Where each record lands on the dead-letter topic (partition:offset), written in this order.
const letters: Letter[] = [
  {
    partition: 0,
    sourceTopic: eventsTopic,
    sourceOffset: 10,
    code: 'HITL_ERR_HANDLER_FAILED',
    payload: events[0]!,
    headers: { trace: 't-1' },
  }, // 0:0
  {
    partition: 1,
    sourceTopic: eventsTopic,
    sourceOffset: 11,
    code: 'HITL_ERR_HANDLER_FAILED',
    payload: events[1]!,
  }, // 1:0
  {
    partition: 2,
    sourceTopic: predictionsTopic,
    sourceOffset: 5,
    code: 'HITL_ERR_SCHEMA',
    payload: '{"a":1}',
  }, // 2:0
  {
    partition: 2,
    sourceTopic: eventsTopic,
    sourceOffset: 12,
    code: 'HITL_ERR_OVERSIZE',
    payload: '{"big":"' + 'x'.repeat(100) + '"}',
    cut: true,
  }, // 2:1
  { partition: 1, sourceTopic: eventsTopic, sourceOffset: 13, code: 'HITL_ERR_DECODE', payload: null }, // 1:1
  {
    partition: 0,
    sourceTopic: predictionsTopic,
    sourceOffset: 1,
    code: 'HITL_ERR_SCHEMA',
    payload: '{"old":true}',
    timestamp: Date.now() - 3 * HOUR,
  }, // 0:1
];

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli_dlq');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-dlq-test' });
  kafka = testKafka();
  env = {
    DATABASE_URL: db.url,
    KAFKA_BROKERS: kafkaBrokers().join(','),
    LOG_LEVEL: 'silent',
    DLQ_TOPIC: dlqTopic,
    // A relay of this test's own: others on the broker use the default names.
    OUTBOX_RELAY_ID: uniqueName('cli-dlq-relay'),
  };
  await createTestTopics([
    { topic: dlqTopic, numPartitions: 3 },
    { topic: eventsTopic, numPartitions: 2 },
    { topic: predictionsTopic, numPartitions: 1 },
  ]);
  await writeDlq([
    ...letters.map((l) => ({
      partition: l.partition,
      value: Buffer.from(JSON.stringify(deadLetter(l))),
      timestamp: l.timestamp,
    })),
    // Whatever else lands on the topic: 0:2 is not JSON, 1:2 is JSON but no dead letter.
    { partition: 0, value: Buffer.from('garbage \xff bytes') },
    { partition: 1, value: Buffer.from('{"type":"something.else"}') },
  ]);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  await deleteTestTopics([dlqTopic, eventsTopic, predictionsTopic]);
});

/** The dlq positions (partition:offset) of a text listing, in order. */
function positions(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('  ')[0]!);
}

async function redrivesRecorded(): Promise<string[]> {
  const { rows } = await pool.query<{ at: string }>(
    `SELECT dlq_partition || ':' || dlq_offset AS at FROM dlq_redrives WHERE dlq_topic = $1 ORDER BY 1`,
    [dlqTopic],
  );
  return rows.map((r) => r.at);
}

describe('hitl dlq list', () => {
  it('lists every record of the topic, one line each, a record that is no dead letter as INVALID', async () => {
    const run = await runCli(['dlq', 'list'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(8);
    // Oldest first: the three-hour-old dead letter leads.
    expect(positions(run.stdout)[0]).toBe('0:1');
    expect(positions(run.stdout).sort()).toEqual(['0:0', '0:1', '0:2', '1:0', '1:1', '1:2', '2:0', '2:1']);
    const line = (at: string) => lines.find((l) => l.startsWith(`${at}  `))!;
    expect(line('0:0')).toMatch(
      new RegExp(
        `^0:0  \\S+Z  ${eventsTopic}/0/10  HITL_ERR_HANDLER_FAILED  payload-whole  not-redriven  HITL_ERR_HANDLER_FAILED happened to this record$`,
      ),
    );
    expect(line('2:1')).toContain('HITL_ERR_OVERSIZE  payload-cut');
    expect(line('1:1')).toContain('HITL_ERR_DECODE  no-payload');
    expect(line('0:2')).toMatch(/INVALID {2}not a dead letter: not JSON/);
    expect(line('1:2')).toMatch(/INVALID {2}not a dead letter: not a dead letter \(/);
  });

  it('filters by code, source topic and time, and keeps the latest --limit', async () => {
    const byCode = await runCli(['dlq', 'list', '--code', 'HITL_ERR_SCHEMA'], env);
    expect(byCode.code).toBe(0);
    expect(positions(byCode.stdout)).toEqual(['0:1', '2:0']);

    const byTopic = await runCli(['dlq', 'list', '--topic', predictionsTopic, '--since', '2h'], env);
    expect(positions(byTopic.stdout)).toEqual(['2:0']);

    const since = new Date(Date.now() - 4 * HOUR).toISOString();
    const both = await runCli(
      ['dlq', 'list', '--topic', eventsTopic, '--code', 'HITL_ERR_HANDLER_FAILED', '--since', since],
      env,
    );
    expect(positions(both.stdout).sort()).toEqual(['0:0', '1:0']);

    const limited = await runCli(['dlq', 'list', '--limit', '2', '--code', 'HITL_ERR_SCHEMA'], env);
    expect(limited.code).toBe(0);
    expect(positions(limited.stdout)).toEqual(['0:1', '2:0']);
    expect(limited.stderr).toBe('');
    const latest = await runCli(['dlq', 'list', '--limit', '1', '--code', 'HITL_ERR_SCHEMA'], env);
    expect(positions(latest.stdout)).toEqual(['2:0']);
    expect(latest.stderr).toContain('showing the latest 1 of 2 matching records');
  });

  it('prints JSON lines with --json', async () => {
    const run = await runCli(['dlq', 'list', '--json', '--topic', predictionsTopic], env);
    expect(run.code).toBe(0);
    expect(run.lines).toEqual([
      expect.objectContaining({
        dlq: { topic: dlqTopic, partition: 0, offset: '1' },
        valid: true,
        source: expect.objectContaining({ topic: predictionsTopic, offset: '1' }),
        error: { code: 'HITL_ERR_SCHEMA', message: 'HITL_ERR_SCHEMA happened\nto this record' },
        payloadWhole: true,
        redriven: null,
      }),
      expect.objectContaining({ dlq: { topic: dlqTopic, partition: 2, offset: '0' }, valid: true }),
    ]);
    const invalid = await runCli(['dlq', 'list', '--json', '--since', '1h'], env);
    expect(invalid.lines.filter((l) => l.valid === false)).toEqual([
      expect.objectContaining({
        dlq: { topic: dlqTopic, partition: 0, offset: '2' },
        problem: expect.stringMatching(/^not JSON/),
      }),
      expect.objectContaining({ dlq: { topic: dlqTopic, partition: 1, offset: '2' } }),
    ]);
  });

  it('reads to the end of partitions written in transactions, without their aborted records', async () => {
    // Consumers write dead letters in Kafka transactions: each partition then ends in a commit
    // marker, an offset no record is read at.
    const topic = uniqueName('cli-dlq-tx');
    await createTestTopics([{ topic, numPartitions: 1 }]);
    const producer = kafka.producer({
      transactionalId: uniqueName('cli-dlq-tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    try {
      for (const [i, commit] of [true, false, true].entries()) {
        const letter = deadLetter({
          partition: 0,
          sourceTopic: eventsTopic,
          sourceOffset: 100 + i,
          code: 'HITL_ERR_SCHEMA',
          payload: '{}',
        });
        const transaction = await producer.transaction();
        await transaction.send({ topic, messages: [{ value: JSON.stringify(letter) }] });
        if (commit) await transaction.commit();
        else await transaction.abort();
      }
      const run = await runCli(['dlq', 'list', '--json'], { ...env, DLQ_TOPIC: topic });
      expect(run.code).toBe(0);
      expect(run.lines.map((l) => (l.source as { offset: string }).offset)).toEqual(['100', '102']);
    } finally {
      await producer.disconnect();
      await deleteTestTopics([topic]);
    }
  });

  it('refuses bad options with a usage error', async () => {
    const run = await runCli(['dlq', 'list', '--limit', '10001'], env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--limit must be at most 10000');
  });
});

describe('hitl dlq redrive', () => {
  it('sends each original back once, even when run twice', async () => {
    const first = await runCli(
      ['dlq', 'redrive', '--code', 'HITL_ERR_HANDLER_FAILED', '--actor', 'alice'],
      env,
    );
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const summary = (run: typeof first) => run.lines[run.lines.length - 1];
    expect(summary(first)).toEqual({
      dryRun: false,
      redriven: 2,
      alreadyRedriven: 0,
      refused: 0,
      published: 2,
    });
    expect(first.lines.slice(0, -1).map((l) => l.outcome)).toEqual(['redriven', 'redriven']);

    const second = await runCli(['dlq', 'redrive', '--code', 'HITL_ERR_HANDLER_FAILED'], env);
    expect(second.code).toBe(0);
    expect(summary(second)).toEqual({
      dryRun: false,
      redriven: 0,
      alreadyRedriven: 2,
      refused: 0,
      published: 0,
    });
    const third = await runCli(['dlq', 'redrive', '--offsets', '0:0,1:0'], env);
    expect(third.code).toBe(0);
    expect(summary(third)).toMatchObject({ redriven: 0, alreadyRedriven: 2 });

    // The source topic holds each original once, as it was (JSON value, key).
    const sent = await readTopic(eventsTopic, 2, { settleMs: 1_500 });
    expect(sent).toHaveLength(2);
    expect(sent.map((r) => r.key).sort()).toEqual(['evt-10', 'evt-11']);
    expect(
      sent.map((r) => jsonValue(r)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual(events.map((e) => JSON.parse(e) as unknown));
    // With its headers, and the dead letter it came from.
    const { rows } = await pool.query<{ headers: Record<string, string> }>(
      'SELECT headers FROM outbox WHERE topic = $1 AND key = $2',
      [eventsTopic, 'evt-10'],
    );
    expect(rows).toEqual([{ headers: { trace: 't-1', [REDRIVEN_FROM_HEADER]: `${dlqTopic}/0/0` } }]);

    expect(await redrivesRecorded()).toEqual(['0:0', '1:0']);
    const listed = await runCli(['dlq', 'list', '--code', 'HITL_ERR_HANDLER_FAILED', '--json'], env);
    expect(listed.lines.map((l) => l.redriven)).toEqual([
      expect.objectContaining({ by: 'alice', published: true }),
      expect.objectContaining({ by: 'alice', published: true }),
    ]);
  });

  it('refuses a cut or missing payload, a record that is no dead letter and an offset with none, and sends the rest', async () => {
    const dry = await runCli(['dlq', 'redrive', '--offsets', '2:0', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.lines).toEqual([
      expect.objectContaining({
        dlq: { topic: dlqTopic, partition: 2, offset: '0' },
        outcome: 'would redrive',
      }),
      { dryRun: true, redriven: 1, alreadyRedriven: 0, refused: 0, published: 0 },
    ]);
    expect(await redrivesRecorded()).not.toContain('2:0');

    const run = await runCli(['dlq', 'redrive', '--offsets', '2:1,1:1,0:2,2:0,2:99'], env);
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(
      /^error HITL_ERR_DLQ_REFUSED: 4 of the selected dead letters cannot be redriven/,
    );
    const outcome = (at: string) =>
      run.lines.find((l) => {
        const dlq = l.dlq as { partition: number; offset: string } | undefined;
        return dlq !== undefined && `${dlq.partition}:${dlq.offset}` === at;
      });
    expect(outcome('2:1')).toMatchObject({ outcome: 'refused', code: 'HITL_ERR_DLQ_PAYLOAD_TRUNCATED' });
    expect(outcome('1:1')).toMatchObject({ outcome: 'refused', code: 'HITL_ERR_DLQ_PAYLOAD_MISSING' });
    expect(outcome('0:2')).toMatchObject({
      outcome: 'refused',
      code: 'HITL_ERR_DLQ_NOT_A_DEAD_LETTER',
      source: null,
    });
    expect(outcome('2:99')).toMatchObject({ outcome: 'refused', code: 'HITL_ERR_DLQ_NOT_FOUND' });
    expect(outcome('2:0')).toMatchObject({ outcome: 'redriven' });
    expect(run.lines[run.lines.length - 1]).toEqual({
      dryRun: false,
      redriven: 1,
      alreadyRedriven: 0,
      refused: 4,
      published: 1,
    });
    // Nothing was recorded (nor sent) for the refused ones.
    expect(await redrivesRecorded()).toEqual(['0:0', '1:0', '2:0']);
    const predictions = await readTopic(predictionsTopic, 1, { settleMs: 1_000 });
    expect(predictions.map((r) => jsonValue(r))).toEqual([{ a: 1 }]);
  });

  it('publishes, once, what a run that crashed after its commit left in the outbox', async () => {
    // The crashed run recorded the redrive of 0:1 and enqueued its record, then never relayed.
    await redriveDeadLetters(
      pool,
      dlqTopic,
      [
        {
          at: { partition: 0, offset: '1' },
          source: { topic: predictionsTopic, partition: 0, offset: '1' },
          errorCode: 'HITL_ERR_SCHEMA',
          record: { topic: predictionsTopic, key: 'evt-1', value: { old: true } },
        },
      ],
      'crashed-run',
    );
    const repeat = await runCli(['dlq', 'redrive', '--offsets', '0:1'], env);
    expect(repeat.code).toBe(0);
    expect(repeat.lines[repeat.lines.length - 1]).toMatchObject({
      redriven: 0,
      alreadyRedriven: 1,
      published: 1,
    });
    const again = await runCli(['dlq', 'redrive', '--code', 'HITL_ERR_SCHEMA'], env);
    expect(again.lines[again.lines.length - 1]).toMatchObject({
      redriven: 0,
      alreadyRedriven: 2,
      published: 0,
    });
    const predictions = await readTopic(predictionsTopic, 2, { settleMs: 1_000 });
    expect(predictions.map((r) => jsonValue(r))).toEqual([{ a: 1 }, { old: true }]);
  });

  it('needs --code or --offsets', async () => {
    const run = await runCli(['dlq', 'redrive'], env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('needs --code or --offsets');
  });
});
