import { allTopics, RETAIN_FOREVER, topics } from '@hitl/contracts';
import { deleteTestTopics, kafkaBrokers, uniqueName } from '@hitl/testkit';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigResourceTypes, type Admin, type Kafka } from 'kafkajs';
import { createKafka, createTopicsWithLeaders, ensureTopics, loadTopicRetention } from '../src';
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

/** Each topic's settings as the broker describes them, by name. */
async function topicConfigs(
  admin: Admin,
  names: readonly string[],
): Promise<Record<string, Record<string, string>>> {
  const { resources } = await admin.describeConfigs({
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    includeSynonyms: false,
  });
  return Object.fromEntries(
    resources.map((r) => [
      r.resourceName,
      Object.fromEntries(r.configEntries.map((e) => [e.configName, e.configValue])),
    ]),
  );
}

describe('ensureTopics: retention', () => {
  // The catalog's topics under names of their own, each with the catalog's retention.
  const catalog = allTopics.map((t) => ({ ...t, name: uniqueName(t.name), partitions: 1 }));
  const existing = [uniqueName('retention-unset'), uniqueName('retention-own')];
  let kafka: Kafka;
  beforeAll(() => {
    kafka = createKafka({
      brokers: kafkaBrokers(),
      clientId: 'retention-test',
      logger,
      kafkaLogLevel: 'error',
    });
  });
  afterAll(() => deleteTestTopics([...catalog.map((t) => t.name), ...existing]));

  const withAdmin = async <T>(fn: (admin: Admin) => Promise<T>): Promise<T> => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  };

  it('creates each catalog topic with its retention.ms, corrections kept forever, overrides applied', async () => {
    const decisions = catalog.find((t) => t.name.startsWith(topics.decisions.name))!;
    await ensureTopics({ kafka, logger, topics: catalog, retentionMs: { [decisions.name]: 3_600_000 } });
    const configs = await withAdmin((admin) =>
      topicConfigs(
        admin,
        catalog.map((t) => t.name),
      ),
    );
    for (const t of catalog) {
      const expected = t === decisions ? 3_600_000 : t.retentionMs;
      expect([t.name, configs[t.name]?.['retention.ms']]).toEqual([t.name, String(expected)]);
    }
    expect(topics.corrections.retentionMs).toBe(RETAIN_FOREVER);
    expect(topics.events.retentionMs).toBeLessThan(topics.decisions.retentionMs);
  });

  it('gives an existing topic without a retention.ms of its own one, keeping its other settings; leaves one set alone', async () => {
    await withAdmin((admin) =>
      createTopicsWithLeaders(admin, [
        {
          topic: existing[0]!,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '2000000' }],
        },
        { topic: existing[1]!, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '60000' }] },
      ]),
    );
    const created = await ensureTopics({
      kafka,
      logger,
      topics: existing.map((name) => ({ name, partitions: 1, retentionMs: 86_400_000 })),
    });
    expect(created).toEqual([]);
    const configs = await withAdmin((admin) => topicConfigs(admin, existing));
    expect(configs[existing[0]!]).toMatchObject({
      'retention.ms': '86400000',
      'max.message.bytes': '2000000',
    });
    expect(configs[existing[1]!]?.['retention.ms']).toBe('60000');
  });
});

describe('loadTopicRetention', () => {
  it('reads topic=ms pairs, -1 for forever, and names the variable on a problem', () => {
    expect(loadTopicRetention({})).toEqual({});
    expect(
      loadTopicRetention({ KAFKA_TOPIC_RETENTION_MS: ' hitl.events.v1=259200000, hitl.decisions.v1=-1,' }),
    ).toEqual({ 'hitl.events.v1': 259_200_000, 'hitl.decisions.v1': -1 });
    expect(() => loadTopicRetention({ KAFKA_TOPIC_RETENTION_MS: 'hitl.event.v1=1' })).toThrow(
      /KAFKA_TOPIC_RETENTION_MS: hitl.event.v1 is not a catalog topic/,
    );
    expect(() => loadTopicRetention({ KAFKA_TOPIC_RETENTION_MS: 'hitl.events.v1=7d' })).toThrow(
      /KAFKA_TOPIC_RETENTION_MS: must be topic=ms pairs/,
    );
  });
});
