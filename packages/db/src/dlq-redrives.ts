// Redrives of dead letters: each one's record goes back to its source topic through the outbox, at
// most once. The redrive row (keyed by the dead letter's coordinates) and its outbox row commit
// together, and ON CONFLICT DO NOTHING makes a repeat, or a concurrent run, record and send
// nothing: the relay then publishes the outbox row exactly once (@hitl/outbox).
import type { Pool } from 'pg';
import { enqueueOutbox, type OutboxRecord, type Queryable } from './outbox';
import { withTransaction } from './pool';

/** A dead letter's place on the dead-letter topic. */
export interface DeadLetterPosition {
  partition: number;
  /** A Kafka offset, as text. */
  offset: string;
}

/** One dead letter to send back: where it is, where its record came from, and the record. */
export interface DeadLetterRedrive {
  at: DeadLetterPosition;
  source: { topic: string; partition: number; offset: string };
  errorCode: string;
  record: OutboxRecord;
}

/** A redrive recorded earlier. */
export interface RecordedRedrive {
  at: DeadLetterPosition;
  redrivenBy: string;
  redrivenAt: Date;
  /** False while its record waits in the outbox for a relay. */
  published: boolean;
}

export interface RedriveOutcome {
  /** Recorded by this call, their records enqueued in the outbox. */
  redriven: DeadLetterPosition[];
  /** Recorded before (by an earlier or a concurrent run): nothing was enqueued for them. */
  alreadyRedriven: DeadLetterPosition[];
}

const positionKey = (p: DeadLetterPosition) => `${p.partition}:${p.offset}`;

/**
 * Records the redrives of dead letters of `dlqTopic` and enqueues their records in the outbox, in
 * one transaction. Dead letters redriven before are left alone (no second record is enqueued).
 */
export async function redriveDeadLetters(
  pool: Pool,
  dlqTopic: string,
  redrives: readonly DeadLetterRedrive[],
  redrivenBy: string,
): Promise<RedriveOutcome> {
  if (redrives.length === 0) return { redriven: [], alreadyRedriven: [] };
  return withTransaction(pool, async (client) => {
    // A concurrent run inserting the same key waits here for the other to commit, then inserts nothing.
    const { rows } = await client.query<{ partition: number; offset: string }>(
      `INSERT INTO dlq_redrives (dlq_topic, dlq_partition, dlq_offset, source_topic, source_partition,
                                 source_offset, error_code, redriven_by)
       SELECT $1, p, o, st, sp, so, code, $8
         FROM unnest($2::int[], $3::bigint[], $4::text[], $5::int[], $6::bigint[], $7::text[])
              AS r(p, o, st, sp, so, code)
       ON CONFLICT DO NOTHING
       RETURNING dlq_partition AS partition, dlq_offset::text AS offset`,
      [
        dlqTopic,
        redrives.map((r) => r.at.partition),
        redrives.map((r) => r.at.offset),
        redrives.map((r) => r.source.topic),
        redrives.map((r) => r.source.partition),
        redrives.map((r) => r.source.offset),
        redrives.map((r) => r.errorCode),
        redrivenBy,
      ],
    );
    const inserted = new Set(rows.map(positionKey));
    const fresh = redrives.filter((r) => inserted.has(positionKey(r.at)));
    const ids = await enqueueOutbox(
      client,
      fresh.map((r) => r.record),
    );
    if (fresh.length > 0) {
      await client.query(
        `UPDATE dlq_redrives d SET outbox_id = u.id
           FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS u(p, o, id)
          WHERE d.dlq_topic = $1 AND d.dlq_partition = u.p AND d.dlq_offset = u.o`,
        [dlqTopic, fresh.map((r) => r.at.partition), fresh.map((r) => r.at.offset), ids],
      );
    }
    return {
      redriven: fresh.map((r) => r.at),
      alreadyRedriven: redrives.filter((r) => !inserted.has(positionKey(r.at))).map((r) => r.at),
    };
  });
}

/** The recorded redrives among the given dead letters of `dlqTopic`, by "partition:offset". */
export async function findDeadLetterRedrives(
  q: Queryable,
  dlqTopic: string,
  positions: readonly DeadLetterPosition[],
): Promise<Map<string, RecordedRedrive>> {
  const found = new Map<string, RecordedRedrive>();
  if (positions.length === 0) return found;
  const { rows } = await q.query<{
    partition: number;
    offset: string;
    redriven_by: string;
    redriven_at: Date;
    published: boolean;
  }>(
    `SELECT d.dlq_partition AS partition, d.dlq_offset::text AS offset, d.redriven_by, d.redriven_at,
            -- Only published outbox rows are pruned (retention.ts): a row that is gone was published.
            d.outbox_id IS NOT NULL AND (o.id IS NULL OR o.published_at IS NOT NULL) AS published
       FROM dlq_redrives d
       JOIN unnest($2::int[], $3::bigint[]) AS u(p, o) ON d.dlq_partition = u.p AND d.dlq_offset = u.o
       LEFT JOIN outbox o ON o.id = d.outbox_id
      WHERE d.dlq_topic = $1`,
    [dlqTopic, positions.map((p) => p.partition), positions.map((p) => p.offset)],
  );
  for (const row of rows) {
    const at = { partition: row.partition, offset: row.offset };
    found.set(positionKey(at), {
      at,
      redrivenBy: row.redriven_by,
      redrivenAt: row.redriven_at,
      published: row.published,
    });
  }
  return found;
}
