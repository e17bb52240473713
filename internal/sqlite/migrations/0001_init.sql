-- Cairn embedded store, schema version 1.
-- Evidence tables (ledger, payloads, snapshots, policy_audit) are insert-only:
-- triggers below refuse UPDATE and DELETE so no code path can change them.

CREATE TABLE tenants (
  tenant     TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
  key_id     TEXT PRIMARY KEY,
  tenant     TEXT NOT NULL,
  hash       TEXT NOT NULL UNIQUE,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys(tenant, created_at);

CREATE TABLE jobs (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant           TEXT NOT NULL,
  job_id           TEXT NOT NULL,
  run_id           TEXT,
  state            TEXT NOT NULL,
  action           TEXT NOT NULL,
  decision         TEXT NOT NULL,
  policy_rule_id   TEXT,
  submitted_by     TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  lease_expires_at INTEGER,
  body             TEXT NOT NULL,
  UNIQUE (tenant, job_id)
);
CREATE INDEX jobs_state ON jobs(tenant, state, seq);
CREATE INDEX jobs_run ON jobs(tenant, run_id, seq) WHERE run_id IS NOT NULL;
CREATE INDEX jobs_lease ON jobs(lease_expires_at) WHERE state = 'RUNNING';

CREATE TABLE payloads (
  tenant TEXT NOT NULL,
  ptr    TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (tenant, ptr)
) WITHOUT ROWID;

CREATE TABLE approvals (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant         TEXT NOT NULL,
  job_id         TEXT NOT NULL,
  status         TEXT NOT NULL,
  run_id         TEXT,
  policy_rule_id TEXT,
  resolved_by    TEXT,
  requested_at   INTEGER NOT NULL,
  expires_at     INTEGER,
  body           TEXT NOT NULL,
  UNIQUE (tenant, job_id)
);
CREATE INDEX approvals_status ON approvals(tenant, status, seq);
CREATE INDEX approvals_due ON approvals(expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

CREATE TABLE runs (
  tenant     TEXT NOT NULL,
  run_id     TEXT NOT NULL,
  body       TEXT NOT NULL,
  PRIMARY KEY (tenant, run_id)
) WITHOUT ROWID;

CREATE TABLE ledger (
  tenant    TEXT NOT NULL,
  idx       INTEGER NOT NULL,
  type      TEXT NOT NULL,
  run_id    TEXT,
  run_seq   INTEGER,
  job_id    TEXT,
  body      TEXT NOT NULL,
  leaf_hash TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  PRIMARY KEY (tenant, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX ledger_run ON ledger(tenant, run_id, run_seq) WHERE run_id IS NOT NULL;
CREATE INDEX ledger_job ON ledger(tenant, job_id, idx);

CREATE TABLE snapshots (
  id         TEXT PRIMARY KEY,
  sha256     TEXT NOT NULL,
  text       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);

CREATE TABLE policy_active (
  one          INTEGER PRIMARY KEY CHECK (one = 1),
  snapshot_id  TEXT NOT NULL,
  activated_at INTEGER NOT NULL
);

CREATE TABLE policy_audit (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  action    TEXT NOT NULL,
  actor     TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  body      TEXT NOT NULL
);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads BEGIN SELECT RAISE(ABORT, 'payloads are append-only'); END;
CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads BEGIN SELECT RAISE(ABORT, 'payloads are append-only'); END;
CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots BEGIN SELECT RAISE(ABORT, 'snapshots are append-only'); END;
CREATE TRIGGER snapshots_no_delete BEFORE DELETE ON snapshots BEGIN SELECT RAISE(ABORT, 'snapshots are append-only'); END;
CREATE TRIGGER policy_audit_no_update BEFORE UPDATE ON policy_audit BEGIN SELECT RAISE(ABORT, 'policy audit is append-only'); END;
CREATE TRIGGER policy_audit_no_delete BEFORE DELETE ON policy_audit BEGIN SELECT RAISE(ABORT, 'policy audit is append-only'); END;
