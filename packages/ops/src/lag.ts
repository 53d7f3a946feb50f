// Consumer groups' lag as the broker sees it: each group's committed offsets against the log-end
// offsets (high watermarks) of the partitions, the figures Kafka's own consumer-group tool prints.
import { AssignerProtocol, type Admin, type GroupDescription } from 'kafkajs';
import { mapLimit } from './limit';

export interface PartitionLag {
  partition: number;
  /** The next offset the group will read, or null when it has committed none on this partition. */
  committed: number | null;
  /** The partition's high watermark: the offset of the next record written. */
  logEnd: number;
  /** logEnd − committed; null without a committed offset (as the broker's tool prints "-"). */
  lag: number | null;
}

export interface TopicLag {
  topic: string;
  /** The sum of the partitions' known lags. */
  lag: number;
  partitions: PartitionLag[];
}

export interface GroupLag {
  groupId: string;
  /** The broker's group state: Stable, Empty, PreparingRebalance, Dead... */
  state: string;
  members: number;
  /** The sum over its topics. */
  lag: number;
  topics: TopicLag[];
  /** Why the group's offsets could not be read (a topic deleted meanwhile, a coordinator moving). */
  error?: string;
}

export interface ConsumerGroupLagOptions {
  /** These groups only (default: every group the brokers know). */
  groupIds?: readonly string[];
  /** Groups whose id starts with this only. */
  groupPrefix?: string;
  /**
   * The topics to read committed offsets for (default: every topic but Kafka's internal ones).
   * Kafka's OffsetFetch can answer "all topics of the group", but kafkajs only asks for named
   * ones; the topics a member is assigned are always added.
   */
  topics?: readonly string[];
  /** Groups read at once (default 8). */
  concurrency?: number;
}

function assignedTopics(group: GroupDescription): Set<string> {
  const assigned = new Set<string>();
  if (group.protocolType !== 'consumer') return assigned;
  for (const member of group.members) {
    if (member.memberAssignment.length === 0) continue;
    const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    for (const topic of Object.keys(decoded?.assignment ?? {})) assigned.add(topic);
  }
  return assigned;
}

/** The group ids to report: the ones asked for, or every group on the cluster, sorted. */
async function groupIdsOf(admin: Admin, opts: ConsumerGroupLagOptions): Promise<string[]> {
  const ids = opts.groupIds ?? (await admin.listGroups()).groups.map((g) => g.groupId);
  const prefix = opts.groupPrefix;
  return [...new Set(ids)].filter((id) => prefix === undefined || id.startsWith(prefix)).sort();
}

/**
 * Lag of consumer groups per topic and partition. Committed offsets are read first and log ends
 * after, so under traffic a lag may include records written in between, never fewer.
 */
export async function consumerGroupLag(
  admin: Admin,
  opts: ConsumerGroupLagOptions = {},
): Promise<GroupLag[]> {
  const concurrency = opts.concurrency ?? 8;
  const groupIds = await groupIdsOf(admin, opts);
  if (groupIds.length === 0) return [];
  const descriptions = new Map<string, GroupDescription>();
  for (let i = 0; i < groupIds.length; i += 100) {
    const { groups } = await admin.describeGroups(groupIds.slice(i, i + 100));
    for (const group of groups) descriptions.set(group.groupId, group);
  }
  const listTopics = async () => (await admin.listTopics()).filter((t) => !t.startsWith('__'));
  let topics = opts.topics ?? (await listTopics());

  // Committed offsets of each group (only the partitions where it committed one, or is assigned).
  const committed = await mapLimit(groupIds, concurrency, async (groupId) => {
    const description = descriptions.get(groupId);
    const assigned = description ? assignedTopics(description) : new Set<string>();
    try {
      const fetched = await fetchCommitted(groupId, assigned);
      const byTopic = fetched
        .map(({ topic, partitions }) => ({
          topic,
          partitions: partitions
            .map((p) => ({ partition: p.partition, offset: Number(p.offset) }))
            .filter((p) => p.offset >= 0 || assigned.has(topic)),
        }))
        .filter((t) => t.partitions.length > 0);
      return { groupId, byTopic };
    } catch (error) {
      return { groupId, byTopic: [], error: error instanceof Error ? error.message : String(error) };
    }
  });

  // A topic found by listing can be deleted before its offsets are fetched, and the broker then
  // refuses the whole request: list again and retry, a few times, before reporting the error.
  async function fetchCommitted(groupId: string, assigned: ReadonlySet<string>) {
    for (let attempt = 1; ; attempt++) {
      const wanted = [...new Set([...topics, ...assigned])];
      try {
        return wanted.length > 0 ? await admin.fetchOffsets({ groupId, topics: wanted }) : [];
      } catch (error) {
        const deleted = (error as { type?: unknown }).type === 'UNKNOWN_TOPIC_OR_PARTITION';
        if (!deleted || opts.topics !== undefined || attempt >= 3) throw error;
        topics = await listTopics();
      }
    }
  }

  // Log ends of the topics some group committed on, one read per topic.
  const needed = [...new Set(committed.flatMap((g) => g.byTopic.map((t) => t.topic)))];
  const ends = new Map<string, Map<number, number>>();
  await mapLimit(needed, concurrency, async (topic) => {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends.set(topic, new Map(offsets.map((o) => [o.partition, Number(o.high)])));
    } catch {
      // Deleted since its offsets were read: it drops out of every group's figures.
    }
  });

  return committed.map(({ groupId, byTopic, error }) => {
    const description = descriptions.get(groupId);
    const topicLags: TopicLag[] = byTopic
      .map(({ topic, partitions }) => {
        const topicEnds = ends.get(topic) ?? new Map<number, number>();
        const rows: PartitionLag[] = partitions
          .filter((p) => topicEnds.has(p.partition))
          .map((p) => {
            const logEnd = topicEnds.get(p.partition)!;
            const known = p.offset >= 0;
            return {
              partition: p.partition,
              committed: known ? p.offset : null,
              logEnd,
              lag: known ? Math.max(logEnd - p.offset, 0) : null,
            };
          })
          .sort((a, b) => a.partition - b.partition);
        return { topic, lag: rows.reduce((n, r) => n + (r.lag ?? 0), 0), partitions: rows };
      })
      .sort((a, b) => a.topic.localeCompare(b.topic));
    return {
      groupId,
      state: description?.state ?? 'Unknown',
      members: description?.members.length ?? 0,
      lag: topicLags.reduce((n, t) => n + t.lag, 0),
      topics: topicLags,
      ...(error === undefined ? {} : { error }),
    };
  });
}
