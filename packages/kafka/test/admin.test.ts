import { topics } from '@hitl/contracts';
import { deleteTestTopics, kafkaBrokers, uniqueName } from '@hitl/testkit';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createKafka, ensureTopics } from '../src';
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
