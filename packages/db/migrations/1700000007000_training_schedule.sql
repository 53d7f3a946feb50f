-- Up Migration
-- Why each training run started: the schedule's trigger (the first training once the labels can
-- support a model, each doubling of the labels, every RETRAIN_EVERY labels, labels that waited
-- too long, or an admin's request) and a sentence with its figures. 'labels' stays valid for the
-- runs recorded before the schedule had steps.
ALTER TABLE training_runs DROP CONSTRAINT training_runs_trigger_check;
ALTER TABLE training_runs ADD CONSTRAINT training_runs_trigger_check
  CHECK (trigger IN ('labels', 'request', 'first', 'doubled', 'every', 'waited'));
ALTER TABLE training_runs ADD COLUMN started_because text;

-- Down Migration
ALTER TABLE training_runs DROP COLUMN started_because;
UPDATE training_runs SET trigger = 'labels' WHERE trigger NOT IN ('labels', 'request');
ALTER TABLE training_runs DROP CONSTRAINT training_runs_trigger_check;
ALTER TABLE training_runs ADD CONSTRAINT training_runs_trigger_check CHECK (trigger IN ('labels', 'request'));
