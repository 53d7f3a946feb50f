import { allTopics, type TopicSpec } from '@hitl/contracts';
import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { sleep } from './backoff';

const LEADER_WAIT_MS = 30_000;

/** True when every partition of every topic is in the metadata with a leader. */
async function leadersElected(admin: Admin, topics: readonly ITopicConfig[]): Promise<boolean> {
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
  return topics.every((t) => {
    const partitions = metadata.find((m) => m.name === t.topic)?.partitions ?? [];
    return partitions.length >= (t.numPartitions ?? 1) && partitions.every((p) => p.leader >= 0);
  });
}

/**
 * Creates the topics (those that exist already are left as they are) and waits until each
 * partition has a leader. kafkajs's own waitForLeaders gives up at once when the broker answers
 * UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker does for a moment after the controller created
 * the topic; here every retriable metadata error is waited out, up to timeoutMs.
 */
export async function createTopicsWithLeaders(
  admin: Admin,
  topics: readonly ITopicConfig[],
  { timeoutMs = LEADER_WAIT_MS }: { timeoutMs?: number } = {},
): Promise<void> {
  if (topics.length === 0) return;
  await admin.createTopics({ topics: [...topics], waitForLeaders: false });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let lastError: unknown;
    try {
      if (await leadersElected(admin, topics)) return;
    } catch (error) {
      if ((error as { retriable?: unknown }).retriable !== true) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const names = topics.map((t) => t.topic).join(', ');
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`topics ${names} have no leader for every partition after ${timeoutMs} ms${detail}`);
    }
    await sleep(100);
  }
}

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
      await createTopicsWithLeaders(
        admin,
        missing.map((t) => ({ topic: t.name, numPartitions: t.partitions, replicationFactor })),
      );
    }
    for (const t of missing) logger.info({ topic: t.name, partitions: t.partitions }, 'topic created');
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}
