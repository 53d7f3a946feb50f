-- Up Migration
-- Leases with a start and the claim that made them. leased_at bounds how far a lease can be
-- extended (MAX_LEASE_SECONDS); claim_key is the Idempotency-Key of the claim, so a retried claim
-- gets the same task back while its lease lasts. Both are set by every claim.
ALTER TABLE review_tasks
  ADD COLUMN leased_at timestamptz,
  ADD COLUMN claim_key text;
-- A reviewer's live leases: counted at every claim (MAX_LEASES_PER_REVIEWER).
CREATE INDEX review_tasks_lease_owner_idx ON review_tasks (lease_owner, lease_expires_at)
  WHERE lease_owner IS NOT NULL;
-- GET /v1/tasks pages newest request first.
CREATE INDEX review_tasks_requested_idx ON review_tasks (requested_at DESC, event_id DESC);
-- /v1/stats counts the answers of the last 30 days per reviewer.
CREATE INDEX review_answers_answered_idx ON review_answers (answered_at) INCLUDE (reviewer_id);

-- Down Migration
DROP INDEX review_answers_answered_idx;
DROP INDEX review_tasks_requested_idx;
DROP INDEX review_tasks_lease_owner_idx;
ALTER TABLE review_tasks DROP COLUMN claim_key, DROP COLUMN leased_at;
