import type { Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { sendEncoded, type EncodedOutputs } from './producer';

/** Where a consumer group's offsets move to: next offset to read per topic and partition. */
export type OffsetCommit = Map<string, Map<number, string>>;

interface Pending {
  encoded: EncodedOutputs;
  offsets: OffsetCommit;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for one transactional producer: the outputs and input offsets of batches that
 * partitions handled concurrently go out in one Kafka transaction. A commit that arrives while a
 * transaction is open waits for it and then goes with every other waiting one in the next, so
 * the number of transactions adapts to the load instead of one per partition batch. Each caller
 * learns the outcome of the transaction that carried its part; when that one fails, all its
 * parts fail (and are tried again by their callers).
 */
export class TransactionBatcher {
  private queue: Pending[] = [];
  private draining = false;

  constructor(
    private readonly producer: Producer,
    private readonly groupId: string,
    private readonly log: Logger,
  ) {}

  commit(encoded: EncodedOutputs, offsets: OffsetCommit): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ encoded, offsets, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const parts = this.queue.splice(0);
        try {
          await this.transact(parts);
          for (const p of parts) p.resolve();
        } catch (error) {
          for (const p of parts) p.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async transact(parts: Pending[]): Promise<void> {
    const encoded: EncodedOutputs = new Map();
    const offsets: OffsetCommit = new Map();
    for (const part of parts) {
      for (const [topic, messages] of part.encoded) {
        const list = encoded.get(topic);
        if (list) list.push(...messages);
        else encoded.set(topic, [...messages]);
      }
      for (const [topic, partitions] of part.offsets) {
        const merged = offsets.get(topic) ?? new Map<number, string>();
        for (const [partition, offset] of partitions) merged.set(partition, offset);
        offsets.set(topic, merged);
      }
    }
    const transaction = await this.producer.transaction();
    try {
      await sendEncoded(transaction, encoded);
      await transaction.sendOffsets({
        consumerGroupId: this.groupId,
        topics: [...offsets].map(([topic, partitions]) => ({
          topic,
          partitions: [...partitions].map(([partition, offset]) => ({ partition, offset })),
        })),
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch((abortError: unknown) => {
        this.log.warn({ err: abortError }, 'transaction abort failed');
      });
      throw error;
    }
  }
}
