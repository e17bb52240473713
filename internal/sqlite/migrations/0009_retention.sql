-- Retention and legal hold (issue 14 §2; ADR 0046, docs/data-protection.md).
--
-- tenant_retention: a tenant's own retention period (nanoseconds), set
-- through PUT /api/v1/tenant/retention; it replaces the server's
-- --retention for that tenant. State, not evidence: every change is also a
-- retention_set ledger event.
--
-- holds: legal holds. A hold's body is its JSON (cairn.Hold); scope,
-- target and status are indexed copies. Placing and releasing are ledger
-- events (hold_placed, hold_released); the row is their projection.
--
-- compactions: one row per retention compaction, naming the ledger range
-- [from_idx, to_idx) it pruned and the retention_compacted event (event)
-- that records it. Insert-only.
--
-- retention_guard: the one, controlled bypass of the evidence tables'
-- append-only triggers. A compaction inserts a row naming itself (its
-- event and range, which must match its compactions row), prunes, and
-- deletes the row, all in one transaction. While the row is present, and
-- only then, the triggers below let:
--   * a ledger entry's body inside the guarded range be deleted (its row
--     in ledger_bodies; the ledger row with the index, type, job, run and
--     leaf hash stays, and no body can ever be changed);
--   * a payload of the guarded tenant be deleted.
-- An ordinary UPDATE or DELETE, with no guard row, is still refused. The
-- guard protects against mistakes in code, not against someone who can
-- drop triggers: that is what checkpoints and witnesses are for.

CREATE TABLE tenant_retention (
  tenant TEXT PRIMARY KEY,
  period INTEGER NOT NULL,
  set_by TEXT NOT NULL,
  set_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE holds (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant  TEXT NOT NULL,
  hold_id TEXT NOT NULL,
  scope   TEXT NOT NULL,
  target  TEXT NOT NULL,
  status  TEXT NOT NULL,
  body    TEXT NOT NULL,
  UNIQUE (tenant, hold_id)
);
CREATE INDEX holds_tenant ON holds(tenant, seq);
CREATE INDEX holds_active ON holds(tenant, seq) WHERE status = 'active';

-- A compaction prunes up to the latest checkpoint signed before its cutoff.
CREATE INDEX checkpoints_time ON checkpoints(tenant, created_at);

CREATE TABLE compactions (
  tenant   TEXT NOT NULL,
  event    INTEGER NOT NULL,
  from_idx INTEGER NOT NULL,
  to_idx   INTEGER NOT NULL,
  cutoff   INTEGER NOT NULL,
  PRIMARY KEY (tenant, event)
) WITHOUT ROWID;
CREATE INDEX compactions_to ON compactions(tenant, to_idx);
-- Ranges never overlap: two replicas compacting a tenant at once cannot
-- both record the same range (the second transaction fails and retries).
CREATE UNIQUE INDEX compactions_from ON compactions(tenant, from_idx);
CREATE TRIGGER compactions_no_update BEFORE UPDATE ON compactions BEGIN SELECT RAISE(ABORT, 'compactions are append-only'); END;
CREATE TRIGGER compactions_no_delete BEFORE DELETE ON compactions BEGIN SELECT RAISE(ABORT, 'compactions are append-only'); END;

CREATE TABLE retention_guard (
  tenant   TEXT NOT NULL,
  event    INTEGER NOT NULL,
  from_idx INTEGER NOT NULL,
  to_idx   INTEGER NOT NULL,
  PRIMARY KEY (tenant, event)
) WITHOUT ROWID;
CREATE TRIGGER retention_guard_named BEFORE INSERT ON retention_guard
  WHEN NOT EXISTS (SELECT 1 FROM compactions c WHERE c.tenant = NEW.tenant AND c.event = NEW.event AND c.from_idx = NEW.from_idx AND c.to_idx = NEW.to_idx)
  BEGIN SELECT RAISE(ABORT, 'a retention guard must name a recorded compaction'); END;

DROP TRIGGER ledger_bodies_no_delete;
CREATE TRIGGER ledger_bodies_no_delete BEFORE DELETE ON ledger_bodies
  WHEN NOT EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant AND OLD.idx >= g.from_idx AND OLD.idx < g.to_idx)
  BEGIN SELECT RAISE(ABORT, 'ledger bodies are append-only'); END;

DROP TRIGGER payloads_no_delete;
CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads
  WHEN NOT EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant)
  BEGIN SELECT RAISE(ABORT, 'payloads are append-only'); END;
