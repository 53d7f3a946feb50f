-- Up Migration
-- The stream registry: each use case the deployment serves is a stream, with its classes and input
-- kind, the model id that serves it, the routing policy that routes it, and who may review it.
-- Events name their stream (hitl.events.v1's `stream`); a stream's id is that name.
--
-- Services notice changes cheaply: every insert, update or delete of a stream takes the next
-- registry revision (stream_registry, one row), and announces it on the channel hitl_streams
-- ({"revision": n, "stream": id}) when it commits. The row lock on stream_registry is held to the
-- end of the writing transaction, so changes commit in revision order: a reader that saw revision
-- n has seen every change up to n, and polling `SELECT revision FROM stream_registry` is enough.
CREATE TABLE stream_registry (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  revision bigint  NOT NULL CHECK (revision >= 0)
);
INSERT INTO stream_registry (only_row, revision) VALUES (true, 0);

CREATE TABLE streams (
  -- The `stream` of its events: 1 to 200 characters, as there.
  id              text        PRIMARY KEY CHECK (id <> '' AND char_length(id) <= 200),
  -- The labels reviewers choose from and the model predicts, in the stream's order.
  classes         text[]      NOT NULL CHECK (
                    cardinality(classes) BETWEEN 2 AND 1000 AND array_position(classes, NULL) IS NULL),
  input_kind      text        NOT NULL CHECK (input_kind IN ('text', 'features')),
  -- Set exactly when input_kind is 'features': the number of numeric features an event carries.
  feature_width   integer     CHECK (feature_width BETWEEN 1 AND 100000),
  model_id        text        NOT NULL CHECK (model_id <> '' AND char_length(model_id) <= 200 AND model_id !~ '\s'),
  policy_name     text        NOT NULL CHECK (policy_name <> '' AND char_length(policy_name) <= 200 AND policy_name !~ '\s'),
  -- Who may see its tasks besides admins: these reviewers, members of these groups, or everyone.
  reviewers       text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(reviewers) <= 1000),
  reviewer_groups text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(reviewer_groups) <= 100),
  all_reviewers   boolean     NOT NULL DEFAULT false,
  -- 1 when added, one more per change (set by the trigger below, whatever the statement says).
  version         integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
  -- The registry revision of its last change (set by the trigger below).
  revision        bigint      NOT NULL DEFAULT 0,
  created_by      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_by      text,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- Why the last change was made.
  reason          text        CHECK (char_length(reason) <= 2000),
  CONSTRAINT streams_feature_width CHECK ((input_kind = 'features') = (feature_width IS NOT NULL))
);
CREATE INDEX streams_model_idx ON streams (model_id);

-- Every version of every stream, as it was made; never changed. A stream deleted by hand keeps it.
CREATE TABLE stream_versions (
  stream     text        NOT NULL,
  version    integer     NOT NULL CHECK (version >= 1),
  revision   bigint      NOT NULL,
  spec       jsonb       NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
  changed_by text,
  reason     text,
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, version)
);

CREATE FUNCTION stream_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'stream versions are immutable: stream_versions rows cannot be changed or deleted'
    USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER stream_versions_immutable_row BEFORE UPDATE OR DELETE ON stream_versions
  FOR EACH ROW EXECUTE FUNCTION stream_versions_immutable();
CREATE TRIGGER stream_versions_immutable_truncate BEFORE TRUNCATE ON stream_versions
  FOR EACH STATEMENT EXECUTE FUNCTION stream_versions_immutable();

-- The next registry revision; the row stays locked until the caller's transaction ends.
CREATE FUNCTION stream_registry_next_revision() RETURNS bigint LANGUAGE sql AS $$
  UPDATE stream_registry SET revision = revision + 1 RETURNING revision
$$;

-- Numbers and stamps each change, whoever makes it (the API, the hitl command, plain SQL).
CREATE FUNCTION streams_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
      RAISE EXCEPTION 'a stream cannot be renamed (% to %): its events name it', OLD.id, NEW.id
        USING ERRCODE = 'restrict_violation';
    END IF;
    NEW.version := OLD.version + 1;
    NEW.created_by := OLD.created_by;
    NEW.created_at := OLD.created_at;
  ELSE
    NEW.version := 1;
    NEW.created_at := now();
    NEW.created_by := NEW.updated_by;
  END IF;
  NEW.updated_at := now();
  NEW.revision := stream_registry_next_revision();
  RETURN NEW;
END
$$;
CREATE TRIGGER streams_stamp BEFORE INSERT OR UPDATE ON streams
  FOR EACH ROW EXECUTE FUNCTION streams_stamp();

-- Keeps the version and announces the change.
CREATE FUNCTION streams_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  rev bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    rev := stream_registry_next_revision();
    PERFORM pg_notify('hitl_streams', json_build_object('revision', rev, 'stream', OLD.id)::text);
    RETURN NULL;
  END IF;
  INSERT INTO stream_versions (stream, version, revision, spec, changed_by, reason, changed_at)
  VALUES (NEW.id, NEW.version, NEW.revision,
          jsonb_build_object(
            'classes', to_jsonb(NEW.classes),
            'inputKind', NEW.input_kind,
            'featureWidth', NEW.feature_width,
            'modelId', NEW.model_id,
            'policyName', NEW.policy_name,
            'reviewers', to_jsonb(NEW.reviewers),
            'reviewerGroups', to_jsonb(NEW.reviewer_groups),
            'allReviewers', NEW.all_reviewers),
          NEW.updated_by, NEW.reason, NEW.updated_at);
  PERFORM pg_notify('hitl_streams', json_build_object('revision', NEW.revision, 'stream', NEW.id)::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER streams_changed AFTER INSERT OR UPDATE OR DELETE ON streams
  FOR EACH ROW EXECUTE FUNCTION streams_changed();

-- Down Migration
DROP TABLE streams;
DROP FUNCTION streams_changed();
DROP FUNCTION streams_stamp();
DROP FUNCTION stream_registry_next_revision();
DROP TABLE stream_versions;
DROP FUNCTION stream_versions_immutable();
DROP TABLE stream_registry;
