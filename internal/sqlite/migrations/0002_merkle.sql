-- Merkle tree nodes of each tenant's ledger, signed checkpoints and witness
-- cosignatures. All three are evidence: insert-only.
-- Only nodes at level >= 4 are stored (one row per 8 leaves on average);
-- lower nodes are recomputed from the leaf hashes in `ledger`.

CREATE TABLE ledger_nodes (
  tenant TEXT NOT NULL,
  level  INTEGER NOT NULL,
  idx    INTEGER NOT NULL,
  hash   BLOB NOT NULL,
  PRIMARY KEY (tenant, level, idx)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
  tenant     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  root_hash  TEXT NOT NULL,
  note       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, size)
) WITHOUT ROWID;

CREATE TABLE cosignatures (
  tenant     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  witness    TEXT NOT NULL,
  note       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, size, witness)
) WITHOUT ROWID;

CREATE TRIGGER ledger_nodes_no_update BEFORE UPDATE ON ledger_nodes BEGIN SELECT RAISE(ABORT, 'ledger nodes are append-only'); END;
CREATE TRIGGER ledger_nodes_no_delete BEFORE DELETE ON ledger_nodes BEGIN SELECT RAISE(ABORT, 'ledger nodes are append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER cosignatures_no_update BEFORE UPDATE ON cosignatures BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
CREATE TRIGGER cosignatures_no_delete BEFORE DELETE ON cosignatures BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
