import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, migrate, promoteModelVersion, registerModelVersion } from '@hitl/db';
import type { SystemStatus } from '@hitl/ops';
import {
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  kafkaBrokers,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@hitl/testkit';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { parseHitlArgs } from '../src/index';
import { runCli, testKafka, textModelOnnx } from './helpers';

let db: TestDatabase | undefined;
let pool: Pool;
let kafka: Kafka;
let env: NodeJS.ProcessEnv;
const topic = uniqueName('cli-status');
const group = uniqueName('cli-status-group');
const modelId = uniqueName('cli-status-model');

/** Writes `perPartition` records to each of the topic's two partitions. */
async function produce(perPartition: number): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({
    topic,
    messages: Array.from({ length: 2 * perPartition }, (_, i) => ({ partition: i % 2, value: `r${i}` })),
  });
  await producer.disconnect();
}

/** The group commits after 4 records of partition 0 and 9 of partition 1, then leaves. */
async function consumeSome(): Promise<void> {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const commitAfter = [4, 9];
  const seen = [0, 0];
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      seen[partition]!++;
      if (seen[partition] === commitAfter[partition]) {
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
      }
    },
  });
  await waitFor(() => seen[0]! >= 10 && seen[1]! >= 10, { timeoutMs: 30_000, message: 'records read' });
  await consumer.disconnect();
}

async function addTask(eventId: string, status: 'open' | 'escalated', reason: string, ageSeconds: number) {
  await pool.query(
    `INSERT INTO review_tasks (event_id, stream, request, classes, reason, priority, policy_version,
                               required_reviewers, needed, status, requested_at)
     VALUES ($1, 'email', '{}', '{ham,spam}', $2, 0.5, 1, 1, 1, $3, now() - make_interval(secs => $4))`,
    [eventId, reason, status, ageSeconds],
  );
}

beforeAll(async () => {
  db = await createTestDatabase('hitl_cli_status');
  await migrate({ databaseUrl: db.url });
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'hitl-cli-status-test' });
  kafka = testKafka();
  env = { DATABASE_URL: db.url, KAFKA_BROKERS: kafkaBrokers().join(','), LOG_LEVEL: 'silent' };
  await createTestTopics([{ topic, numPartitions: 2 }]);
  await produce(10);
  await consumeSome();

  const version = await registerModelVersion(pool, {
    modelId,
    onnx: textModelOnnx(),
    classes: ['ham', 'spam'],
    inputKind: 'text',
    metrics: { macroF1: 0.91, accuracy: 0.93, evalExamples: 120 },
  });
  await promoteModelVersion(pool, modelId, version.version);
  await addTask('e-1', 'open', 'low_confidence', 7_200);
  await addTask('e-2', 'open', 'low_confidence', 60);
  await addTask('e-3', 'escalated', 'audit_sample', 600);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  await deleteTestTopics([topic]);
});

describe('hitl status', () => {
  const narrow = ['--group', group, '--topic', topic, '--model', modelId];

  it('prints lag per topic and partition, the review queue and the promoted model as JSON', async () => {
    const run = await runCli(['status', '--json', ...narrow], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.lines).toHaveLength(1);
    const status = run.lines[0] as unknown as SystemStatus;
    expect(status.consumerGroups).toEqual([
      {
        groupId: group,
        state: 'Empty',
        members: 0,
        lag: 6 + 1,
        topics: [
          {
            topic,
            lag: 7,
            partitions: [
              { partition: 0, committed: 4, logEnd: 10, lag: 6 },
              { partition: 1, committed: 9, logEnd: 10, lag: 1 },
            ],
          },
        ],
      },
    ]);
    expect(status.reviewQueue).toMatchObject({
      open: 2,
      escalated: 1,
      leased: 0,
      groups: [
        { status: 'open', reason: 'low_confidence', tasks: 2 },
        { status: 'escalated', reason: 'audit_sample', tasks: 1 },
      ],
    });
    expect(status.reviewQueue.oldestAgeSeconds).toBeGreaterThanOrEqual(7_200);
    expect(status.reviewQueue.oldestAgeSeconds).toBeLessThan(7_300);
    expect(status.models).toEqual([
      expect.objectContaining({
        modelId,
        versions: 1,
        promoted: expect.objectContaining({
          version: 1,
          metrics: { macroF1: 0.91, accuracy: 0.93, evalExamples: 120 },
        }),
        lastTraining: null,
      }),
    ]);

    // The lag moves with the topic: five more records on each partition.
    await produce(5);
    const later = (await runCli(['status', '--json', ...narrow], env)).lines[0] as unknown as SystemStatus;
    expect(later.consumerGroups[0]!.lag).toBe(7 + 10);
  });

  // After the test above: the lag is 17 now.
  it('prints tables for people by default', async () => {
    const run = await runCli(['status', ...narrow], env);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines).toContain('CONSUMER GROUPS (1)');
    const groupRow = lines.find((l) => l.startsWith(group));
    expect(groupRow?.split(/\s+/)).toEqual([group, 'Empty', '0', topic, '2', '17']);
    expect(lines).toContain('REVIEW QUEUE: 2 open, 1 escalated, 0 leased; oldest 2h');
    expect(lines.find((l) => l.startsWith('open'))?.split(/\s+/)).toEqual([
      'open',
      'low_confidence',
      '2',
      '2h',
    ]);
    const modelRow = lines.find((l) => l.startsWith(modelId))?.split(/\s+/);
    expect(modelRow?.slice(0, 2)).toEqual([modelId, 'v1']);
    expect(modelRow).toEqual(expect.arrayContaining(['0.91', '0.93', '120']));
  });

  it('needs KAFKA_BROKERS, and refuses options it does not know', async () => {
    const noKafka = await runCli(['status'], { DATABASE_URL: env['DATABASE_URL'], LOG_LEVEL: 'silent' });
    expect(noKafka.code).toBe(78);
    expect(noKafka.stderr).toContain('KAFKA_BROKERS');
    const typo = await runCli(['status', '--lag'], env);
    expect(typo.code).toBe(64);
    expect(typo.stderr).toContain('--lag');
  });

  it('parses its options', () => {
    expect(parseHitlArgs(['status'])).toEqual({ name: 'status', json: false });
    expect(
      parseHitlArgs([
        'status',
        '--json',
        '--group',
        'a',
        '--group',
        'b',
        '--group-prefix',
        'hitl-',
        '--model',
        'spam',
      ]),
    ).toEqual({ name: 'status', json: true, groupIds: ['a', 'b'], groupPrefix: 'hitl-', modelIds: ['spam'] });
    expect(() => parseHitlArgs(['status', '--topic', ' '])).toThrow('--topic needs a value');
  });
});
