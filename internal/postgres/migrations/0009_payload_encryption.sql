-- Encryption at rest and erasure (issue 14 §3, ADR 0048), as in the
-- embedded store (sqlite/migrations/0010). PostgreSQL keeps deleted rows as
-- dead tuples until VACUUM (run after each erasure) and in its WAL: what
-- is guaranteed there is that a destroyed data key leaves any leftover
-- ciphertext unreadable (docs/data-protection.md).
ALTER TABLE payloads ADD COLUMN key_id text COLLATE "C";
CREATE INDEX payloads_key ON payloads(tenant, key_id) WHERE key_id IS NOT NULL;
CREATE INDEX payloads_legacy ON payloads(tenant, ptr) WHERE key_id IS NULL;

CREATE TABLE payload_keys (
  tenant     text COLLATE "C" NOT NULL,
  key_id     text COLLATE "C" NOT NULL,
  subject    text COLLATE "C" NOT NULL,
  wrapped    bytea NOT NULL,
  kek_id     text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (tenant, key_id)
);
CREATE UNIQUE INDEX payload_keys_subject ON payload_keys(tenant, subject);

CREATE TABLE erased_payloads (
  tenant text COLLATE "C" NOT NULL,
  ptr    text COLLATE "C" NOT NULL,
  sha256 text NOT NULL,
  job_id text COLLATE "C" NOT NULL,
  entry  bigint NOT NULL,
  PRIMARY KEY (tenant, ptr)
);
CREATE TRIGGER erased_payloads_append_only BEFORE UPDATE OR DELETE ON erased_payloads FOR EACH ROW EXECUTE FUNCTION cairn_append_only();
CREATE TRIGGER erased_payloads_no_truncate BEFORE TRUNCATE ON erased_payloads FOR EACH STATEMENT EXECUTE FUNCTION cairn_append_only();

CREATE TABLE tenant_settings (
  tenant text COLLATE "C" PRIMARY KEY,
  body   text NOT NULL
);

-- Payloads stay append-only but for the recorded paths: a legacy
-- plaintext row is encrypted once; an erased row is deleted; and, as
-- 0008_retention allows, a row of a tenant under a retention guard is
-- deleted by a compaction.
CREATE FUNCTION cairn_payloads_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.key_id IS NULL AND NEW.key_id IS NOT NULL AND NEW.tenant = OLD.tenant AND NEW.ptr = OLD.ptr AND NEW.sha256 = OLD.sha256 THEN
      RETURN NEW;
    END IF;
  ELSIF EXISTS (SELECT 1 FROM erased_payloads e WHERE e.tenant = OLD.tenant AND e.ptr = OLD.ptr)
     OR EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'payloads is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER payloads_append_only ON payloads;
CREATE TRIGGER payloads_append_only BEFORE UPDATE OR DELETE ON payloads FOR EACH ROW EXECUTE FUNCTION cairn_payloads_guard();
