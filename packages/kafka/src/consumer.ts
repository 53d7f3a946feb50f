import {
  createValidator,
  topics as catalog,
  type DeadLetter,
  type RecordOf,
  type TopicSpec,
  type Validator,
} from '@hitl/contracts';
import type { Consumer, ConsumerConfig, Kafka, KafkaMessage, Producer, RetryOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { isUtf8 } from 'node:buffer';
import { Registry } from 'prom-client';
import { backoffDelay, sleep, type BackoffOptions } from './backoff';
import {
  DeadLetterCodes,
  DeadLetterError,
  errorMessage,
  isFencedError,
  isTransientError,
  type DeadLetterCode,
} from './errors';
import { LagMonitor } from './lag';
import { consumerMetrics, type ConsumerMetrics } from './metrics';
import { output, type Output } from './output';
import { encodeOutputs, sendEncoded, type EncodedOutputs } from './producer';
import { TransactionBatcher, type OffsetCommit } from './transactions';
import './codecs';

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
  /**
   * A dead letter for one of the handed records, to return among the outputs: the record is then
   * done, rejected with this code, while the rest of the batch goes on. For records that can
   * never succeed (their payload does not fit), found while handling a batch.
   */
  deadLetter(record: ConsumedRecord<unknown>, code: DeadLetterCode, reason: string): Output;
}

/** A handler may return records to produce; they are sent before the input's offset is committed. */
export type HandlerResult = Output[] | void;
export type BatchHandler<T> = (
  records: ConsumedRecord<T>[],
  context: HandlerContext,
) => Promise<HandlerResult>;
export type RecordHandler<T> = (record: ConsumedRecord<T>, context: HandlerContext) => Promise<HandlerResult>;

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
  /**
   * Exactly-once mode: the handler's outputs, the dead letters and the input offsets are written
   * in one Kafka transaction under this id (stable and unique per replica; a restarted replica
   * with the same id fences its predecessor). Handlers must then have no other side effects.
   * Without it, outputs are sent and offsets committed after them: at least once.
   */
  transactionalId?: string;
  /** Where rejected records go (default: hitl.dlq.v1 from the catalog). */
  deadLetterTopic?: typeof catalog.deadLetters;
  /**
   * Names a more specific code than HITL_ERR_SCHEMA for known kinds of schema-invalid record
   * (e.g. non-finite numbers); called only for records that fail the schema.
   */
  classifyInvalid?: (value: unknown) => { code: DeadLetterCode; reason: string } | undefined;
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
  /** Called when the consumer cannot go on (its transactional id was fenced); default: stop(). */
  onFatalError?: (error: unknown) => void;
  /** Where the consumer's metrics go (default: a private registry). */
  registry?: Registry;
  /** How often consumer lag is sampled for the metric (default 10 s; 0 turns it off). */
  lagIntervalMs?: number;
  /** A new group starts at the log start (default), so no record written before it is missed. */
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
  consumerConfig?: Omit<ConsumerConfig, 'groupId'>;
  /** Retry settings of the producer; the default retries quickly, see below. */
  producerRetry?: RetryOptions;
  /**
   * A partition whose record or commit has kept failing (a dependency down, a transaction that
   * cannot begin, the consumer crashing on it) for this long makes the consumer not ready and shows
   * in hitl_consumer_stalled_seconds (default 60 s).
   */
  stallAfterMs?: number;
}

/** The consumer-level key of failingSince: kafkajs crashed and restarted the consumer. */
const CRASHED = -1;

type Decoded<T> =
  { ok: true; record: ConsumedRecord<T> } | { ok: false; code: DeadLetterCode; reason: string };

type Outcome<R> =
  | { kind: 'done'; result: R }
  | { kind: 'failed'; code: DeadLetterCode; reason: string; attempts: number }
  | { kind: 'aborted' };

interface Processed {
  /** How many records of the chunk (a prefix) are done. */
  done: number;
  /** The records to produce for them: the handler's outputs and the dead letters. */
  outputs: Output[];
  /** The same, validated and serialised. */
  encoded: EncodedOutputs;
}

function mergeEncoded(into: EncodedOutputs, from: EncodedOutputs): void {
  for (const [topic, messages] of from) {
    const list = into.get(topic);
    if (list) list.push(...messages);
    else into.set(topic, [...messages]);
  }
}

const MAX_DEAD_LETTER_PAYLOAD = 512 * 1024;
// A dead letter keeps at most this much of the record's key and headers (in UTF-16 units, each at
// most 3 bytes of UTF-8): with the payload's base64 and the error message, it stays well under
// the broker's 1 MB message.max.bytes whatever the record carried.
const MAX_DEAD_LETTER_KEY = 1_024;
const MAX_DEAD_LETTER_HEADERS = 64;
const MAX_DEAD_LETTER_HEADER_NAME = 256;
const MAX_DEAD_LETTER_HEADER_VALUE = 1_024;

/**
 * The key and headers of a record as a dead letter carries them: bounded, with a sentence for
 * each thing left out. Text is kept as text; a key or header value whose bytes are not valid
 * UTF-8 also comes as base64 (keyBase64, headersBase64), so binary ones survive intact.
 */
export function boundedKeyAndHeaders(message: Pick<KafkaMessage, 'key' | 'headers'>): {
  key: string | null;
  keyBase64?: string;
  headers: Record<string, string>;
  headersBase64?: Record<string, string>;
  truncated: string[];
} {
  const truncated: string[] = [];
  const key = message.key == null ? null : bounded(message.key, MAX_DEAD_LETTER_KEY);
  if (key?.cut) truncated.push(`key: ${message.key!.length} bytes, kept the first ${key.cut}`);
  const all = rawHeaders(message);
  if (all.length > MAX_DEAD_LETTER_HEADERS) {
    truncated.push(`headers: ${all.length}, kept the first ${MAX_DEAD_LETTER_HEADERS}`);
  }
  let cutNames = 0;
  let cutValues = 0;
  const headers: Record<string, string> = {};
  const headersBase64: Record<string, string> = {};
  for (const [fullName, bytes] of all.slice(0, MAX_DEAD_LETTER_HEADERS)) {
    if (fullName.length > MAX_DEAD_LETTER_HEADER_NAME) cutNames++;
    const name = fullName.slice(0, MAX_DEAD_LETTER_HEADER_NAME);
    const value = bounded(bytes, MAX_DEAD_LETTER_HEADER_VALUE);
    if (value.cut) cutValues++;
    setOwn(headers, name, value.text);
    if (value.base64 !== undefined) setOwn(headersBase64, name, value.base64);
  }
  if (cutNames > 0) {
    truncated.push(`header names: ${cutNames} longer than ${MAX_DEAD_LETTER_HEADER_NAME} characters, cut`);
  }
  if (cutValues > 0) {
    truncated.push(
      `header values: ${cutValues} longer than ${MAX_DEAD_LETTER_HEADER_VALUE} characters or bytes, cut`,
    );
  }
  return {
    key: key?.text ?? null,
    ...(key?.base64 !== undefined ? { keyBase64: key.base64 } : {}),
    headers,
    ...(Object.keys(headersBase64).length > 0 ? { headersBase64 } : {}),
    truncated,
  };
}

/**
 * Bytes as a dead letter keeps them: valid UTF-8 as text of at most `max` characters; anything
 * else as its first `max` bytes, in base64 and (lossily) as text. `cut` says what was kept.
 */
function bounded(bytes: Buffer, max: number): { text: string; base64?: string; cut?: string } {
  if (isUtf8(bytes)) {
    const text = bytes.toString('utf8');
    return text.length > max ? { text: text.slice(0, max), cut: `${max} characters` } : { text };
  }
  const kept = bytes.subarray(0, max);
  return {
    text: kept.toString('utf8'),
    base64: kept.toString('base64'),
    ...(bytes.length > max ? { cut: `${max} bytes` } : {}),
  };
}

const COMMA = Buffer.from(',');

/** A record's headers as bytes; a header given several times is its values joined by commas. */
function rawHeaders(message: Pick<KafkaMessage, 'headers'>): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value === undefined) continue;
    const bytes = (v: Buffer | string) => (typeof v === 'string' ? Buffer.from(v) : v);
    out.push([
      name,
      Array.isArray(value)
        ? Buffer.concat(value.flatMap((v, i) => (i === 0 ? [bytes(v)] : [COMMA, bytes(v)])))
        : bytes(value),
    ]);
  }
  return out;
}

// Back-to-back transactions meet CONCURRENT_TRANSACTIONS while the previous commit completes;
// kafkajs' default first retry of 300 ms would then cost every transaction 300 ms.
const FAST_RETRY: RetryOptions = { initialRetryTime: 3, maxRetryTime: 5_000, retries: 12 };

function headersOf(message: Pick<KafkaMessage, 'headers'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value === undefined) continue;
    setOwn(out, name, Array.isArray(value) ? value.map((v) => v.toString()).join(',') : value.toString());
  }
  return out;
}

// defineProperty, not assignment: a header named __proto__ is just a header.
function setOwn(target: Record<string, string>, name: string, value: string): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

function resultOutputs(result: HandlerResult): Output[] {
  return result ?? [];
}

/**
 * A consumer of one catalog topic that validates every record, dead-letters what it cannot
 * process (with the reason and the record's coordinates), retries failing handlers with backoff,
 * holds back while a dependency is down, and commits an offset only after the handler's work
 * for that record, and the records it produced, are done — in one transaction when given a
 * transactionalId.
 */
export class ValidatingConsumer<T extends TopicSpec> {
  private readonly consumer: Consumer;
  /** The at-least-once mode's producer (null in exactly-once mode: the batcher has its own). */
  private readonly producer: Producer | null;
  /** Group commit of concurrently handled partitions (exactly-once mode only). */
  private readonly transactions: TransactionBatcher | undefined;
  private readonly validator: Validator<T['schema']>;
  private readonly metrics: ConsumerMetrics;
  private readonly lagMonitor: LagMonitor | undefined;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly deadLetterTopic: typeof catalog.deadLetters;
  private readonly opts: Required<
    Pick<
      ValidatingConsumerOptions<T>,
      'maxRecordBytes' | 'maxBatchSize' | 'maxAttempts' | 'retryBackoff' | 'outageBackoff' | 'isTransient'
    >
  >;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  /** Since when each partition (or the consumer, CRASHED) has been failing without progress. */
  private readonly failingSince = new Map<number, number>();
  private removeStallSource = (): void => {};

  constructor(private readonly options: ValidatingConsumerOptions<T>) {
    if (!options.handleBatch === !options.handleRecord) {
      throw new Error('ValidatingConsumer needs exactly one of handleBatch or handleRecord');
    }
    const { kafka, groupId, topic, transactionalId } = options;
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
    this.deadLetterTopic = options.deadLetterTopic ?? catalog.deadLetters;
    // A short fetch wait keeps stop() prompt: kafkajs lets an open fetch run out before it leaves.
    // read_committed (kafkajs' default) hides records of aborted transactions from handlers.
    // A 10 s session (kafkajs: 30 s) hands a crashed replica's partitions over sooner.
    this.consumer = kafka.consumer({
      maxWaitTimeInMs: 1_000,
      sessionTimeout: 10_000,
      heartbeatInterval: 2_000,
      ...options.consumerConfig,
      groupId,
      readUncommitted: false,
    });
    const createProducer = () =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        retry: options.producerRetry ?? FAST_RETRY,
        // A transaction left open by a replica that never comes back blocks read_committed readers
        // of its partitions until this runs out (a restarted one aborts it at once).
        transactionTimeout: 30_000,
        ...(transactionalId ? { transactionalId } : {}),
      });
    // In exactly-once mode the batcher owns the producer (it replaces one that gets stuck).
    this.transactions = transactionalId
      ? new TransactionBatcher(createProducer, groupId, this.log)
      : undefined;
    this.producer = this.transactions ? null : createProducer();
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

  /** How long the longest-failing partition (or a crash loop) has gone without progress; 0: none. */
  stalledForMs(now = performance.now()): number {
    let since = now;
    for (const t of this.failingSince.values()) since = Math.min(since, t);
    return now - since;
  }

  /** Running, and no partition stalled for stallAfterMs or longer: what /readyz should say. */
  get ready(): boolean {
    return this.running && this.stalledForMs() < (this.options.stallAfterMs ?? 60_000);
  }

  private failing(key: number): void {
    if (!this.failingSince.has(key)) this.failingSince.set(key, performance.now());
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`consumer already ${this.state}`);
    this.state = 'running';
    await (this.transactions ? this.transactions.connect() : this.producer!.connect());
    await this.consumer.connect();
    await this.consumer.subscribe({
      topic: this.options.topic.name,
      fromBeginning: this.options.fromBeginning ?? true,
    });
    await this.lagMonitor?.start();
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.failing(CRASHED);
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
    });
    // A crash loop ends with a batch handled to its end, or a fetch that found nothing to handle.
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, () => this.failingSince.delete(CRASHED));
    this.consumer.on(this.consumer.events.FETCH, ({ payload }) => {
      if (payload.numberOfBatches === 0) this.failingSince.delete(CRASHED);
    });
    this.removeStallSource = this.metrics.addStallSource(() => ({
      labels: { topic: this.options.topic.name, group: this.options.groupId },
      seconds: this.state === 'running' ? this.stalledForMs() / 1000 : null,
    }));
    const transactional = this.options.transactionalId !== undefined;
    await this.consumer.run({
      // Offsets are committed explicitly below (or inside the transaction); autoCommit only
      // flushes resolved offsets on rebalance and stop in the at-least-once mode.
      autoCommit: !transactional,
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
            // A rebalance: give the partition back promptly; unfinished records are redelivered.
            heartbeatFailed = true;
            this.log.info({ err: error, partition: batch.partition }, 'heartbeat failed, leaving batch');
          }
        };
        try {
          for (let i = 0; i < batch.messages.length && live(); i += this.opts.maxBatchSize) {
            const chunk = batch.messages.slice(i, i + this.opts.maxBatchSize);
            const { done, outputs, encoded } = await this.processChunk(
              batch.topic,
              batch.partition,
              chunk,
              live,
              beat,
            );
            const last = chunk[done - 1];
            if (last) {
              const next = (BigInt(last.offset) + 1n).toString();
              // Work already done is committed even when a stop has begun (one try then; the
              // shutdown deadline bounds it), but never after the partition moved elsewhere.
              let tries = 0;
              const committable = () =>
                !isStale() && !heartbeatFailed && (this.state === 'running' || tries++ === 0);
              const committed = await this.attempt(
                batch.partition,
                async () => {
                  if (this.transactions) {
                    const offsets: OffsetCommit = new Map([
                      [batch.topic, new Map([[batch.partition, next]])],
                    ]);
                    await this.transactions.commit(encoded, offsets);
                  } else {
                    await sendEncoded(this.producer!, encoded);
                    // Commit now rather than on a timer: an idle consumer fetches no further batch
                    // that would carry the commit, and its lag would never read zero.
                    await commitOffsetsIfNecessary({
                      topics: [
                        { topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] },
                      ],
                    });
                  }
                },
                Infinity,
                committable,
                beat,
              );
              if (committed.kind !== 'done') break;
              resolveOffset(last.offset);
              this.count(batch.topic, outputs, done);
            }
            if (done < chunk.length) break;
            await beat();
          }
        } catch (error) {
          if (!isFencedError(error)) throw error;
          // Concurrent partitions share the producer: only the first to see the fence reports it.
          if (this.state !== 'running') return;
          this.log.fatal({ err: error }, 'transactional id fenced by another instance; stopping');
          this.state = 'stopping';
          (this.options.onFatalError ?? (() => void this.stop()))(error);
        } finally {
          end();
        }
      },
    });
    this.log.info({ transactional }, 'consumer started');
  }

  private count(topic: string, outputs: Output[], done: number): void {
    const group = this.options.groupId;
    let dead = 0;
    for (const o of outputs) {
      if (o.topic !== this.deadLetterTopic) continue;
      dead++;
      const code = (o.value as DeadLetter).data.error.code;
      this.metrics.deadLetters.inc({ topic, group, code });
    }
    this.metrics.records.inc({ topic, group, outcome: 'dead_lettered' }, dead);
    this.metrics.records.inc({ topic, group, outcome: 'processed' }, done - dead);
  }

  /**
   * Handles a chunk in order; returns how many of its records (a prefix) are done and the
   * records to produce for them (the handler's outputs and the dead letters).
   */
  private async processChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    live: () => boolean,
    beat: () => Promise<void>,
  ): Promise<Processed> {
    const decoded = messages.map((m) => this.decode(topic, partition, m));
    // Handler outputs are validated and serialised as part of handling, so a handler that builds
    // an invalid record fails (and is retried, isolated, dead-lettered) like any other failure.
    const handled: { outputs: Output[]; encoded: EncodedOutputs }[] = [];
    const deadLetters: Output[] = [];
    const finish = (done: number): Processed => {
      const encoded = encodeOutputs(deadLetters);
      for (const part of handled) mergeEncoded(encoded, part.encoded);
      return { done, outputs: [...deadLetters, ...handled.flatMap((h) => h.outputs)], encoded };
    };
    const rejects = (upTo: number) => {
      decoded.slice(0, upTo).forEach((d, i) => {
        if (!d.ok) deadLetters.push(this.deadLetter(topic, partition, messages[i]!, d.code, d.reason, 0));
      });
    };
    const valid = decoded.flatMap((d) => (d.ok ? [d.record] : []));
    if (valid.length === 0) {
      rejects(messages.length);
      return finish(messages.length);
    }

    const byOffset = new Map(messages.map((m) => [m.offset, m]));
    const deadLetter = (record: ConsumedRecord<unknown>, code: DeadLetterCode, reason: string): Output => {
      const message = byOffset.get(record.offset);
      if (!message || record.partition !== partition) {
        throw new Error(`deadLetter: offset ${record.offset} is not a record of this batch`);
      }
      return this.deadLetter(topic, partition, message, code, reason, 1);
    };
    const encodedResult = async (result: Promise<HandlerResult>) => {
      const outputs = resultOutputs(await result);
      return { outputs, encoded: encodeOutputs(outputs) };
    };
    const { handleBatch, handleRecord } = this.options;
    if (handleBatch) {
      const outcome = await this.attempt(
        partition,
        (context) => encodedResult(handleBatch(valid, { ...context, deadLetter })),
        1,
        live,
        beat,
      );
      if (outcome.kind === 'aborted') {
        const firstValid = decoded.findIndex((d) => d.ok);
        rejects(firstValid);
        return finish(firstValid);
      }
      if (outcome.kind === 'done') {
        rejects(messages.length);
        handled.push(outcome.result);
        return finish(messages.length);
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
      if (!d.ok) {
        deadLetters.push(this.deadLetter(topic, partition, messages[i]!, d.code, d.reason, 0));
        continue;
      }
      const outcome = await this.attempt(
        partition,
        (context) => encodedResult(one(d.record, { ...context, deadLetter })),
        this.opts.maxAttempts,
        live,
        beat,
      );
      if (outcome.kind === 'aborted') return finish(i);
      if (outcome.kind === 'done') {
        handled.push(outcome.result);
        continue;
      }
      this.log.error(
        { partition, offset: d.record.offset, code: outcome.code, reason: outcome.reason },
        'record failed, dead-lettering',
      );
      deadLetters.push(
        this.deadLetter(topic, partition, messages[i]!, outcome.code, outcome.reason, outcome.attempts),
      );
    }
    return finish(messages.length);
  }

  private decode(topic: string, partition: number, message: KafkaMessage): Decoded<RecordOf<T>> {
    const { value } = message;
    if (value === null || value.length === 0) {
      return { ok: false, code: DeadLetterCodes.decode, reason: 'empty record value' };
    }
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
      const specific = this.options.classifyInvalid?.(parsed);
      if (specific) return { ok: false, ...specific };
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
  private async attempt<R>(
    partition: number,
    fn: (context: Omit<HandlerContext, 'deadLetter'>) => Promise<R>,
    maxAttempts: number,
    live: () => boolean,
    beat: () => Promise<void>,
  ): Promise<Outcome<R>> {
    try {
      return await this.attemptLoop(partition, fn, maxAttempts, live, beat);
    } finally {
      // Done, dead-lettered, or handed back: this partition is not stuck on this record any more.
      this.failingSince.delete(partition);
    }
  }

  private async attemptLoop<R>(
    partition: number,
    fn: (context: Omit<HandlerContext, 'deadLetter'>) => Promise<R>,
    maxAttempts: number,
    live: () => boolean,
    beat: () => Promise<void>,
  ): Promise<Outcome<R>> {
    const labels = { topic: this.options.topic.name, group: this.options.groupId };
    let attempt = 0;
    let outage = 0;
    for (;;) {
      if (!live()) return { kind: 'aborted' };
      attempt++;
      try {
        const result = await fn({ signal: this.abort.signal, attempt });
        if (outage > 0) {
          this.metrics.waiting.set(labels, 0);
          this.log.info({ waits: outage }, 'dependency back, consuming again');
        }
        return { kind: 'done', result };
      } catch (error) {
        if (isFencedError(error)) throw error;
        this.failing(partition);
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

  private deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    code: DeadLetterCode,
    reason: string,
    attempts: number,
  ): Output {
    this.log.warn({ partition, offset: message.offset, code, reason }, 'record rejected');
    const size = message.value?.length ?? 0;
    const { key, keyBase64, headers, headersBase64, truncated } = boundedKeyAndHeaders(message);
    const source = {
      topic,
      partition,
      offset: message.offset,
      key,
      ...(keyBase64 !== undefined ? { keyBase64 } : {}),
      timestamp: message.timestamp,
    };
    const letter = (data: DeadLetter['data']): Output =>
      output(this.deadLetterTopic, {
        type: 'record.dead_lettered',
        version: 1,
        producedAt: new Date().toISOString(),
        data,
      });
    const full = letter({
      source,
      consumerGroup: this.options.groupId,
      // Base64 grows a payload by a third; cut it so the dead letter itself stays sendable.
      payloadBase64: message.value
        ? message.value.subarray(0, MAX_DEAD_LETTER_PAYLOAD).toString('base64')
        : null,
      payloadBytes: size,
      payloadTruncated: size > MAX_DEAD_LETTER_PAYLOAD,
      headers,
      ...(headersBase64 ? { headersBase64 } : {}),
      error: { code, message: reason.slice(0, 10_000) },
      attempts,
      ...(truncated.length > 0 ? { truncated } : {}),
    });
    try {
      encodeOutputs([full]);
      return full;
    } catch (error) {
      // Whatever the record held, its coordinates and the reason always make a dead letter.
      this.log.error(
        { err: error, partition, offset: message.offset },
        'full dead letter not sendable, sending a minimal one',
      );
      return letter({
        source: { topic, partition, offset: message.offset, key: null, timestamp: message.timestamp },
        consumerGroup: this.options.groupId,
        payloadBase64: null,
        payloadBytes: size,
        payloadTruncated: size > 0,
        headers: {},
        error: { code, message: reason.slice(0, 1_000) },
        attempts,
        truncated: [
          `everything but the record's coordinates and the reason: ${errorMessage(error).slice(0, 300)}`,
        ],
      });
    }
  }

  /** Stops fetching, lets the chunk in hand finish and commit, and disconnects. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.abort.signal.aborted) return;
    const wasStarted = this.state !== 'new';
    this.state = 'stopping';
    this.abort.abort();
    try {
      if (wasStarted) await this.consumer.disconnect();
      await this.lagMonitor?.stop();
      if (wasStarted)
        await (this.transactions ? this.transactions.disconnect() : this.producer!.disconnect());
    } finally {
      this.state = 'stopped';
      this.removeStallSource();
      this.log.info('consumer stopped');
    }
  }
}
