-- Up Migration
-- Exact-duplicate groups of review tasks. group_key is the SHA-256 (hex) of a task's stream, class
-- set and normalised input (services/review-api/src/groups.ts), set at ingest for tasks sent for
-- low confidence or with no model; audit-sample and class-rule tasks, and tasks queued before this
-- migration, have none and stay alone. One human decision of a group closes its open copies that
-- have no answers and no live lease of another reviewer; decided_through names the event whose
-- answer decided such a copy (NULL for a task its own reviewers decided). answered is true once a
-- task has an answer: a group with an answered, undecided task is being decided, and no copy of it
-- is handed out meanwhile.
ALTER TABLE review_tasks
  ADD COLUMN group_key text,
  ADD COLUMN decided_through text,
  ADD COLUMN answered boolean NOT NULL DEFAULT false;
UPDATE review_tasks t SET answered = true
 WHERE t.status <> 'decided' AND EXISTS (SELECT 1 FROM review_answers a WHERE a.event_id = t.event_id);
-- The open copies of a group: locked and closed when one of them is decided.
CREATE INDEX review_tasks_group_idx ON review_tasks (group_key, event_id)
  WHERE status <> 'decided' AND group_key IS NOT NULL;
-- The copies that keep their group from being handed out (leased, or answered and undecided):
-- probed for each grouped candidate of a claim, so it must stay small.
CREATE INDEX review_tasks_group_busy_idx ON review_tasks (group_key)
  WHERE status <> 'decided' AND group_key IS NOT NULL AND (lease_owner IS NOT NULL OR answered);

-- Down Migration
DROP INDEX review_tasks_group_busy_idx;
DROP INDEX review_tasks_group_idx;
ALTER TABLE review_tasks DROP COLUMN answered, DROP COLUMN decided_through, DROP COLUMN group_key;
