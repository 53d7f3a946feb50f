import { OutboxRelay, type DrainOptions } from '@hitl/outbox';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from '@hitl/service-kit';

export { OUTBOX_ID_HEADER } from '@hitl/outbox';

export interface PublishOutboxOptions extends DrainOptions {
  /** Rows per Kafka transaction. Default 100. */
  batchSize?: number;
  /** The relay's transactional id and marker group (the review API's OUTBOX_RELAY_ID). */
  relayId?: string;
}

/**
 * Publishes the outbox's unpublished rows to the topics they name, exactly once (@hitl/outbox),
 * and returns how many it published. Connects to Kafka only when something is pending; returns 0
 * when a relay service leads, since that one publishes them. A failure (Kafka unreachable) is
 * thrown and leaves the rows for the next relay.
 */
export async function publishOutbox(
  pool: Pool,
  kafka: Kafka,
  logger: Logger,
  opts: PublishOutboxOptions = {},
): Promise<number> {
  const relay = new OutboxRelay({
    pool,
    kafka,
    logger,
    batchSize: opts.batchSize,
    ...(opts.relayId ? { transactionalId: opts.relayId, markerGroupId: opts.relayId } : {}),
  });
  try {
    const published = await relay.drain({ timeoutMs: opts.timeoutMs });
    if (published > 0) logger.info({ published }, 'outbox records published');
    return published;
  } finally {
    await relay.stop();
  }
}
