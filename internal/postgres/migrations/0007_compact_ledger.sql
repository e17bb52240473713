-- Bytes at rest (issue 14 §1, ADR 0044), as in the embedded store
-- (sqlite/migrations/0008). The ledger becomes two insert-only tables with
-- the same key:
--
--   ledger (tenant, idx, type, run_id, run_seq, job_id, leaf_hash): what
--   the indexes, the Merkle tree and the heads read; leaf_hash is the 32
--   bytes of the hash (bytea), not its 64 hex digits. prev_hash goes: it
--   was a copy of the body's, and readers take it from there.
--
--   ledger_bodies (tenant, idx, body bytea): the entry's canonical envelope
--   as stored. New bodies are zstd frames against the dictionary of
--   sqlstore/pack_dict.go; the bodies copied here stay plain JSON (their
--   UTF-8 bytes) and read back as they are. One entry's body is one row.
--
-- jobs.body becomes bytea for the same reason (new job bodies are zstd
-- frames; old ones keep their UTF-8 bytes). The jobs_executor trigger of
-- 0005 read the body as JSON text for replicas older than 0005; those
-- cannot write to this schema anyway (the ledger's columns changed), so
-- it goes.
--
-- The tables are rewritten: this blocks writes while it runs. DROP TABLE
-- fires no trigger; the append-only triggers are made again on both
-- ledger tables.

CREATE TABLE ledger_new (
  tenant    text COLLATE "C" NOT NULL,
  idx       bigint NOT NULL,
  type      text COLLATE "C" NOT NULL,
  run_id    text COLLATE "C",
  run_seq   bigint,
  job_id    text COLLATE "C",
  leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
  PRIMARY KEY (tenant, idx)
);

CREATE TABLE ledger_bodies (
  tenant text COLLATE "C" NOT NULL,
  idx    bigint NOT NULL,
  body   bytea NOT NULL,
  PRIMARY KEY (tenant, idx)
);

INSERT INTO ledger_new(tenant, idx, type, run_id, run_seq, job_id, leaf_hash)
  SELECT tenant, idx, type, run_id, run_seq, job_id, decode(leaf_hash, 'hex') FROM ledger ORDER BY tenant, idx;
INSERT INTO ledger_bodies(tenant, idx, body)
  SELECT tenant, idx, convert_to(body, 'UTF8') FROM ledger ORDER BY tenant, idx;

DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
ALTER INDEX ledger_new_pkey RENAME TO ledger_pkey;
CREATE UNIQUE INDEX ledger_run ON ledger(tenant, run_id, run_seq) WHERE run_id IS NOT NULL;
CREATE INDEX ledger_job ON ledger(tenant, job_id, idx) WHERE job_id IS NOT NULL;

CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger FOR EACH ROW EXECUTE FUNCTION cairn_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger FOR EACH STATEMENT EXECUTE FUNCTION cairn_append_only();
CREATE TRIGGER ledger_bodies_append_only BEFORE UPDATE OR DELETE ON ledger_bodies FOR EACH ROW EXECUTE FUNCTION cairn_append_only();
CREATE TRIGGER ledger_bodies_no_truncate BEFORE TRUNCATE ON ledger_bodies FOR EACH STATEMENT EXECUTE FUNCTION cairn_append_only();

DROP TRIGGER jobs_executor ON jobs;
DROP FUNCTION cairn_job_executor();
ALTER TABLE jobs ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8');
