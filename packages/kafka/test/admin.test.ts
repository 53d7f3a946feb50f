import { topics } from '@hitl/contracts';
import { deleteTestTopics, kafkaBrokers, uniqueName } from '@hitl/testkit';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createKafka, createTopicsWithLeaders, ensureTopics } from '../src';
import { logger } from './helpers';

describe('ensureTopics', () => {
  const names = [uniqueName('ensure-a'), uniqueName('ensure-b')];
  afterAll(() => deleteTestTopics(names));

  it('creates the missing topics with their partitions, and is a no-op the second time', async () => {
    const kafka = createKafka({
      brokers: kafkaBrokers(),
      clientId: 'ensure-test',
      logger,
      kafkaLogLevel: 'error',
    });
    const specs = [
      { name: names[0]!, partitions: 3 },
      { name: names[1]!, partitions: topics.models.partitions },
    ];
    expect((await ensureTopics({ kafka, logger, topics: specs })).sort()).toEqual([...names].sort());
    expect(await ensureTopics({ kafka, logger, topics: specs })).toEqual([]);
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: names });
    await admin.disconnect();
    expect(meta.topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual(
      [
        [names[0], 3],
        [names[1], 1],
      ].sort(),
    );
  });
});

describe('createTopicsWithLeaders', () => {
  const names = Array.from({ length: 12 }, (_, i) => uniqueName(`leaders-${i}`));
  afterAll(() => deleteTestTopics(names));

  it('returns only when every partition of each new topic has a leader, and leaves an existing topic alone', async () => {
    const kafka = createKafka({
      brokers: kafkaBrokers(),
      clientId: 'leaders-test',
      logger,
      kafkaLogLevel: 'error',
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      // One topic at a time, each read back at once: the moment right after creation is the one
      // in which a broker can still answer UNKNOWN_TOPIC_OR_PARTITION.
      for (const topic of names) {
        await createTopicsWithLeaders(admin, [{ topic, numPartitions: 6 }]);
        const {
          topics: [meta],
        } = await admin.fetchTopicMetadata({ topics: [topic] });
        expect(meta?.partitions).toHaveLength(6);
        expect(meta?.partitions.every((p) => p.leader >= 0)).toBe(true);
      }
      await createTopicsWithLeaders(admin, [{ topic: names[0]!, numPartitions: 6 }]);
      expect((await admin.fetchTopicMetadata({ topics: [names[0]!] })).topics[0]?.partitions).toHaveLength(6);
    } finally {
      await admin.disconnect();
    }
  });
});
