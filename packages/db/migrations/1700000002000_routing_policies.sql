-- Up Migration
-- Routing policies: which predictions stand as model decisions and which go to people. Every
-- change is a new version (1, 2, 3... per name, numbered under a per-name advisory lock by the
-- inserting transaction); a version, once stored, never changes, so a decision's policy version
-- always says which rules made it.
CREATE TABLE routing_policies (
  -- The model id whose predictions the policy routes; the store refuses names with whitespace.
  name       text        NOT NULL CHECK (name <> '' AND char_length(name) <= 200 AND name !~ '\s'),
  version    integer     NOT NULL CHECK (version >= 1),
  -- The validated PolicySpec (@hitl/policy): classes, thresholds, audit rate, reviewers.
  spec       jsonb       NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
  created_by text,
  reason     text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);

CREATE FUNCTION routing_policies_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'routing policy versions are immutable: routing_policies cannot be truncated'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RAISE EXCEPTION 'routing policy %/% is immutable: routing_policies rows cannot be updated or deleted',
    OLD.name, OLD.version
    USING ERRCODE = 'restrict_violation', HINT = 'Create a new version instead.';
END;
$$;

CREATE TRIGGER routing_policies_immutable_row
  BEFORE UPDATE OR DELETE ON routing_policies
  FOR EACH ROW EXECUTE FUNCTION routing_policies_immutable();

CREATE TRIGGER routing_policies_immutable_truncate
  BEFORE TRUNCATE ON routing_policies
  FOR EACH STATEMENT EXECUTE FUNCTION routing_policies_immutable();

-- Down Migration
DROP TABLE routing_policies;
DROP FUNCTION routing_policies_immutable();
