import { describe, expect, it } from '@jest/globals';
import { Kafka, logLevel } from 'kafkajs';
import { createTestTopics, deleteTestTopics, kafkaBrokers, uniqueName, waitFor } from '../src/index';

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
});
