// The transactional outbox: a service writes its outgoing Kafka records in the same Postgres
// transaction as the change they announce, and a relay publishes them afterwards. No Kafka here:
// the relay's caller passes the function that publishes.
import type { Pool, PoolClient } from 'pg';
import { withTransaction } from './pool';

/** A record to publish: the topic, its key, a JSON value and string headers. */
export interface OutboxRecord {
  topic: string;
  key: string;
  value: unknown;
  headers?: Record<string, string>;
}

/** A stored outbox record, as the relay hands it to `publish`. */
export interface OutboxRow {
  /** The row's bigserial id, as text (pg returns bigint as a string). */
  id: string;
  topic: string;
  key: string;
  value: unknown;
  headers: Record<string, string>;
  createdAt: Date;
}

export interface RelayOutboxOptions {
  /** Rows per publish call and per transaction. Default 100. */
  batchSize?: number;
}

/**
 * Inserts records into the outbox in the client's open transaction, so they are stored exactly
 * when the caller's change commits. Returns their ids, which ascend in the order given.
 */
export async function enqueueOutbox(client: PoolClient, records: readonly OutboxRecord[]): Promise<string[]> {
  if (records.length === 0) return [];
  const params: unknown[] = [];
  const tuples = records.map((record) => {
    const value = JSON.stringify(record.value);
    // JSON.stringify gives undefined for undefined, functions and symbols: a caller's bug.
    if (value === undefined) throw new TypeError(`outbox record for ${record.topic} has no JSON value`);
    params.push(record.topic, record.key, value, JSON.stringify(record.headers ?? {}));
    const n = params.length;
    return `($${n - 3}, $${n - 2}, $${n - 1}::jsonb, $${n}::jsonb)`;
  });
  // A multi-row VALUES takes its ids from the sequence in row order.
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO outbox (topic, key, value, headers) VALUES ${tuples.join(', ')} RETURNING id`,
    params,
  );
  return rows.map((r) => r.id);
}

/**
 * Publishes every unpublished outbox row, oldest first, and returns how many it published. Each
 * batch is taken with FOR UPDATE SKIP LOCKED inside a transaction, given to `publish`, stamped
 * published_at and committed; if `publish` throws, the batch is rolled back (left unpublished)
 * and the error rethrown. It loops until no unpublished row is left, so rows committed while it
 * runs are published too.
 *
 * At least once: a crash (or a failed commit) after `publish` returned leaves the batch
 * unpublished, and the next relay publishes it again, so consumers must tolerate duplicates
 * (the row id, passed to `publish`, identifies them).
 *
 * Relays take turns (a transaction-scoped advisory lock), so records reach the broker in id order
 * even when several replicas relay at once; SKIP LOCKED keeps a turn from waiting on rows that a
 * writer still holds.
 */
export async function relayOutbox(
  pool: Pool,
  publish: (rows: OutboxRow[]) => Promise<void>,
  opts: RelayOutboxOptions = {},
): Promise<number> {
  const batchSize = opts.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  let published = 0;
  for (;;) {
    const count = await withTransaction(pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('hitl.outbox'))`);
      const { rows } = await client.query<{
        id: string;
        topic: string;
        key: string;
        value: unknown;
        headers: Record<string, string>;
        created_at: Date;
      }>(
        `SELECT id, topic, key, value, headers, created_at FROM outbox
          WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      if (rows.length === 0) return 0;
      await publish(
        rows.map((r) => ({
          id: r.id,
          topic: r.topic,
          key: r.key,
          value: r.value,
          headers: r.headers,
          createdAt: r.created_at,
        })),
      );
      await client.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      return rows.length;
    });
    if (count === 0) return published;
    published += count;
  }
}
