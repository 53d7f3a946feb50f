// The router's first sightings of event ids: which records of a batch are repeats of an event id
// already routed from another place in the predictions topic (see migration 1700000015000).
import type { Queryable } from './outbox';

export interface RoutedRecord {
  eventId: string;
  topic: string;
  partition: number;
  /** The record's offset, as kafkajs gives it. */
  offset: string;
}

/**
 * Records each event id's first place in the topic and returns the indexes of the records that
 * repeat an event id first seen at another place (earlier in this batch, or in an earlier batch).
 * A record whose own place is the one stored (a batch delivered again) is not a repeat. One
 * statement, so its writes commit or fail as one.
 */
export async function repeatedRecords(db: Queryable, records: readonly RoutedRecord[]): Promise<Set<number>> {
  if (records.length === 0) return new Set();
  const { rows } = await db.query<{ event_id: string; topic: string; partition: number; offset: string }>(
    `WITH batch AS (
       SELECT DISTINCT ON (event_id) event_id, topic, "partition", "offset"
         FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) WITH ORDINALITY
              AS b(event_id, topic, "partition", "offset", n)
        ORDER BY event_id, n),
     inserted AS (
       INSERT INTO routed_events (event_id, topic, "partition", "offset")
       SELECT event_id, topic, "partition", "offset" FROM batch
       ON CONFLICT (event_id) DO NOTHING
       RETURNING event_id, topic, "partition", "offset")
     SELECT event_id, topic, "partition", "offset"::text FROM inserted
     UNION ALL
     SELECT r.event_id, r.topic, r."partition", r."offset"::text
       FROM routed_events r JOIN batch b USING (event_id)
      WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.event_id = r.event_id)`,
    [
      records.map((r) => r.eventId),
      records.map((r) => r.topic),
      records.map((r) => r.partition),
      records.map((r) => r.offset),
    ],
  );
  const first = new Map(rows.map((r) => [r.event_id, `${r.topic}\u0000${r.partition}\u0000${r.offset}`]));
  const repeats = new Set<number>();
  records.forEach((r, i) => {
    // An id missing from the answer was inserted by a transaction that committed while this one ran
    // (two routers on one partition during a rebalance): routed here too, since the other's Kafka
    // transaction may yet abort, and a second decision is the lesser fault than none.
    const seen = first.get(r.eventId);
    if (seen !== undefined && seen !== `${r.topic}\u0000${r.partition}\u0000${r.offset}`) repeats.add(i);
  });
  return repeats;
}
