-- Workflows: registered definitions (evidence, insert-only) and the columns
-- that index runs.
--
-- A run's JSON body stays the source of truth; seq, workflow_id, status and
-- wake_at are copies of it that UpdateRun keeps in step, so that ListRuns
-- (newest first, by workflow or status), DueRuns and NextDeadline are index
-- scans. runs was a WITHOUT ROWID table keyed by (tenant, run_id): it is
-- rebuilt with seq as its rowid, existing runs numbered in creation order,
-- their status and workflow_id read from the body. Runs written before
-- this migration have no wake_at (the field did not exist).

CREATE TABLE runs_new (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant      TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  workflow_id TEXT,
  status      TEXT NOT NULL,
  wake_at     INTEGER,
  body        TEXT NOT NULL,
  UNIQUE (tenant, run_id)
);
INSERT INTO runs_new(tenant, run_id, workflow_id, status, wake_at, body)
  SELECT tenant, run_id, nullif(json_extract(body, '$.workflow_id'), ''), coalesce(json_extract(body, '$.status'), ''), NULL, body
  FROM runs
  ORDER BY julianday(json_extract(body, '$.created_at')), tenant, run_id;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_tenant ON runs(tenant, seq);
CREATE INDEX runs_status ON runs(tenant, status, seq);
CREATE INDEX runs_workflow ON runs(tenant, workflow_id, seq) WHERE workflow_id IS NOT NULL;
CREATE INDEX runs_wake ON runs(wake_at) WHERE wake_at IS NOT NULL;

-- A workflow's body is its JSON (cairn.Workflow); name, version and
-- created_at are indexed copies. (tenant, name, version) is unique: a
-- version is registered once.
CREATE TABLE workflows (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant      TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  name        TEXT NOT NULL,
  version     INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  body        TEXT NOT NULL,
  UNIQUE (tenant, workflow_id)
);
CREATE UNIQUE INDEX workflows_name ON workflows(tenant, name, version);
CREATE INDEX workflows_tenant ON workflows(tenant, seq);

CREATE TRIGGER workflows_no_update BEFORE UPDATE ON workflows BEGIN SELECT RAISE(ABORT, 'workflows are append-only'); END;
CREATE TRIGGER workflows_no_delete BEFORE DELETE ON workflows BEGIN SELECT RAISE(ABORT, 'workflows are append-only'); END;
