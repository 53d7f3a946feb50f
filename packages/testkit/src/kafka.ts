import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaBrokers } from './env';
import { uniqueName } from './names';
import { waitFor } from './wait';

export interface TestTopic {
  topic: string;
  /** Defaults to 1. */
  numPartitions?: number;
}

async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  // kafkajs logs every retry while a fresh broker loads its coordinators; tests see real errors anyway.
  const kafka = new Kafka({ clientId: 'hitl-testkit', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Creates the topics (replication from the broker default) and waits until every partition has a
 * leader. Not kafkajs's waitForLeaders: it gives up at once when the broker answers
 * UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker does for a moment after creating a topic. This
 * is @hitl/kafka's createTopicsWithLeaders, which the test kit cannot import: @hitl/kafka's own
 * tests depend on the test kit.
 */
export async function createTestTopics(topics: TestTopic[]): Promise<void> {
  if (topics.length === 0) return;
  await withAdmin(async (admin) => {
    await admin.createTopics({
      topics: topics.map(({ topic, numPartitions = 1 }) => ({ topic, numPartitions })),
      waitForLeaders: false,
    });
    await waitFor(
      async () => {
        const { topics: metadata } = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
        return topics.every(({ topic, numPartitions = 1 }) => {
          const partitions = metadata.find((m) => m.name === topic)?.partitions ?? [];
          return partitions.length >= numPartitions && partitions.every((p) => p.leader >= 0);
        });
      },
      { timeoutMs: 30_000, intervalMs: 50, message: 'a leader for every partition of the new topics' },
    );
  });
}

/** Deletes the topics that exist; names that do not are ignored so teardown can run after a failed setup. */
export async function deleteTestTopics(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await withAdmin(async (admin) => {
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((name) => existing.has(name));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  });
}

export type UniqueTestTopics<K extends string> = Record<K, string> & {
  /** Deletes the topics (those that exist). */
  cleanup(): Promise<void>;
};

/**
 * A test's own topics: a unique name for each key (the key as its prefix), created with the
 * partitions given, and a cleanup that deletes them.
 */
export async function uniqueTestTopics<K extends string>(
  partitions: Record<K, number>,
): Promise<UniqueTestTopics<K>> {
  const keys = Object.keys(partitions) as K[];
  const names = Object.fromEntries(keys.map((k) => [k, uniqueName(k)])) as Record<K, string>;
  const all = keys.map((k) => names[k]);
  await createTestTopics(keys.map((k) => ({ topic: names[k], numPartitions: partitions[k] })));
  return { ...names, cleanup: () => deleteTestTopics(all) };
}
