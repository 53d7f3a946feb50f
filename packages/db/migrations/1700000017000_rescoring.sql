-- Up Migration
-- Re-scoring on promotion. When a model version is promoted or rolled back, the review API sends
-- its waiting, unanswered tasks to inference to be scored again by the version in force; a task
-- the new score makes sure enough closes as a model decision (reason 'rescored'), the others get
-- the new prediction and priority. decided_by says who decided a task: 'human' (its reviewers, or
-- the reviewers of a copy through its group) or 'model' (closed by such a new score); rescored_at
-- is when it last took a new score.
ALTER TABLE review_tasks
  ADD COLUMN decided_by text NOT NULL DEFAULT 'human' CHECK (decided_by IN ('human', 'model')),
  ADD COLUMN rescored_at timestamptz;

-- One row per lifecycle record that asked for new scores, at its place in the models topic: a
-- record read again after a restart finds its row and asks for nothing twice. A few rows per
-- promotion; they are kept as the history of re-scoring rounds.
CREATE TABLE rescore_rounds (
  topic        text        NOT NULL,
  "partition"  integer     NOT NULL CHECK ("partition" >= 0),
  "offset"     bigint      NOT NULL CHECK ("offset" >= 0),
  model_id     text        NOT NULL,
  version      integer     NOT NULL CHECK (version >= 1),
  step         text        NOT NULL,
  tasks        integer     NOT NULL DEFAULT 0 CHECK (tasks >= 0),
  requested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, "partition", "offset")
);

-- Down Migration
DROP TABLE rescore_rounds;
ALTER TABLE review_tasks DROP COLUMN rescored_at, DROP COLUMN decided_by;
