import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';

export interface PartitionLag {
  partition: number;
  /** Next offset to be written. */
  highWatermark: bigint;
  /** Next offset the group will read (committed), or the log start when it committed none. */
  committed: bigint;
  lag: bigint;
}

/** Lag of a consumer group on a topic, per partition, from committed offsets and high watermarks. */
export async function fetchConsumerLag(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<PartitionLag[]> {
  const [ends, groupOffsets] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const committed = new Map<number, string>();
  for (const p of groupOffsets[0]?.partitions ?? []) committed.set(p.partition, p.offset);
  return ends.map((end) => {
    const high = BigInt(end.high);
    const low = BigInt(end.low);
    const c = committed.get(end.partition);
    const next = c === undefined || c === '-1' ? low : BigInt(c);
    return {
      partition: end.partition,
      highWatermark: high,
      committed: next,
      lag: high > next ? high - next : 0n,
    };
  });
}

export interface LagMonitorOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  gauge: Gauge<'topic' | 'partition' | 'group'>;
  intervalMs: number;
  logger: Logger;
}

/** Samples a group's lag every interval into a gauge: it keeps moving when the consumer is stuck. */
export class LagMonitor {
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;

  constructor(private readonly options: LagMonitorOptions) {}

  async start(): Promise<void> {
    this.admin = this.options.kafka.admin();
    await this.admin.connect();
    this.timer = setInterval(() => {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async sample(): Promise<void> {
    const { groupId, topic, gauge, logger } = this.options;
    if (!this.admin) return;
    try {
      for (const p of await fetchConsumerLag(this.admin, groupId, topic)) {
        gauge.set({ topic, group: groupId, partition: String(p.partition) }, Number(p.lag));
      }
    } catch (error) {
      logger.debug({ err: error, topic, groupId }, 'lag sample failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampling;
    await this.admin?.disconnect();
    this.admin = undefined;
  }
}
