import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { kafkaBrokers } from './env';
import { uniqueName } from './names';
import { waitFor } from './wait';

export interface ReadRecord {
  key: string | null;
  value: Buffer | null;
  partition: number;
  offset: string;
  /** Broker append time (or create time) in ms. */
  timestamp: number;
}

/** A read record's value parsed as JSON. */
export function jsonValue<T>(record: ReadRecord): T {
  return JSON.parse(record.value!.toString()) as T;
}

/**
 * Reads a topic from the start with a throwaway group, read_committed (records of aborted
 * transactions never show), collecting records as they arrive while the test goes on.
 */
export class TopicReader {
  readonly records: ReadRecord[] = [];
  private readonly consumer: Consumer;

  private constructor(readonly topic: string) {
    const kafka = new Kafka({
      clientId: 'hitl-test-reader',
      brokers: kafkaBrokers(),
      logLevel: logLevel.NOTHING,
    });
    this.consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 200 });
  }

  static async start(topic: string): Promise<TopicReader> {
    const reader = new TopicReader(topic);
    await reader.consumer.connect();
    await reader.consumer.subscribe({ topic, fromBeginning: true });
    await reader.consumer.run({
      eachMessage: async ({ message, partition }) => {
        reader.records.push({
          key: message.key?.toString() ?? null,
          value: message.value,
          partition,
          offset: message.offset,
          timestamp: Number(message.timestamp),
        });
      },
    });
    return reader;
  }

  /** The values parsed as JSON. */
  values<T>(): T[] {
    return this.records.map((r) => jsonValue<T>(r));
  }

  /** Waits until `count` records arrived, then `settleMs` more so that extra ones would show. */
  async waitForCount(count: number, opts: { timeoutMs?: number; settleMs?: number } = {}): Promise<void> {
    await waitFor(() => this.records.length >= count, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      message: `${count} records on ${this.topic}`,
    });
    if (opts.settleMs) await new Promise((resolve) => setTimeout(resolve, opts.settleMs));
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

/** Reads `count` records of a topic from the start, then settleMs more (to see duplicates). */
export async function readTopic(
  topic: string,
  count: number,
  opts: { timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadRecord[]> {
  const reader = await TopicReader.start(topic);
  try {
    await reader.waitForCount(count, opts);
    return [...reader.records];
  } finally {
    await reader.stop();
  }
}
