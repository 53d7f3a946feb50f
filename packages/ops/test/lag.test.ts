import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestTopics, deleteTestTopics, testKafka, uniqueName, waitFor } from '@hitl/testkit';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { consumerGroupLag, type GroupLag } from '../src';
import { brokerLag, type BrokerLagRow } from './broker';

const PARTITIONS = 3;
const PER_PARTITION = 30;

let kafka: Kafka;
let admin: Admin;
const topic = uniqueName('ops-lag');
const consumers: Consumer[] = [];

beforeAll(async () => {
  kafka = testKafka();
  admin = kafka.admin();
  await admin.connect();
  await createTestTopics([{ topic, numPartitions: PARTITIONS }]);
});

afterAll(async () => {
  for (const consumer of consumers) await consumer.disconnect();
  await admin.disconnect();
  await deleteTestTopics([topic]);
});

async function produce(perPartition: number): Promise<void> {
  // Idempotent: a send retried after a timeout on a loaded machine must not write its records twice
  // (the figures below count them exactly).
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: Array.from({ length: PARTITIONS * perPartition }, (_, i) => ({
        partition: i % PARTITIONS,
        value: `record ${i}`,
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * A group that reads the topic and commits, per partition, after the first `commits[p]` records
 * (none where it is 0), then leaves.
 */
async function consumeSome(groupId: string, commits: readonly number[]): Promise<void> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Array<number>(PARTITIONS).fill(0);
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      seen[partition]!++;
      if (seen[partition] === commits[partition]) {
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
      }
    },
  });
  await waitFor(() => seen.every((n) => n >= PER_PARTITION), {
    timeoutMs: 30_000,
    message: 'all records read',
  });
  await consumer.disconnect();
}

/** Only the partitions with a committed offset: the ones the broker's tool lists. */
function committedRows(groups: readonly GroupLag[]): BrokerLagRow[] {
  return groups.flatMap((g) =>
    g.topics.flatMap((t) =>
      t.partitions
        .filter((p) => p.committed !== null)
        .map((p) => ({
          group: g.groupId,
          topic: t.topic,
          partition: p.partition,
          committed: p.committed!,
          logEnd: p.logEnd,
          lag: p.lag!,
        })),
    ),
  );
}

const order = (rows: BrokerLagRow[]) =>
  [...rows].sort((a, b) => `${a.group}/${a.partition}`.localeCompare(`${b.group}/${b.partition}`));

describe('consumer group lag', () => {
  it('agrees with the broker, for a group that left and one that is consuming', async () => {
    await produce(PER_PARTITION);
    const gone = uniqueName('ops-lag-gone');
    await consumeSome(gone, [10, 25, 0]);

    // A live group: it reads everything, then stops fetching while it stays in the group.
    const live = uniqueName('ops-lag-live');
    const consumer = kafka.consumer({ groupId: live, maxWaitTimeInMs: 100 });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let read = 0;
    await consumer.run({
      eachMessage: async () => {
        read++;
      },
    });
    await waitFor(() => read >= PARTITIONS * PER_PARTITION, {
      timeoutMs: 30_000,
      message: 'live group read all',
    });
    await waitFor(
      async () => (await consumerGroupLag(admin, { groupIds: [live], topics: [topic] }))[0]?.lag === 0,
      { timeoutMs: 30_000, message: 'live group committed all' },
    );
    consumer.pause([{ topic }]);
    await produce(5);

    const ours = await consumerGroupLag(admin, { groupIds: [gone, live], topics: [topic] });
    const broker = await brokerLag([gone, live]);

    expect(order(committedRows(ours))).toEqual(order(broker));
    // And the figures are the ones this test made happen.
    const [goneLag, liveLag] = ours;
    expect(goneLag).toMatchObject({
      groupId: gone,
      state: 'Empty',
      members: 0,
      lag: 25 + 10,
      topics: [
        {
          topic,
          partitions: [
            { partition: 0, committed: 10, logEnd: 35, lag: 25 },
            { partition: 1, committed: 25, logEnd: 35, lag: 10 },
          ],
        },
      ],
    });
    expect(liveLag).toMatchObject({ groupId: live, state: 'Stable', members: 1, lag: 3 * 5 });
    expect(liveLag!.topics[0]!.partitions.map((p) => p.lag)).toEqual([5, 5, 5]);
  });

  it('finds the topics of a group by itself, and filters groups by prefix', async () => {
    const prefix = uniqueName('ops-lag-prefix');
    await consumeSome(`${prefix}-a`, [PER_PARTITION, 1, 2]);
    // Every topic on the broker is looked at: the test's own topic must be among the group's.
    const found = await consumerGroupLag(admin, { groupPrefix: prefix });
    expect(found.map((g) => g.groupId)).toEqual([`${prefix}-a`]);
    expect(found[0]!.error).toBeUndefined();
    expect(found[0]!.topics.map((t) => t.topic)).toEqual([topic]);
    const broker = await brokerLag([`${prefix}-a`]);
    expect(order(committedRows(found))).toEqual(order(broker));
  });
});
