import {
  createValidator,
  topics as catalog,
  type DeadLetter,
  type RecordOf,
  type TopicSpec,
  type Validator,
} from '@hitl/contracts';
import type { Consumer, ConsumerConfig, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { backoffDelay, sleep, type BackoffOptions } from './backoff';
import {
  DeadLetterCodes,
  DeadLetterError,
  errorMessage,
  isTransientError,
  type DeadLetterCode,
} from './errors';
import { LagMonitor } from './lag';
import { consumerMetrics, type ConsumerMetrics } from './metrics';
import { TypedProducer } from './producer';

/** A consumed record whose value passed its topic's schema. */
export interface ConsumedRecord<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  headers: Record<string, string>;
  timestamp: string;
}

export interface HandlerContext {
  /** Aborted when the consumer stops: long work should give up (the record is then redelivered). */
  signal: AbortSignal;
  /** 1 on the first try. */
  attempt: number;
}

export type BatchHandler<T> = (records: ConsumedRecord<T>[], context: HandlerContext) => Promise<void>;
export type RecordHandler<T> = (record: ConsumedRecord<T>, context: HandlerContext) => Promise<void>;

export interface ValidatingConsumerOptions<T extends TopicSpec> {
  kafka: Kafka;
  groupId: string;
  topic: T;
  logger: Logger;
  /**
   * Handles the valid records of a fetched batch in one call (up to maxBatchSize). When it fails
   * with a non-transient error, each record is retried on its own through the same handler, so
   * one bad record is isolated and dead-lettered without taking its neighbours with it.
   */
  handleBatch?: BatchHandler<RecordOf<T>>;
  /** Handles one record at a time; give this or handleBatch. */
  handleRecord?: RecordHandler<RecordOf<T>>;
  /** Where rejected records go (default: hitl.dlq.v1 from the catalog). */
  deadLetterTopic?: typeof catalog.deadLetters;
  /** Records larger than this many bytes are dead-lettered unread (default 1 MiB). */
  maxRecordBytes?: number;
  /** Most records handed to handleBatch at once (default 500). */
  maxBatchSize?: number;
  /** Tries of a failing record before it is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Waits between tries of a failing record (default 100 ms doubling to 5 s). */
  retryBackoff?: BackoffOptions;
  /** Waits while a dependency is down (default 500 ms doubling to 30 s); never gives up. */
  outageBackoff?: BackoffOptions;
  /** Which errors mean "a dependency is down" (default isTransientError). */
  isTransient?: (error: unknown) => boolean;
  /** Where the consumer's metrics go (default: a private registry). */
  registry?: Registry;
  /** How often consumer lag is sampled for the metric (default 10 s; 0 turns it off). */
  lagIntervalMs?: number;
  /** A new group starts at the log start (default), so no record written before it is missed. */
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
  consumerConfig?: Omit<ConsumerConfig, 'groupId'>;
}

type Decoded<T> =
  { ok: true; record: ConsumedRecord<T> } | { ok: false; code: DeadLetterCode; reason: string };

type Outcome =
  | { kind: 'done' }
  | { kind: 'failed'; code: DeadLetterCode; reason: string; attempts: number }
  | { kind: 'aborted' };

const MAX_DEAD_LETTER_PAYLOAD = 512 * 1024;

function headersOf(message: KafkaMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map((v) => v.toString()).join(',') : value.toString();
  }
  return out;
}

/**
 * A consumer of one catalog topic that validates every record, dead-letters what it cannot
 * process (with the reason and the record's coordinates), retries failing handlers with backoff,
 * holds back while a dependency is down, and commits an offset only after the handler's work
 * for that record is done.
 */
export class ValidatingConsumer<T extends TopicSpec> {
  private readonly consumer: Consumer;
  private readonly deadLetters: TypedProducer;
  private readonly validator: Validator<T['schema']>;
  private readonly metrics: ConsumerMetrics;
  private readonly lagMonitor: LagMonitor | undefined;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly opts: Required<
    Pick<
      ValidatingConsumerOptions<T>,
      'maxRecordBytes' | 'maxBatchSize' | 'maxAttempts' | 'retryBackoff' | 'outageBackoff' | 'isTransient'
    >
  >;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(private readonly options: ValidatingConsumerOptions<T>) {
    if (!options.handleBatch === !options.handleRecord) {
      throw new Error('ValidatingConsumer needs exactly one of handleBatch or handleRecord');
    }
    const { kafka, groupId, topic } = options;
    this.opts = {
      maxRecordBytes: options.maxRecordBytes ?? 1024 * 1024,
      maxBatchSize: options.maxBatchSize ?? 500,
      maxAttempts: options.maxAttempts ?? 5,
      retryBackoff: options.retryBackoff ?? { initialMs: 100, maxMs: 5_000 },
      outageBackoff: options.outageBackoff ?? { initialMs: 500, maxMs: 30_000 },
      isTransient: options.isTransient ?? isTransientError,
    };
    this.log = options.logger.child({ topic: topic.name, groupId });
    this.validator = createValidator(topic.schema);
    // A short fetch wait keeps stop() prompt: kafkajs lets an open fetch run out before it leaves.
    this.consumer = kafka.consumer({ maxWaitTimeInMs: 1_000, ...options.consumerConfig, groupId });
    this.deadLetters = new TypedProducer({ kafka });
    this.metrics = consumerMetrics(options.registry ?? new Registry());
    const lagIntervalMs = options.lagIntervalMs ?? 10_000;
    this.lagMonitor =
      lagIntervalMs > 0
        ? new LagMonitor({
            kafka,
            groupId,
            topic: topic.name,
            gauge: this.metrics.lag,
            intervalMs: lagIntervalMs,
            logger: this.log,
          })
        : undefined;
  }

  /** True from start() until stop() begins. */
  get running(): boolean {
    return this.state === 'running';
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`consumer already ${this.state}`);
    this.state = 'running';
    await this.deadLetters.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({
      topic: this.options.topic.name,
      fromBeginning: this.options.fromBeginning ?? true,
    });
    await this.lagMonitor?.start();
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
    });
    await this.consumer.run({
      autoCommit: true,
      // Resolved offsets (records whose work is done) are committed at most this often, and
      // always at the end of a batch, on rebalance and on stop.
      autoCommitInterval: 1_000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (payload) => {
        // kafkajs hands these as plain closures (its docs destructure them); they do not use `this`.
        // eslint-disable-next-line @typescript-eslint/unbound-method
        const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
        const end = this.metrics.batchDuration.startTimer({
          topic: batch.topic,
          group: this.options.groupId,
        });
        let heartbeatFailed = false;
        const live = () => this.state === 'running' && isRunning() && !isStale() && !heartbeatFailed;
        const beat = async () => {
          try {
            await heartbeat();
          } catch (error) {
            // A rebalance: give the partition back promptly; unresolved records are redelivered.
            heartbeatFailed = true;
            this.log.info({ err: error, partition: batch.partition }, 'heartbeat failed, leaving batch');
          }
        };
        try {
          for (let i = 0; i < batch.messages.length && live(); i += this.opts.maxBatchSize) {
            const chunk = batch.messages.slice(i, i + this.opts.maxBatchSize);
            const done = await this.processChunk(batch.topic, batch.partition, chunk, live, beat);
            const last = chunk[done - 1];
            if (last) {
              resolveOffset(last.offset);
              // Commit now rather than on a timer: an idle consumer fetches no further batch
              // that would carry the commit, and its lag would never read zero.
              const next = (BigInt(last.offset) + 1n).toString();
              await commitOffsetsIfNecessary({
                topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
              });
            }
            if (done < chunk.length) break;
            await beat();
          }
        } finally {
          end();
        }
      },
    });
    this.log.info('consumer started');
  }

  /** Handles a chunk in order; returns how many of its records (a prefix) are done. */
  private async processChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    live: () => boolean,
    beat: () => Promise<void>,
  ): Promise<number> {
    const decoded = messages.map((m) => this.decode(topic, partition, m));
    const group = this.options.groupId;
    // Rejects go to the DLQ first; a later stop then leaves nothing to dead-letter twice before
    // the first valid record.
    let firstValid = decoded.findIndex((d) => d.ok);
    if (firstValid < 0) firstValid = decoded.length;
    for (let i = 0; i < decoded.length; i++) {
      const d = decoded[i]!;
      if (d.ok) continue;
      const sent = await this.deadLetter(topic, partition, messages[i]!, d.code, d.reason, 0, live, beat);
      if (!sent) return i <= firstValid ? i : firstValid;
    }
    const valid = decoded.flatMap((d) => (d.ok ? [d.record] : []));
    if (valid.length === 0) return messages.length;

    const { handleBatch, handleRecord } = this.options;
    if (handleBatch) {
      const outcome = await this.attempt((context) => handleBatch(valid, context), 1, live, beat);
      if (outcome.kind === 'aborted') return firstValid;
      if (outcome.kind === 'done') {
        this.metrics.records.inc({ topic, group, outcome: 'processed' }, valid.length);
        return messages.length;
      }
      this.log.warn(
        { partition, size: valid.length, reason: outcome.reason },
        'batch failed, handling its records one by one',
      );
    }
    const one: RecordHandler<RecordOf<T>> =
      handleRecord ?? ((record, context) => handleBatch!([record], context));
    for (let i = 0; i < decoded.length; i++) {
      const d = decoded[i]!;
      if (!d.ok) continue;
      if (!live()) return i;
      const outcome = await this.attempt(
        (context) => one(d.record, context),
        this.opts.maxAttempts,
        live,
        beat,
      );
      if (outcome.kind === 'aborted') return i;
      if (outcome.kind === 'done') {
        this.metrics.records.inc({ topic, group, outcome: 'processed' });
        continue;
      }
      this.log.error(
        { partition, offset: d.record.offset, code: outcome.code, reason: outcome.reason },
        'record failed, dead-lettering',
      );
      const sent = await this.deadLetter(
        topic,
        partition,
        messages[i]!,
        outcome.code,
        outcome.reason,
        outcome.attempts,
        live,
        beat,
      );
      if (!sent) return i;
    }
    return messages.length;
  }

  private decode(topic: string, partition: number, message: KafkaMessage): Decoded<RecordOf<T>> {
    const { value } = message;
    if (value === null || value.length === 0)
      return { ok: false, code: DeadLetterCodes.decode, reason: 'empty record value' };
    if (value.length > this.opts.maxRecordBytes) {
      return {
        ok: false,
        code: DeadLetterCodes.oversize,
        reason: `record is ${value.length} bytes, more than the limit of ${this.opts.maxRecordBytes}`,
      };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch (error) {
      return { ok: false, code: DeadLetterCodes.decode, reason: `not JSON: ${errorMessage(error)}` };
    }
    if (!this.validator.check(parsed)) {
      const issues = this.validator.issues(parsed).map((i) => `${i.path}: ${i.message}`);
      return {
        ok: false,
        code: DeadLetterCodes.schema,
        reason: `does not match ${topic}: ${issues.join('; ')}`,
      };
    }
    return {
      ok: true,
      record: {
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString('utf8') ?? null,
        value: parsed,
        headers: headersOf(message),
        timestamp: message.timestamp,
      },
    };
  }

  /**
   * Runs fn until it succeeds, it fails maxAttempts times (or with a DeadLetterError), or the
   * consumer stops. Transient failures (a dependency is down) are waited out without counting.
   */
  private async attempt(
    fn: (context: HandlerContext) => Promise<void>,
    maxAttempts: number,
    live: () => boolean,
    beat: () => Promise<void>,
  ): Promise<Outcome> {
    const labels = { topic: this.options.topic.name, group: this.options.groupId };
    let attempt = 0;
    let outage = 0;
    for (;;) {
      if (!live()) return { kind: 'aborted' };
      attempt++;
      try {
        await fn({ signal: this.abort.signal, attempt });
        if (outage > 0) {
          this.metrics.waiting.set(labels, 0);
          this.log.info({ waits: outage }, 'dependency back, consuming again');
        }
        return { kind: 'done' };
      } catch (error) {
        if (error instanceof DeadLetterError) {
          return { kind: 'failed', code: error.code, reason: error.message, attempts: attempt };
        }
        if (this.opts.isTransient(error)) {
          attempt--;
          outage++;
          this.metrics.waiting.set(labels, 1);
          this.metrics.retries.inc({ ...labels, kind: 'transient' });
          const wait = backoffDelay(outage, this.opts.outageBackoff);
          this.log.warn(
            { err: error, waitMs: wait, waits: outage },
            'dependency unavailable, holding consumption',
          );
          await sleep(wait, this.abort.signal);
          await beat();
          continue;
        }
        if (attempt >= maxAttempts) {
          return {
            kind: 'failed',
            code: DeadLetterCodes.handlerFailed,
            reason: errorMessage(error),
            attempts: attempt,
          };
        }
        this.metrics.retries.inc({ ...labels, kind: 'handler' });
        const wait = backoffDelay(attempt, this.opts.retryBackoff);
        this.log.warn({ err: error, attempt, waitMs: wait }, 'handler failed, retrying');
        await sleep(wait, this.abort.signal);
        await beat();
      }
    }
  }

  /** Writes a rejected record to the DLQ; false when the consumer stopped before it could. */
  private async deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    code: DeadLetterCode,
    reason: string,
    attempts: number,
    live: () => boolean,
    beat: () => Promise<void>,
  ): Promise<boolean> {
    const record: DeadLetter = {
      type: 'record.dead_lettered',
      version: 1,
      producedAt: new Date().toISOString(),
      data: {
        source: {
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          timestamp: message.timestamp,
        },
        consumerGroup: this.options.groupId,
        // Base64 grows a payload by a third; cut it so the dead letter itself stays sendable.
        payloadBase64: message.value
          ? message.value.subarray(0, MAX_DEAD_LETTER_PAYLOAD).toString('base64')
          : null,
        payloadBytes: message.value?.length ?? 0,
        payloadTruncated: (message.value?.length ?? 0) > MAX_DEAD_LETTER_PAYLOAD,
        headers: headersOf(message),
        error: { code, message: reason.slice(0, 10_000) },
        attempts,
      },
    };
    // Failing to write the DLQ is an outage like any other: wait, never drop the record.
    const outcome = await this.attempt(
      () => this.deadLetters.send(this.options.deadLetterTopic ?? catalog.deadLetters, [{ value: record }]),
      Infinity,
      live,
      beat,
    );
    if (outcome.kind !== 'done') return false;
    const group = this.options.groupId;
    this.metrics.deadLetters.inc({ topic, group, code });
    this.metrics.records.inc({ topic, group, outcome: 'dead_lettered' });
    this.log.warn({ partition, offset: message.offset, code, reason }, 'record dead-lettered');
    return true;
  }

  /** Stops fetching, lets the record in hand finish, commits what is done, and disconnects. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    this.abort.abort();
    try {
      if (wasRunning) await this.consumer.disconnect();
      await this.lagMonitor?.stop();
      await this.deadLetters.disconnect();
    } finally {
      this.state = 'stopped';
      this.log.info('consumer stopped');
    }
  }
}
