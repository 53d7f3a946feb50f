-- Up Migration
-- The trainer's tables: the labelled examples it learns from (one per model and event, from
-- hitl.corrections.v1), its training runs, and the training requests admins make.

-- Every time an example's label is stored or replaced it takes the next number from here, so
-- "labels new since the last training" is a count of label_seq above that training's mark.
CREATE SEQUENCE labelled_examples_label_seq;

CREATE TABLE labelled_examples (
  model_id        text        NOT NULL CHECK (model_id <> ''),
  event_id        text        NOT NULL CHECK (event_id <> ''),
  stream          text        NOT NULL,
  -- The event's input as the correction carried it: {"text": ...} and/or {"features": [...]}.
  input           jsonb       NOT NULL CHECK (jsonb_typeof(input) = 'object'),
  -- The label the reviewers settled on, and each reviewer's answer.
  label           text        NOT NULL CHECK (label <> ''),
  reviewer_labels jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(reviewer_labels) = 'array'),
  -- Fixed when the event is first seen (from its id): an evaluation example never trains.
  split           text        NOT NULL CHECK (split IN ('train', 'eval')),
  corrected_at    timestamptz NOT NULL,
  label_seq       bigint      NOT NULL DEFAULT nextval('labelled_examples_label_seq'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- The labels this one replaced (and any older ones that arrived late), oldest first:
  -- [{"label", "reviewerLabels", "correctedAt", "supersededAt"}].
  history         jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(history) = 'array'),
  PRIMARY KEY (model_id, event_id)
);
ALTER SEQUENCE labelled_examples_label_seq OWNED BY labelled_examples.label_seq;
CREATE INDEX labelled_examples_label_seq_idx ON labelled_examples (model_id, label_seq);

CREATE TABLE training_runs (
  id             bigserial   PRIMARY KEY,
  model_id       text        NOT NULL CHECK (model_id <> ''),
  -- running, then finished (with an outcome) or failed (an error, or the trainer stopped or died).
  status         text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
  trigger        text        NOT NULL CHECK (trigger IN ('labels', 'request')),
  -- The replica that ran it.
  instance       text        NOT NULL,
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  -- The highest label_seq among the examples it read: labels above it are new to the next check.
  labels_through bigint      NOT NULL,
  -- Training and evaluation examples it used.
  examples       integer     NOT NULL DEFAULT 0 CHECK (examples >= 0),
  eval_examples  integer     NOT NULL DEFAULT 0 CHECK (eval_examples >= 0),
  -- The version it registered (none when skipped or failed before registering).
  version        integer,
  outcome        text        CHECK (outcome IN ('promoted', 'rejected', 'skipped')),
  reason         text,
  CONSTRAINT training_runs_outcome CHECK ((status = 'finished') = (outcome IS NOT NULL)),
  CONSTRAINT training_runs_finished CHECK ((status = 'running') = (finished_at IS NULL)),
  CONSTRAINT training_runs_version_fk FOREIGN KEY (model_id, version)
    REFERENCES model_versions (model_id, version)
);
CREATE INDEX training_runs_model_idx ON training_runs (model_id, id);
-- Single flight per model: the trainers' advisory lock keeps it so, this is the backstop.
CREATE UNIQUE INDEX training_runs_one_running_idx ON training_runs (model_id) WHERE status = 'running';

-- "Train now", from an admin (review API, hitl command); the next run of the model handles it.
CREATE TABLE training_requests (
  id           bigserial   PRIMARY KEY,
  model_id     text        NOT NULL CHECK (model_id <> ''),
  requested_by text        NOT NULL CHECK (requested_by <> ''),
  requested_at timestamptz NOT NULL DEFAULT now(),
  handled_at   timestamptz,
  run_id       bigint      REFERENCES training_runs (id),
  CONSTRAINT training_requests_handled CHECK ((handled_at IS NULL) = (run_id IS NULL))
);
CREATE INDEX training_requests_pending_idx ON training_requests (model_id, id) WHERE handled_at IS NULL;

-- Down Migration
DROP TABLE training_requests;
DROP TABLE training_runs;
DROP TABLE labelled_examples;
