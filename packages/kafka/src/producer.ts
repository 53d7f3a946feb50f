import { createValidator, type RecordOf, type TopicSpec, type Validator } from '@hitl/contracts';
import { DeadLetterError } from './errors';
import type { Output } from './output';
import { CompressionTypes, type Kafka, type Producer, type ProducerConfig, type Transaction } from 'kafkajs';

/** A record value that its topic's schema refused on the way out: a bug in the producing code. */
export class InvalidRecordError extends Error {
  readonly code = 'HITL_ERR_INVALID_RECORD';
  constructor(topic: string, detail: string) {
    super(`record for ${topic} does not match its schema: ${detail}`);
    this.name = 'InvalidRecordError';
  }
}

/**
 * Largest serialised record sent: under the broker's default message.max.bytes (1 MiB including
 * the batch overhead), so that a record the broker would refuse fails where it is made (and is
 * dead-lettered) instead of failing every send that carries it.
 */
export const MAX_OUTPUT_RECORD_BYTES = 1_000_000;

/** Most payload bytes in one produce request; larger sends are split (in a transaction too). */
const MAX_REQUEST_BYTES = 512 * 1024;

/** A record too large to send; the input that made it is dead-lettered with this code. */
export class RecordTooLargeError extends DeadLetterError {
  constructor(topic: string, bytes: number) {
    super(
      'HITL_ERR_OUTPUT_TOO_LARGE',
      `record for ${topic} is ${bytes} bytes serialised, more than the limit of ${MAX_OUTPUT_RECORD_BYTES}`,
    );
    this.name = 'RecordTooLargeError';
  }
}

export interface OutgoingRecord<T extends TopicSpec> {
  value: RecordOf<T>;
  headers?: Record<string, string>;
}

type Sender = Pick<Producer, 'send' | 'sendBatch'> | Pick<Transaction, 'send' | 'sendBatch'>;

const validators = new WeakMap<TopicSpec, Validator<TopicSpec['schema']>>();

function validatorFor(topic: TopicSpec): Validator<TopicSpec['schema']> {
  let validator = validators.get(topic);
  if (!validator) {
    validator = createValidator(topic.schema);
    validators.set(topic, validator);
  }
  return validator;
}

/** Validates, keys and serialises records for one topic; throws InvalidRecordError on a bad one. */
export function encodeRecords<T extends TopicSpec>(topic: T, records: readonly OutgoingRecord<T>[]) {
  const validator = validatorFor(topic);
  return records.map(({ value, headers }) => {
    if (!validator.check(value)) {
      const detail = validator
        .issues(value)
        .map((i) => `${i.path} ${i.message}`)
        .join('; ');
      throw new InvalidRecordError(topic.name, detail);
    }
    const serialised = Buffer.from(JSON.stringify(value));
    if (serialised.length > MAX_OUTPUT_RECORD_BYTES)
      throw new RecordTooLargeError(topic.name, serialised.length);
    return { key: topic.key(value), value: serialised, headers };
  });
}

/** Outputs validated and serialised, grouped by topic name, ready to send. */
export type EncodedOutputs = Map<string, ReturnType<typeof encodeRecords>>;

/**
 * Validates and serialises outputs (throwing InvalidRecordError on a bad one), grouped by topic;
 * appends to `into` when given, so the outputs of several handlers can go out in one send.
 */
export function encodeOutputs(outputs: readonly Output[], into: EncodedOutputs = new Map()): EncodedOutputs {
  for (const o of outputs) {
    const [message] = encodeRecords(o.topic, [{ value: o.value, headers: o.headers }]);
    const list = into.get(o.topic.name);
    if (list) list.push(message!);
    else into.set(o.topic.name, [message!]);
  }
  return into;
}

/**
 * Sends encoded outputs through a producer or an open transaction: one request for all topics,
 * or several in order when they hold more than MAX_REQUEST_BYTES (kafkajs would put it all in
 * one record batch per partition, which the broker refuses above its message.max.bytes).
 */
export async function sendEncoded(sender: Sender, encoded: EncodedOutputs): Promise<void> {
  let request: { topic: string; messages: ReturnType<typeof encodeRecords> }[] = [];
  let bytes = 0;
  const flush = async () => {
    if (request.length === 0) return;
    await sender.sendBatch({ acks: -1, compression: CompressionTypes.None, topicMessages: request });
    request = [];
    bytes = 0;
  };
  for (const [topic, messages] of encoded) {
    let current: ReturnType<typeof encodeRecords> = [];
    request.push({ topic, messages: current });
    for (const message of messages) {
      const size = message.value.length + (message.key?.length ?? 0);
      if (bytes > 0 && bytes + size > MAX_REQUEST_BYTES) {
        await flush();
        current = [];
        request.push({ topic, messages: current });
      }
      current.push(message);
      bytes += size;
    }
  }
  await flush();
}

/** Sends outputs, grouped by topic, through a producer or an open transaction. */
export async function sendOutputs(sender: Sender, outputs: readonly Output[]): Promise<void> {
  await sendEncoded(sender, encodeOutputs(outputs));
}

/** Sends typed records through a producer or an open transaction. */
export async function sendRecords<T extends TopicSpec>(
  sender: Sender,
  topic: T,
  records: readonly OutgoingRecord<T>[],
): Promise<void> {
  if (records.length === 0) return;
  await sender.send({
    topic: topic.name,
    acks: -1,
    compression: CompressionTypes.None,
    messages: encodeRecords(topic, records),
  });
}

export interface TypedProducerOptions {
  kafka: Kafka;
  /** Set for a transactional producer: stable and unique per replica. */
  transactionalId?: string;
  config?: Omit<ProducerConfig, 'idempotent' | 'transactionalId'>;
}

/** An idempotent producer that only sends records its topic's schema accepts. */
export class TypedProducer {
  readonly producer: Producer;
  private connected = false;

  constructor({ kafka, transactionalId, config }: TypedProducerOptions) {
    this.producer = kafka.producer({
      ...config,
      idempotent: true,
      maxInFlightRequests: 1,
      ...(transactionalId ? { transactionalId } : {}),
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  send<T extends TopicSpec>(topic: T, records: readonly OutgoingRecord<T>[]): Promise<void> {
    return sendRecords(this.producer, topic, records);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
