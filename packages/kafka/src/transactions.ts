import type { Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { isFencedError } from './errors';
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
 *
 * The batcher owns its transactional producer. When a transaction fails and cannot be aborted, or
 * the producer cannot begin one, the producer may be stuck in a state it never leaves (a broker
 * crash during a commit leaves kafkajs' producer "COMMITTING" with its transaction ended). So
 * before the next transaction it is replaced by a new one with the same transactional id, whose
 * registration with the coordinator aborts whatever the old one left open. A fenced producer is
 * never replaced: another instance owns the id, and the caller must stop.
 */
export class TransactionBatcher {
  private queue: Pending[] = [];
  private draining = false;
  private producer: Producer;
  private connected = false;
  /** Set when the producer must be replaced before the next transaction. */
  private broken = false;
  private replacements = 0;

  constructor(
    private readonly createProducer: () => Producer,
    private readonly groupId: string,
    private readonly log: Logger,
  ) {
    this.producer = createProducer();
  }

  /** How many times the producer was replaced after a failure it could not recover from. */
  get producerReplacements(): number {
    return this.replacements;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    await this.producer.disconnect();
  }

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
    if (this.broken) await this.replaceProducer();
    let transaction: Awaited<ReturnType<Producer['transaction']>>;
    try {
      transaction = await this.producer.transaction();
    } catch (error) {
      if (!isFencedError(error)) this.broken = true;
      throw error;
    }
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
        if (!isFencedError(error) && !isFencedError(abortError)) this.broken = true;
        this.log.warn({ err: abortError }, 'transaction abort failed; the producer will be replaced');
      });
      throw error;
    }
  }

  /** A new producer in place of one left in a state it cannot leave (see the class comment). */
  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.createProducer();
    await old.disconnect().catch((error: unknown) => {
      this.log.warn({ err: error }, 'disconnecting the replaced producer failed');
    });
    this.replacements++;
    this.log.warn(
      { replacements: this.replacements },
      'transactional producer replaced after a failed transaction',
    );
    // Still broken until the new one is connected: a broker that is down fails this, and the next
    // transaction tries again.
    if (this.connected) await this.producer.connect();
    this.broken = false;
  }
}
