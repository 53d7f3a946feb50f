import { createValidator, type RecordOf, type TopicSpec, type Validator } from '@hitl/contracts';
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
    return { key: topic.key(value), value: JSON.stringify(value), headers };
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

/** Sends encoded outputs through a producer or an open transaction, one request for all topics. */
export async function sendEncoded(sender: Sender, encoded: EncodedOutputs): Promise<void> {
  if (encoded.size === 0) return;
  await sender.sendBatch({
    acks: -1,
    compression: CompressionTypes.None,
    topicMessages: [...encoded].map(([topic, messages]) => ({ topic, messages })),
  });
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
