-- Up Migration
-- The router's record of the events it has routed, so that an event id a producer sends twice
-- gets one decision. The first record of an event id to be routed claims its row with its own
-- place in the predictions topic; a record at another place is a repeat and is dropped. A batch
-- routed again after its Kafka transaction aborted finds its own places here, so it is routed
-- again rather than lost. Rows older than HITL_RETENTION_ROUTED_DAYS are pruned: a repeat that
-- comes later than that is routed as new.
CREATE TABLE routed_events (
  event_id    text        PRIMARY KEY,
  topic       text        NOT NULL,
  "partition" integer     NOT NULL CHECK ("partition" >= 0),
  "offset"    bigint      NOT NULL CHECK ("offset" >= 0),
  routed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX routed_events_routed_at_idx ON routed_events (routed_at);

-- Down Migration
DROP TABLE routed_events;
