-- Up Migration
-- The people who review, their API keys, and the review tasks they work through.

CREATE TABLE reviewers (
  id          text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,100}$'),
  name        text        NOT NULL CHECK (name <> ''),
  role        text        NOT NULL CHECK (role IN ('reviewer', 'admin')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

-- A key is shown once, as hitl_<id>_<secret>; only the SHA-256 of the secret is stored.
CREATE TABLE api_keys (
  id           text        PRIMARY KEY,
  reviewer_id  text        NOT NULL REFERENCES reviewers (id),
  secret_hash  bytea       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_keys_reviewer_idx ON api_keys (reviewer_id);

-- One task per event id, from hitl.review-requests.v1. A task is open (waiting for answers),
-- escalated (the reviewers split too often: an admin decides) or decided. At most one reviewer
-- holds it at a time, under a lease that runs out.
CREATE TABLE review_tasks (
  event_id           text             PRIMARY KEY,
  stream             text             NOT NULL,
  request            jsonb            NOT NULL,
  classes            text[]           NOT NULL,
  reason             text             NOT NULL,
  predicted_label    text,
  priority           double precision NOT NULL,
  policy_version     integer          NOT NULL,
  required_reviewers integer          NOT NULL CHECK (required_reviewers >= 1),
  -- Answers needed now: required_reviewers plus one per round that ended split.
  needed             integer          NOT NULL,
  status             text             NOT NULL DEFAULT 'open'
                                      CHECK (status IN ('open', 'escalated', 'decided')),
  lease_owner        text             REFERENCES reviewers (id),
  lease_expires_at   timestamptz,
  requested_at       timestamptz      NOT NULL,
  created_at         timestamptz      NOT NULL DEFAULT now(),
  decided_at         timestamptz,
  final_label        text,
  CONSTRAINT review_tasks_needed CHECK (needed >= required_reviewers),
  CONSTRAINT review_tasks_decided CHECK ((status = 'decided') = (final_label IS NOT NULL))
);
-- The queue: what is not decided, most urgent first, then oldest.
CREATE INDEX review_tasks_queue_idx ON review_tasks (priority DESC, requested_at, event_id)
  WHERE status <> 'decided';
CREATE INDEX review_tasks_decided_idx ON review_tasks (decided_at) WHERE status = 'decided';

CREATE TABLE review_answers (
  event_id    text        NOT NULL REFERENCES review_tasks (event_id),
  reviewer_id text        NOT NULL REFERENCES reviewers (id),
  label       text        NOT NULL,
  comment     text,
  answered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, reviewer_id)
);
CREATE INDEX review_answers_reviewer_idx ON review_answers (reviewer_id, answered_at);

-- Tasks a reviewer passed on: not offered to them again.
CREATE TABLE review_skips (
  event_id    text        NOT NULL REFERENCES review_tasks (event_id),
  reviewer_id text        NOT NULL REFERENCES reviewers (id),
  skipped_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, reviewer_id)
);

-- The response of each submit made with an Idempotency-Key, returned again on a retry.
CREATE TABLE review_idempotency (
  reviewer_id text        NOT NULL REFERENCES reviewers (id),
  key         text        NOT NULL,
  event_id    text        NOT NULL,
  status_code integer     NOT NULL,
  response    jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (reviewer_id, key)
);

-- Down Migration
DROP TABLE review_idempotency;
DROP TABLE review_skips;
DROP TABLE review_answers;
DROP TABLE review_tasks;
DROP TABLE api_keys;
DROP TABLE reviewers;
