-- Bytes at rest (issue 14 §1, ADR 0044). The ledger was one WITHOUT ROWID
-- table whose rows (about 1.2 KB: the canonical envelope, two hex hashes
-- and the indexed columns) were larger than such a table keeps in its
-- pages, so most rows spilled into overflow pages, each mostly empty.
-- It becomes two insert-only tables with the same key:
--
--   ledger (tenant, idx, type, run_id, run_seq, job_id, leaf_hash): what
--   the indexes, the Merkle tree and the heads read; leaf_hash is the 32
--   bytes of the hash, not its 64 hex digits. The prev_hash column goes:
--   it was a copy of what the body holds (the envelope's prev_hash), and
--   readers take it from there.
--
--   ledger_bodies (tenant, idx, body): the entry's canonical envelope as
--   stored. New bodies are zstd frames against the dictionary of
--   sqlstore/pack_dict.go; the bodies copied here stay as they were
--   (plain JSON) and read back as they are. One entry's body is one row.
--
-- Job bodies need no change here: new ones are stored as zstd frames too
-- (a BLOB in the TEXT column), old ones read back as they are.
--
-- DROP TABLE fires no DELETE trigger; the append-only triggers are made
-- again on both tables.

CREATE TABLE ledger_new (
  tenant    TEXT NOT NULL,
  idx       INTEGER NOT NULL,
  type      TEXT NOT NULL,
  run_id    TEXT,
  run_seq   INTEGER,
  job_id    TEXT,
  leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
  PRIMARY KEY (tenant, idx)
) WITHOUT ROWID;

CREATE TABLE ledger_bodies (
  tenant TEXT NOT NULL,
  idx    INTEGER NOT NULL,
  body   BLOB NOT NULL,
  PRIMARY KEY (tenant, idx)
) WITHOUT ROWID;

INSERT INTO ledger_new(tenant, idx, type, run_id, run_seq, job_id, leaf_hash)
  SELECT tenant, idx, type, run_id, run_seq, job_id, unhex(leaf_hash) FROM ledger ORDER BY tenant, idx;
INSERT INTO ledger_bodies(tenant, idx, body)
  SELECT tenant, idx, CAST(body AS BLOB) FROM ledger ORDER BY tenant, idx;

DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE UNIQUE INDEX ledger_run ON ledger(tenant, run_id, run_seq) WHERE run_id IS NOT NULL;
CREATE INDEX ledger_job ON ledger(tenant, job_id, idx);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER ledger_bodies_no_update BEFORE UPDATE ON ledger_bodies BEGIN SELECT RAISE(ABORT, 'ledger bodies are append-only'); END;
CREATE TRIGGER ledger_bodies_no_delete BEFORE DELETE ON ledger_bodies BEGIN SELECT RAISE(ABORT, 'ledger bodies are append-only'); END;
