import { topics, type DeadLetter, type TopicSpec } from '@hitl/contracts';
import { createTestTopics, deleteTestTopics, kafkaBrokers, uniqueName } from '@hitl/testkit';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { pino } from 'pino';

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'hitl-kafka-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
}

/** A copy of a catalog topic under a unique name, plus a unique DLQ, created on the broker. */
export async function isolatedTopics<T extends TopicSpec>(spec: T, partitions = 1) {
  const topic = { ...spec, name: uniqueName(spec.name), partitions };
  const deadLetterTopic = { ...topics.deadLetters, name: uniqueName('dlq') };
  await createTestTopics([
    { topic: topic.name, numPartitions: partitions },
    { topic: deadLetterTopic.name, numPartitions: 1 },
  ]);
  return {
    topic,
    deadLetterTopic,
    groupId: uniqueName('group'),
    cleanup: () => deleteTestTopics([topic.name, deadLetterTopic.name]),
  };
}

/**
 * Reads a topic from the start with a throwaway group until `count` records arrived, then keeps
 * reading for settleMs more, so that extra (duplicate) records would be seen too.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 30_000,
  settleMs = 0,
) {
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('reader') });
  const out: { key: string | null; value: Buffer | null; partition: number; offset: string }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${out.length} of ${count} records from ${topic}`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          out.push({
            key: message.key?.toString() ?? null,
            value: message.value,
            partition,
            offset: message.offset,
          });
          if (out.length === count) {
            clearTimeout(timer);
            setTimeout(resolve, settleMs);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

export async function readDeadLetters(kafka: Kafka, topic: string, count: number): Promise<DeadLetter[]> {
  const records = await readTopic(kafka, topic, count);
  return records.map((r) => JSON.parse(r.value!.toString()) as DeadLetter);
}

export async function withProducer<T>(kafka: Kafka, fn: (producer: Producer) => Promise<T>): Promise<T> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    return await fn(producer);
  } finally {
    await producer.disconnect();
  }
}

/** An input event with the given id; valid for hitl.events.v1. */
export function inputEvent(eventId: string, text = `text of ${eventId}`) {
  return {
    type: 'event.submitted' as const,
    version: 1 as const,
    producedAt: new Date().toISOString(),
    data: { eventId, stream: 'test', occurredAt: new Date().toISOString(), input: { text } },
  };
}
