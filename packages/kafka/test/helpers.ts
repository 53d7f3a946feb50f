import { topics, type DeadLetter, type TopicSpec } from '@hitl/contracts';
import { createTestTopics, deleteTestTopics, readTopic, uniqueName } from '@hitl/testkit';
import { type Kafka, type Producer } from 'kafkajs';

import { testKafka, testLogger } from '@hitl/testkit';

export { testKafka };
export const logger = testLogger;

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

export async function readDeadLetters(topic: string, count: number): Promise<DeadLetter[]> {
  const records = await readTopic(topic, count);
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
