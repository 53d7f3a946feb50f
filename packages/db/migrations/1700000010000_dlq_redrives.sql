-- Up Migration
-- Dead letters sent back to their source topic by `hitl dlq redrive`, one row per dead letter
-- (its coordinates on the dead-letter topic). The row and the outbox row that carries the original
-- record are inserted in one transaction, and a second redrive of the same dead letter finds the
-- row and sends nothing: each dead letter goes back at most once, across crashes and repeats.
CREATE TABLE dlq_redrives (
  dlq_topic        text        NOT NULL,
  dlq_partition    integer     NOT NULL CHECK (dlq_partition >= 0),
  dlq_offset       bigint      NOT NULL CHECK (dlq_offset >= 0),
  source_topic     text        NOT NULL,
  source_partition integer     NOT NULL CHECK (source_partition >= 0),
  source_offset    bigint      NOT NULL CHECK (source_offset >= 0),
  -- The reason it was dead-lettered, as the dead letter gave it.
  error_code       text        NOT NULL,
  -- The outbox row that carries the record (no foreign key: outbox rows may be pruned one day).
  -- Null only inside the inserting transaction, which sets it once the outbox row exists.
  outbox_id        bigint,
  redriven_by      text        NOT NULL,
  redriven_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);

-- Down Migration
DROP TABLE dlq_redrives;
