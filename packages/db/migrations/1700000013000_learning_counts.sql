-- Up Migration
-- The review API's read-only view of what the model decides alone: its decisions on
-- hitl.decisions.v1 (decidedBy 'model', which the router publishes straight to Kafka and so never
-- pass through review_tasks), counted per UTC minute of decidedAt and model version, for
-- GET /v1/admin/learning, which sums them into buckets of a minute up to a day. Written by the review API's learning consumer.
CREATE TABLE model_decision_counts (
  -- The start of the UTC minute of the decisions' decidedAt.
  minute        timestamptz NOT NULL CHECK (date_trunc('minute', minute, 'UTC') = minute),
  model_id      text        NOT NULL CHECK (model_id <> ''),
  model_version integer     NOT NULL CHECK (model_version >= 1),
  decisions     bigint      NOT NULL CHECK (decisions >= 0),
  PRIMARY KEY (minute, model_id, model_version)
);

-- How far the counts above go, per partition of the decisions topic: every record below
-- next_offset is counted (or was skipped as undecodable). Written in the same transaction as the
-- counts, so a batch redelivered after a crash between the Postgres commit and the Kafka offset
-- commit is recognised and not counted twice, whichever consumer group reads it.
CREATE TABLE model_decision_count_offsets (
  topic       text    NOT NULL,
  "partition" integer NOT NULL CHECK ("partition" >= 0),
  next_offset bigint  NOT NULL CHECK (next_offset >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, "partition")
);

-- Down Migration
DROP TABLE model_decision_count_offsets;
DROP TABLE model_decision_counts;
