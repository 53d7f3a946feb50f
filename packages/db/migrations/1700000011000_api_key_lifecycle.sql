-- Up Migration
-- Keys that expire, and who made each one. last_used_at (since 1700000004000) is now kept.
ALTER TABLE api_keys
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN created_by text REFERENCES reviewers (id);

-- Every review API replica caches the keys it has checked. A change that can stop a key from
-- working (revoked, expiry moved, the reviewer disabled or their role changed) is announced on
-- the channel hitl_api_keys as 'key:<id>' or 'reviewer:<id>', whatever made it (the API, the
-- hitl command, plain SQL), and every listening replica drops its copy when the change commits.
CREATE FUNCTION hitl_api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hitl_api_keys', TG_ARGV[0] || ':' || (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END));
  RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys FOR EACH ROW
  WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
        OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
        OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
        OR OLD.reviewer_id IS DISTINCT FROM NEW.reviewer_id)
  EXECUTE FUNCTION hitl_api_keys_notify('key');
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys FOR EACH ROW
  EXECUTE FUNCTION hitl_api_keys_notify('key');
CREATE TRIGGER reviewers_changed AFTER UPDATE ON reviewers FOR EACH ROW
  WHEN (OLD.disabled_at IS DISTINCT FROM NEW.disabled_at OR OLD.role IS DISTINCT FROM NEW.role)
  EXECUTE FUNCTION hitl_api_keys_notify('reviewer');

-- Down Migration
DROP TRIGGER reviewers_changed ON reviewers;
DROP TRIGGER api_keys_deleted ON api_keys;
DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION hitl_api_keys_notify();
ALTER TABLE api_keys DROP COLUMN created_by, DROP COLUMN expires_at;
