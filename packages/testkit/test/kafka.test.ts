import { describe, expect, it } from '@jest/globals';
import { Kafka, logLevel } from 'kafkajs';
import {
  createTestTopics,
  deleteTestTopics,
  kafkaBrokers,
  uniqueName,
  uniqueTestTopics,
  waitFor,
} from '../src/index';

describe('test topics', () => {
  it('creates topics with the requested partitions and deletes them', async () => {
    const wide = uniqueName('testkit-wide');
    const narrow = uniqueName('testkit-narrow');
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await createTestTopics([{ topic: wide, numPartitions: 3 }, { topic: narrow }]);
      const { topics } = await admin.fetchTopicMetadata({ topics: [wide, narrow] });
      const partitions = Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
      expect(partitions).toEqual({ [wide]: 3, [narrow]: 1 });

      await deleteTestTopics([wide, narrow, uniqueName('never-created')]);
      await waitFor(async () => !(await admin.listTopics()).some((t) => t === wide || t === narrow), {
        message: 'topics to disappear',
      });
    } finally {
      await admin.disconnect();
    }
  });

  it('names, creates and cleans up a test’s own topics', async () => {
    const t = await uniqueTestTopics({ events: 3, dlq: 1 });
    expect(t.events).toMatch(/^events-/);
    expect(t.dlq).toMatch(/^dlq-/);
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [t.events, t.dlq] });
      const partitions = Object.fromEntries(topics.map((x) => [x.name, x.partitions.length]));
      expect(partitions).toEqual({ [t.events]: 3, [t.dlq]: 1 });
      await t.cleanup();
      await waitFor(async () => !(await admin.listTopics()).some((x) => x === t.events || x === t.dlq), {
        message: 'topics to disappear',
      });
    } finally {
      await admin.disconnect();
    }
  });
});
