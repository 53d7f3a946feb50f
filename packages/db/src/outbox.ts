// The transactional outbox: a service writes its outgoing Kafka records in the same Postgres
// transaction as the change they announce, and a relay (@hitl/outbox) publishes them afterwards.
// No Kafka here: these are the relay's statements, each one a single round trip.
//
// The relay claims unpublished rows in numbered relay batches (1, 2, 3...), publishes a batch and
// its number in one Kafka transaction, then stamps the batch published. Only the relay that holds
// the relay lock claims or stamps, on the connection that holds it, so batch numbers are never
// given twice.
import type { ClientBase, PoolClient } from 'pg';

/** A record to publish: the topic, its key, a JSON value and string headers. */
export interface OutboxRecord {
  topic: string;
  key: string;
  value: unknown;
  headers?: Record<string, string>;
}

/** A stored outbox record, as the relay publishes it. */
export interface OutboxRow {
  /** The row's bigserial id, as text (pg returns bigint as a string). */
  id: string;
  topic: string;
  key: string;
  value: unknown;
  headers: Record<string, string>;
  createdAt: Date;
}

/** What waits in the outbox. */
export interface OutboxBacklog {
  /** Rows not yet published, claimed or not. */
  pending: number;
  /** Of those, rows no relay batch has claimed yet. */
  unclaimed: number;
  /** Age of the oldest pending row, 0 when none. */
  oldestPendingSeconds: number;
}

/** Anything that runs a query: a pool, a pool client, a client. */
export type Queryable = Pick<ClientBase, 'query'>;

/**
 * Largest record (value, key and headers, serialised) that enqueueOutbox accepts: under the
 * broker's default message.max.bytes, like MAX_OUTPUT_RECORD_BYTES in @hitl/kafka. A larger row
 * could never be published, and a relay publishes in order, so it would hold up every row after it.
 */
export const MAX_OUTBOX_RECORD_BYTES = 1_000_000;

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
    const headers = JSON.stringify(record.headers ?? {});
    const bytes = Buffer.byteLength(value) + Buffer.byteLength(record.key) + Buffer.byteLength(headers);
    if (bytes > MAX_OUTBOX_RECORD_BYTES) {
      throw new RangeError(
        `outbox record for ${record.topic} is ${bytes} bytes serialised, more than the limit of ${MAX_OUTBOX_RECORD_BYTES}`,
      );
    }
    params.push(record.topic, record.key, value, headers);
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

// One relay per outbox table (per database), whatever its transactional id: two relays claiming
// side by side would give one batch number twice. The two-key form keeps clear of the one-key
// hashtext locks taken elsewhere.
const RELAY_LOCK = `hashtext('hitl.outbox'), hashtext('relay')`;

/**
 * Takes the outbox's relay lock for the client's session, without waiting; true when taken. It
 * is held until unlockOutboxRelay or until the session ends (so a crashed relay lets go when
 * Postgres sees its connection close): give it a client of its own, never a pooled one.
 */
export async function tryLockOutboxRelay(client: ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(${RELAY_LOCK}) AS locked`,
  );
  return rows[0]?.locked === true;
}

/** Lets go of the relay lock held by the client's session. */
export async function unlockOutboxRelay(client: ClientBase): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(${RELAY_LOCK})`);
}

/** What a relay is known by: its Kafka transactional id and where its marker is committed. */
export interface OutboxRelayNames {
  transactionalId: string;
  markerGroupId: string;
  markerTopic: string;
}

export interface OutboxRelayState {
  /** The outbox's identity (a UUID made by the migration), which a relay writes with its marker. */
  outboxId: string;
  /** The names of the relay that last led, null before any did. */
  relay: OutboxRelayNames | null;
}

/** The outbox's identity and the names of the relay that last led it. */
export async function getOutboxRelayState(q: Queryable): Promise<OutboxRelayState> {
  const { rows } = await q.query<{
    outbox_id: string;
    transactional_id: string | null;
    marker_group_id: string | null;
    marker_topic: string | null;
  }>('SELECT outbox_id::text, transactional_id, marker_group_id, marker_topic FROM outbox_relay');
  const row = rows[0];
  if (row === undefined) throw new Error('outbox_relay has no row: the outbox migrations did not run');
  const {
    transactional_id: transactionalId,
    marker_group_id: markerGroupId,
    marker_topic: markerTopic,
  } = row;
  return {
    outboxId: row.outbox_id,
    relay:
      transactionalId !== null && markerGroupId !== null && markerTopic !== null
        ? { transactionalId, markerGroupId, markerTopic }
        : null,
  };
}

/**
 * Makes `names` the outbox's relay, settling in the same transaction the batches the previous
 * relay left claimed: those at or below `stampThrough` (its marker) are stamped published, the
 * others released to be claimed again. Returns how many rows it stamped and released. For the
 * lock holder only, on the lock's connection (a plain client, so no pool transaction helper).
 */
export async function adoptOutboxRelay(
  client: ClientBase,
  names: OutboxRelayNames,
  stampThrough: number,
): Promise<{ stamped: number; released: number }> {
  await client.query('BEGIN');
  try {
    const stamped = await markOutboxBatchesPublishedThrough(client, stampThrough);
    const released = await client.query(
      'UPDATE outbox SET relay_batch = NULL WHERE published_at IS NULL AND relay_batch IS NOT NULL',
    );
    await client.query(
      `UPDATE outbox_relay SET transactional_id = $1, marker_group_id = $2, marker_topic = $3, changed_at = now()`,
      [names.transactionalId, names.markerGroupId, names.markerTopic],
    );
    await client.query('COMMIT');
    return { stamped, released: released.rowCount ?? 0 };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

interface RowRecord {
  id: string;
  topic: string;
  key: string;
  value: unknown;
  headers: Record<string, string>;
  created_at: Date;
}

const ROW_COLUMNS = 'id, topic, key, value, headers, created_at';

function toRows(records: RowRecord[]): OutboxRow[] {
  return records
    .map((r) => ({
      id: r.id,
      topic: r.topic,
      key: r.key,
      value: r.value,
      headers: r.headers,
      createdAt: r.created_at,
    }))
    .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
}

function checkBatch(batch: number): void {
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new RangeError(`relay batch must be a positive integer, got ${batch}`);
  }
}

/**
 * Claims up to `limit` unpublished, unclaimed rows, oldest id first, as relay batch `batch`, and
 * returns them in id order (none when there is nothing to claim). Rows of transactions still open
 * are not seen; they are claimed by a later batch once committed, whatever their ids.
 */
export async function claimOutboxBatch(q: Queryable, batch: number, limit: number): Promise<OutboxRow[]> {
  checkBatch(batch);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }
  const { rows } = await q.query<RowRecord>(
    `UPDATE outbox SET relay_batch = $1
      WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL AND relay_batch IS NULL
                    ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING ${ROW_COLUMNS}`,
    [batch, limit],
  );
  return toRows(rows);
}

/** The rows of a claimed batch that are not stamped published, in id order. */
export async function outboxBatchRows(q: Queryable, batch: number): Promise<OutboxRow[]> {
  checkBatch(batch);
  const { rows } = await q.query<RowRecord>(
    `SELECT ${ROW_COLUMNS} FROM outbox WHERE relay_batch = $1 AND published_at IS NULL`,
    [batch],
  );
  return toRows(rows);
}

/** The numbers of the batches claimed but not stamped published, ascending. */
export async function claimedOutboxBatches(q: Queryable): Promise<number[]> {
  const { rows } = await q.query<{ batch: string }>(
    `SELECT DISTINCT relay_batch AS batch FROM outbox
      WHERE published_at IS NULL AND relay_batch IS NOT NULL ORDER BY 1`,
  );
  return rows.map((r) => Number(r.batch));
}

/** Stamps a batch's rows published; returns how many it stamped. */
export async function markOutboxBatchPublished(q: Queryable, batch: number): Promise<number> {
  checkBatch(batch);
  const { rowCount } = await q.query(
    'UPDATE outbox SET published_at = now() WHERE relay_batch = $1 AND published_at IS NULL',
    [batch],
  );
  return rowCount ?? 0;
}

/** Stamps the rows of every batch up to and including `batch` published; returns how many. */
export async function markOutboxBatchesPublishedThrough(q: Queryable, batch: number): Promise<number> {
  const { rowCount } = await q.query(
    `UPDATE outbox SET published_at = now()
      WHERE relay_batch IS NOT NULL AND relay_batch <= $1 AND published_at IS NULL`,
    [batch],
  );
  return rowCount ?? 0;
}

/** How many rows wait, how many of them are unclaimed, and how long the oldest has waited. */
export async function outboxBacklog(q: Queryable): Promise<OutboxBacklog> {
  const { rows } = await q.query<{ pending: number; unclaimed: number; oldest: number | null }>(
    `SELECT count(*)::int AS pending,
            (count(*) FILTER (WHERE relay_batch IS NULL))::int AS unclaimed,
            extract(epoch FROM now() - min(created_at))::float8 AS oldest
       FROM outbox WHERE published_at IS NULL`,
  );
  const row = rows[0];
  return {
    pending: row?.pending ?? 0,
    unclaimed: row?.unclaimed ?? 0,
    oldestPendingSeconds: Math.max(0, row?.oldest ?? 0),
  };
}
