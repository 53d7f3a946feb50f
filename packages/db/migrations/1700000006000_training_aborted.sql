-- Up Migration
-- A training stopped because its trainer was shutting down is 'aborted', not 'failed': nothing
-- went wrong with the data or the model, and alerts on failed trainings should not count it.
ALTER TABLE training_runs DROP CONSTRAINT training_runs_status_check;
ALTER TABLE training_runs ADD CONSTRAINT training_runs_status_check
  CHECK (status IN ('running', 'finished', 'failed', 'aborted'));

-- Down Migration
UPDATE training_runs SET status = 'failed' WHERE status = 'aborted';
ALTER TABLE training_runs DROP CONSTRAINT training_runs_status_check;
ALTER TABLE training_runs ADD CONSTRAINT training_runs_status_check
  CHECK (status IN ('running', 'finished', 'failed'));
