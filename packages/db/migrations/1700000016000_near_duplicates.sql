-- Up Migration
-- Near-duplicate groups and a varied claim order (services/review-api/src/groups.ts, tasks.ts).
--
-- family is the first 64 bits of a task's group key, or of its content key when it has none
-- (audit-sample and class-rule tasks, which never group): copies and near-duplicates of one group,
-- and identical ungrouped items, share it. A claim whose most urgent task is of a family the
-- reviewer was just given takes one of another family of about the same priority instead.
--
-- near_signature (128 MinHash values, 512 bytes) and near_bands (16 LSH band keys) are set only
-- on the first text of a group started under a policy version with nearDuplicates: a later text
-- of the same scope that shares a band with it, and whose estimated similarity reaches the
-- setting, takes its group key at ingest. Only open tasks are looked up (the partial GIN index).
ALTER TABLE review_tasks
  ADD COLUMN family bigint,
  ADD COLUMN near_signature bytea CHECK (octet_length(near_signature) = 512),
  ADD COLUMN near_bands bigint[] CHECK (cardinality(near_bands) = 16);
-- Open tasks queued before this migration: their group's family, as groups.ts computes it.
UPDATE review_tasks SET family = ('x' || substr(group_key, 1, 16))::bit(64)::bigint
 WHERE status <> 'decided' AND group_key IS NOT NULL;
-- Probed once per near-duplicate text at ingest. fastupdate off: a lookup never reads a pending
-- list of recent inserts, and only a group's first text is inserted.
CREATE INDEX review_tasks_near_bands_idx ON review_tasks USING gin (near_bands) WITH (fastupdate = off)
  WHERE status <> 'decided' AND near_bands IS NOT NULL;

-- The families each reviewer was last given by a claim, newest first (at most 3): one row per
-- reviewer, written in the claim's transaction.
CREATE TABLE review_claim_cursors (
  reviewer_id text        PRIMARY KEY REFERENCES reviewers (id),
  recent      bigint[]    NOT NULL CHECK (cardinality(recent) <= 3),
  moved_at    timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE review_claim_cursors;
DROP INDEX review_tasks_near_bands_idx;
ALTER TABLE review_tasks DROP COLUMN near_bands, DROP COLUMN near_signature, DROP COLUMN family;
