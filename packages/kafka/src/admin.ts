import { allTopics, type TopicSpec } from '@hitl/contracts';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

export interface EnsureTopicsOptions {
  kafka: Kafka;
  logger: Logger;
  /** Default: every topic of the catalog. */
  topics?: readonly Pick<TopicSpec, 'name' | 'partitions'>[];
  /** 1 on a single broker; 3 in production. */
  replicationFactor?: number;
}

/** Creates the topics that do not exist yet; returns the names it created. */
export async function ensureTopics({
  kafka,
  logger,
  topics = allTopics,
  replicationFactor = 1,
}: EnsureTopicsOptions): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions, replicationFactor })),
      });
    }
    for (const t of missing) logger.info({ topic: t.name, partitions: t.partitions }, 'topic created');
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}
