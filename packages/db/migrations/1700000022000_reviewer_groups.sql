-- Up Migration
-- The groups a reviewer belongs to: a stream open to a group (streams.reviewer_groups) is open to
-- its members. Names as reviewer ids; at most 100 a reviewer.
ALTER TABLE reviewers
  ADD COLUMN groups text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(groups) <= 100 AND array_position(groups, NULL) IS NULL);

-- Down Migration
ALTER TABLE reviewers DROP COLUMN groups;
