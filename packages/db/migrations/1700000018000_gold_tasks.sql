-- Up Migration
-- Gold tasks: items whose right answer an admin knows, mixed into reviewers' queues to measure
-- how often each reviewer is right. A gold item is imported once; each time it is handed to a
-- reviewer it becomes a review task of its own (status 'gold', under a fresh event id), leased
-- to that reviewer alone. To the reviewer it is a task like any other. Its answer is scored
-- against the known label and kept as a review answer; it never becomes a decision, a
-- correction or a training example, and it is not counted in the queue or the decided tasks.
CREATE TABLE gold_items (
  id          bigserial   PRIMARY KEY,
  stream      text        NOT NULL,
  -- The importer's id for the item, or a hash of its input: importing it again changes nothing.
  ref         text        NOT NULL,
  input       jsonb       NOT NULL,
  attributes  jsonb,
  label       text        NOT NULL,
  classes     text[]      NOT NULL CHECK (cardinality(classes) >= 2),
  active      boolean     NOT NULL DEFAULT true,
  imported_by text        NOT NULL,
  imported_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream, ref),
  CONSTRAINT gold_items_label_known CHECK (label = ANY (classes))
);

ALTER TABLE review_tasks DROP CONSTRAINT review_tasks_status_check;
ALTER TABLE review_tasks ADD CONSTRAINT review_tasks_status_check
  CHECK (status IN ('open', 'escalated', 'decided', 'gold'));
-- A gold task keeps its reviewer's answer in final_label, and stays 'gold' once answered.
ALTER TABLE review_tasks DROP CONSTRAINT review_tasks_decided;
ALTER TABLE review_tasks ADD CONSTRAINT review_tasks_decided
  CHECK (status = 'gold' OR (status = 'decided') = (final_label IS NOT NULL));
ALTER TABLE review_tasks
  ADD COLUMN gold_item_id bigint REFERENCES gold_items (id),
  ADD COLUMN gold_reviewer text REFERENCES reviewers (id),
  ADD CONSTRAINT review_tasks_gold
    CHECK ((status = 'gold') = (gold_item_id IS NOT NULL AND gold_reviewer IS NOT NULL));
-- Which gold items a reviewer was already given.
CREATE INDEX review_tasks_gold_idx ON review_tasks (gold_reviewer, gold_item_id)
  WHERE gold_item_id IS NOT NULL;

-- Down Migration
DROP INDEX review_tasks_gold_idx;
DELETE FROM review_answers a USING review_tasks t WHERE a.event_id = t.event_id AND t.status = 'gold';
DELETE FROM review_skips s USING review_tasks t WHERE s.event_id = t.event_id AND t.status = 'gold';
DELETE FROM review_tasks WHERE status = 'gold';
ALTER TABLE review_tasks DROP CONSTRAINT review_tasks_gold,
  DROP COLUMN gold_reviewer, DROP COLUMN gold_item_id;
ALTER TABLE review_tasks DROP CONSTRAINT review_tasks_decided;
ALTER TABLE review_tasks ADD CONSTRAINT review_tasks_decided
  CHECK ((status = 'decided') = (final_label IS NOT NULL));
ALTER TABLE review_tasks DROP CONSTRAINT review_tasks_status_check;
ALTER TABLE review_tasks ADD CONSTRAINT review_tasks_status_check
  CHECK (status IN ('open', 'escalated', 'decided'));
DROP TABLE gold_items;
