-- Up Migration
-- Model registry: every trained model version with its ONNX bytes, classes, metrics and lineage.
-- A version, once registered, is immutable (design invariant): only its lifecycle columns
-- (status and the *_at stamps), metrics and model card may change, and no row is ever deleted.
CREATE TABLE model_versions (
  model_id       text        NOT NULL CHECK (model_id <> ''),
  -- 1, 2, 3... per model_id, assigned under a per-model advisory lock by the registering transaction.
  version        integer     NOT NULL CHECK (version > 0),
  onnx           bytea       NOT NULL CHECK (octet_length(onnx) > 0),
  onnx_sha256    text        NOT NULL,
  classes        jsonb       NOT NULL,
  input_kind     text        NOT NULL CHECK (input_kind IN ('text', 'features')),
  feature_width  integer     CHECK (feature_width > 0),
  metrics        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  model_card     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  parent_version integer,
  status         text        NOT NULL DEFAULT 'candidate'
                             CHECK (status IN ('candidate', 'promoted', 'retired', 'rolled_back')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  promoted_at    timestamptz,
  retired_at     timestamptz,
  rolled_back_at timestamptz,
  created_by     text,
  PRIMARY KEY (model_id, version),
  -- The hash is the one of the stored bytes, whoever wrote the row.
  CONSTRAINT model_versions_sha256_matches CHECK (onnx_sha256 = encode(sha256(onnx), 'hex')),
  CONSTRAINT model_versions_classes_array CHECK (
    jsonb_typeof(classes) = 'array' AND jsonb_array_length(classes) >= 2
  ),
  -- A feature model needs its input width; a text model has none.
  CONSTRAINT model_versions_feature_width CHECK ((input_kind = 'features') = (feature_width IS NOT NULL)),
  CONSTRAINT model_versions_metrics_object CHECK (jsonb_typeof(metrics) = 'object'),
  CONSTRAINT model_versions_model_card_object CHECK (jsonb_typeof(model_card) = 'object'),
  -- Lineage stays inside one model; MATCH SIMPLE skips the check when parent_version is NULL.
  CONSTRAINT model_versions_parent_fk FOREIGN KEY (model_id, parent_version)
    REFERENCES model_versions (model_id, version),
  CONSTRAINT model_versions_parent_older CHECK (parent_version < version)
);

-- At most one promoted version per model; the registry's row locks keep it so, this is the backstop.
CREATE UNIQUE INDEX model_versions_one_promoted_idx ON model_versions (model_id) WHERE status = 'promoted';

CREATE FUNCTION model_versions_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'model version %/% is immutable: model_versions rows cannot be deleted',
      OLD.model_id, OLD.version
      USING ERRCODE = 'restrict_violation', HINT = 'Retire or roll back the version instead.';
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'model versions are immutable: model_versions cannot be truncated'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.model_id IS DISTINCT FROM OLD.model_id
     OR NEW.version IS DISTINCT FROM OLD.version
     OR NEW.onnx IS DISTINCT FROM OLD.onnx
     OR NEW.onnx_sha256 IS DISTINCT FROM OLD.onnx_sha256
     OR NEW.classes IS DISTINCT FROM OLD.classes
     OR NEW.input_kind IS DISTINCT FROM OLD.input_kind
     OR NEW.feature_width IS DISTINCT FROM OLD.feature_width
     OR NEW.parent_version IS DISTINCT FROM OLD.parent_version
     OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
    RAISE EXCEPTION 'model version %/% is immutable: only status, its timestamps, metrics and model_card may change',
      OLD.model_id, OLD.version
      USING ERRCODE = 'restrict_violation', HINT = 'Register a new version instead.';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER model_versions_immutable_row
  BEFORE UPDATE OR DELETE ON model_versions
  FOR EACH ROW EXECUTE FUNCTION model_versions_immutable();

CREATE TRIGGER model_versions_immutable_truncate
  BEFORE TRUNCATE ON model_versions
  FOR EACH STATEMENT EXECUTE FUNCTION model_versions_immutable();

-- Lifecycle history: who registered, promoted, retired or rolled back which version, and why.
CREATE TABLE model_events (
  id       bigserial   PRIMARY KEY,
  model_id text        NOT NULL,
  version  integer     NOT NULL,
  event    text        NOT NULL CHECK (event IN ('registered', 'promoted', 'retired', 'rolled_back')),
  actor    text,
  reason   text,
  at       timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

CREATE INDEX model_events_model_idx ON model_events (model_id, id);

-- Down Migration
DROP TABLE model_events;
DROP TABLE model_versions;
DROP FUNCTION model_versions_immutable();
