-- Encryption at rest and erasure (issue 14 §3, ADR 0048). Payloads are
-- encrypted by the service under a data key (a subject's, or the tenant's);
-- key_id names it (NULL: a payload stored before encryption, encrypted in
-- place at the next start). Data keys are stored wrapped by the
-- key-encryption key (kek_id is its fingerprint). An erasure deletes a
-- payload's row only together with its erased_payloads record, and may
-- delete the subject's data key; with secure_delete on, SQLite overwrites
-- what it deletes.
ALTER TABLE payloads ADD COLUMN key_id TEXT;
CREATE INDEX payloads_key ON payloads(tenant, key_id) WHERE key_id IS NOT NULL;
CREATE INDEX payloads_legacy ON payloads(tenant, ptr) WHERE key_id IS NULL;

CREATE TABLE payload_keys (
  tenant     TEXT NOT NULL,
  key_id     TEXT NOT NULL,
  subject    TEXT NOT NULL,
  wrapped    BLOB NOT NULL,
  kek_id     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, key_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX payload_keys_subject ON payload_keys(tenant, subject);

CREATE TABLE erased_payloads (
  tenant TEXT NOT NULL,
  ptr    TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  job_id TEXT NOT NULL,
  entry  INTEGER NOT NULL,
  PRIMARY KEY (tenant, ptr)
) WITHOUT ROWID;
CREATE TRIGGER erased_payloads_no_update BEFORE UPDATE ON erased_payloads BEGIN SELECT RAISE(ABORT, 'erasure records are append-only'); END;
CREATE TRIGGER erased_payloads_no_delete BEFORE DELETE ON erased_payloads BEGIN SELECT RAISE(ABORT, 'erasure records are append-only'); END;

CREATE TABLE tenant_settings (
  tenant TEXT PRIMARY KEY,
  body   TEXT NOT NULL
) WITHOUT ROWID;

-- Payloads stay append-only but for the recorded paths: a legacy
-- plaintext row is encrypted once; an erased row is deleted; and, as
-- 0009_retention allows, a row of a tenant under a retention guard is
-- deleted by a compaction.
DROP TRIGGER payloads_no_update;
DROP TRIGGER payloads_no_delete;
CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads
  WHEN OLD.key_id IS NOT NULL OR NEW.key_id IS NULL OR NEW.tenant IS NOT OLD.tenant OR NEW.ptr IS NOT OLD.ptr OR NEW.sha256 IS NOT OLD.sha256
  BEGIN SELECT RAISE(ABORT, 'payloads are append-only'); END;
CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads
  WHEN NOT EXISTS (SELECT 1 FROM erased_payloads e WHERE e.tenant = OLD.tenant AND e.ptr = OLD.ptr)
   AND NOT EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant)
  BEGIN SELECT RAISE(ABORT, 'payloads are append-only'); END;
