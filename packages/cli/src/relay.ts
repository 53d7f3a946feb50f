import { relayOutbox, type OutboxRow, type RelayOutboxOptions } from '@hitl/db';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from '@hitl/service-kit';

/** Header carrying the outbox row id, by which a consumer can drop a republished duplicate. */
export const OUTBOX_ID_HEADER = 'hitl-outbox-id';

function topicMessages(rows: readonly OutboxRow[]): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>();
  for (const row of rows) {
    const messages = byTopic.get(row.topic) ?? [];
    messages.push({
      key: row.key,
      value: JSON.stringify(row.value),
      headers: { ...row.headers, [OUTBOX_ID_HEADER]: row.id },
    });
    byTopic.set(row.topic, messages);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * Publishes the outbox's unpublished rows to the topics they name through an idempotent producer,
 * which connects only when there is something to send. At least once, as relayOutbox: a record
 * can reach Kafka twice if the process dies before its row is stamped. Returns how many it sent.
 */
export async function publishOutbox(
  pool: Pool,
  kafka: Kafka,
  logger: Logger,
  opts: RelayOutboxOptions = {},
): Promise<number> {
  let producer: Producer | undefined;
  try {
    const published = await relayOutbox(
      pool,
      async (rows) => {
        if (!producer) {
          producer = kafka.producer({
            idempotent: true,
            maxInFlightRequests: 1,
            // kafkajs retries an idempotent send forever by default; a command should fail and
            // leave the rows for the next relay instead of hanging while the broker is away.
            retry: { retries: 5 },
          });
          await producer.connect();
        }
        await producer.sendBatch({
          acks: -1,
          compression: CompressionTypes.None,
          topicMessages: topicMessages(rows),
        });
      },
      opts,
    );
    if (published > 0) logger.info({ published }, 'outbox records published');
    return published;
  } finally {
    await producer?.disconnect().catch((error: unknown) => {
      logger.warn({ err: error }, 'kafka producer did not disconnect cleanly');
    });
  }
}
