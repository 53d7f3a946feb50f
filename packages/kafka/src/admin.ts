import { allTopics, type TopicSpec } from '@hitl/contracts';
import {
  ConfigResourceTypes,
  ConfigSource,
  type Admin,
  type IResourceConfig,
  type ITopicConfig,
  type Kafka,
} from 'kafkajs';
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
  /** Default: every topic of the catalog, with its retention. */
  topics?: readonly (Pick<TopicSpec, 'name' | 'partitions'> & { retentionMs?: number })[];
  /** 1 on a single broker; 3 in production. */
  replicationFactor?: number;
  /** retention.ms by topic name, over the topics' own (KAFKA_TOPIC_RETENTION_MS). */
  retentionMs?: Readonly<Record<string, number>>;
}

const RETENTION_MS = 'retention.ms';

/**
 * Creates the topics that do not exist yet, with their retention.ms; returns the names it created.
 * A topic that exists and has no retention.ms of its own (it runs on the broker's default, 7 days
 * unless changed) gets the one it should have, its other settings kept; one whose retention.ms was
 * set (by an operator, or an earlier run) is left as it is.
 */
export async function ensureTopics({
  kafka,
  logger,
  topics = allTopics,
  replicationFactor = 1,
  retentionMs = {},
}: EnsureTopicsOptions): Promise<string[]> {
  const retentionOf = (t: { name: string; retentionMs?: number }) => retentionMs[t.name] ?? t.retentionMs;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await createTopicsWithLeaders(
        admin,
        missing.map((t) => {
          const retention = retentionOf(t);
          return {
            topic: t.name,
            numPartitions: t.partitions,
            replicationFactor,
            ...(retention === undefined
              ? {}
              : { configEntries: [{ name: RETENTION_MS, value: String(retention) }] }),
          };
        }),
      );
    }
    for (const t of missing) {
      logger.info({ topic: t.name, partitions: t.partitions, retentionMs: retentionOf(t) }, 'topic created');
    }
    const present = topics.filter((t) => existing.has(t.name) && retentionOf(t) !== undefined);
    const wanted = present.map((t) => ({ name: t.name, retentionMs: retentionOf(t)! }));
    for (const t of await setMissingRetention(admin, logger, wanted)) {
      logger.info({ topic: t.name, retentionMs: t.retentionMs }, 'topic retention set');
    }
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}

/** Sets retention.ms on the topics that have none of their own; returns those it set. */
async function setMissingRetention(
  admin: Admin,
  logger: Logger,
  topics: readonly { name: string; retentionMs: number }[],
): Promise<{ name: string; retentionMs: number }[]> {
  if (topics.length === 0) return [];
  const { resources } = await admin.describeConfigs({
    resources: topics.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t.name })),
    includeSynonyms: false,
  });
  const changes: IResourceConfig[] = [];
  const set: { name: string; retentionMs: number }[] = [];
  for (const t of topics) {
    const entries = resources.find((r) => r.resourceName === t.name)?.configEntries ?? [];
    // The topic's own settings: AlterConfigs replaces them all, so they go along unchanged.
    const own = entries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG);
    if (own.some((e) => e.configName === RETENTION_MS)) continue;
    // A secret's value is not given back, so it could not be kept: leave such a topic to its operator.
    if (own.some((e) => e.isSensitive)) {
      logger.warn({ topic: t.name }, 'topic has a sensitive setting of its own: retention.ms not set');
      continue;
    }
    changes.push({
      type: ConfigResourceTypes.TOPIC,
      name: t.name,
      configEntries: [
        ...own.map((e) => ({ name: e.configName, value: e.configValue })),
        { name: RETENTION_MS, value: String(t.retentionMs) },
      ],
    });
    set.push(t);
  }
  if (changes.length > 0) await admin.alterConfigs({ validateOnly: false, resources: changes });
  return set;
}
