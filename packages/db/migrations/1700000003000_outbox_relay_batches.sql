-- Up Migration
-- Exactly-once relaying of the outbox (@hitl/outbox). The relay numbers what it claims in relay
-- batches (1, 2, 3...) and commits each batch's Kafka records together with the batch number as
-- the offset of a marker consumer group, in one Kafka transaction. After a crash, a claimed batch
-- at or below the marker reached Kafka (only its published_at stamp is missing); one above it did
-- not, and is published again. Ids cannot serve for this: a bigserial id is taken at insert, so a
-- transaction that commits late brings rows with ids below ones already published.
ALTER TABLE outbox ADD COLUMN relay_batch bigint CHECK (relay_batch > 0);

-- Claimed but not yet stamped: at most a batch at any time, read at every relay start.
CREATE INDEX outbox_relay_batch_unpublished_idx ON outbox (relay_batch)
  WHERE published_at IS NULL AND relay_batch IS NOT NULL;

-- One row: the outbox's identity, written with each marker commit (a relay that finds another
-- outbox's marker in its group does not trust it), and the names of the relay that last led,
-- whose marker decides the batches it left claimed when a relay with other names takes over.
CREATE TABLE outbox_relay (
  singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  outbox_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
  transactional_id text,
  marker_group_id  text,
  marker_topic     text,
  changed_at       timestamptz,
  CHECK ((transactional_id IS NULL) = (marker_group_id IS NULL)
     AND (transactional_id IS NULL) = (marker_topic IS NULL))
);
INSERT INTO outbox_relay DEFAULT VALUES;

-- Down Migration
DROP TABLE outbox_relay;
DROP INDEX outbox_relay_batch_unpublished_idx;
ALTER TABLE outbox DROP COLUMN relay_batch;
