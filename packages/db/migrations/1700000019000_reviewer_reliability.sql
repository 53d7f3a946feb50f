-- Up Migration
-- How reliable each reviewer is, estimated from their answers (Dawid–Skene with a prior; the
-- review API's reliability.ts): from gold tasks, and from tasks that two or more people answered.
-- Each estimate is a new version, kept; the newest is the one in force. Per stream, as each
-- stream has its own classes.
CREATE TABLE reliability_estimates (
  version     bigserial   PRIMARY KEY,
  computed_at timestamptz NOT NULL DEFAULT now(),
  -- Answers read (the most recent, up to the bound), and the newest one's time: a later run
  -- with the same figures makes no new version.
  answers     integer     NOT NULL CHECK (answers >= 0),
  last_answer timestamptz,
  prior       jsonb       NOT NULL
);

CREATE TABLE reliability_streams (
  version     bigint      NOT NULL REFERENCES reliability_estimates (version) ON DELETE CASCADE,
  stream      text        NOT NULL,
  classes     text[]      NOT NULL,
  class_prior jsonb       NOT NULL,
  items       integer     NOT NULL CHECK (items >= 0),
  iterations  integer     NOT NULL CHECK (iterations >= 0),
  converged   boolean     NOT NULL,
  PRIMARY KEY (version, stream)
);

CREATE TABLE reviewer_reliability (
  version      bigint           NOT NULL,
  stream       text             NOT NULL,
  reviewer_id  text             NOT NULL REFERENCES reviewers (id),
  accuracy     double precision NOT NULL CHECK (accuracy >= 0 AND accuracy <= 1),
  -- confusion[true label][answered label] = probability.
  confusion    jsonb            NOT NULL,
  answers      integer          NOT NULL CHECK (answers >= 0),
  gold_answers integer          NOT NULL CHECK (gold_answers >= 0),
  gold_correct integer          NOT NULL CHECK (gold_correct >= 0),
  PRIMARY KEY (version, stream, reviewer_id),
  FOREIGN KEY (version, stream) REFERENCES reliability_streams (version, stream) ON DELETE CASCADE
);

-- Down Migration
DROP TABLE reviewer_reliability;
DROP TABLE reliability_streams;
DROP TABLE reliability_estimates;
