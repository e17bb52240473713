-- Ledger bodies in batches (ADR 0045). A ledger_bodies row now holds the
-- bodies of a tenant's entries [idx, idx + n): those one writer
-- transaction appended, as one zstd frame (internal/pack, PackBatch).
-- Rows written before hold one entry each (n = 1) and are copied as they
-- are: a one-entry row is stored exactly as before.
--
-- The table now has a rowid. A batch row is 1 to 2 KB; a WITHOUT ROWID
-- table (a B-tree index) keeps at most ~1,000 bytes of a row in its page
-- and spills the rest into an overflow page of its own, mostly empty,
-- while a rowid table keeps rows of up to ~4,000 bytes in its pages. The
-- key (tenant, idx) becomes the table's unique index.
--
-- Retention (ADR 0046) may delete a row only when the guard's range holds
-- all of its entries.
CREATE TABLE ledger_bodies_new (
  tenant TEXT NOT NULL,
  idx    INTEGER NOT NULL,
  n      INTEGER NOT NULL DEFAULT 1 CHECK (n >= 1),
  body   BLOB NOT NULL,
  PRIMARY KEY (tenant, idx)
);
INSERT INTO ledger_bodies_new(tenant, idx, n, body)
  SELECT tenant, idx, 1, body FROM ledger_bodies ORDER BY tenant, idx;
DROP TABLE ledger_bodies;
ALTER TABLE ledger_bodies_new RENAME TO ledger_bodies;

CREATE TRIGGER ledger_bodies_no_update BEFORE UPDATE ON ledger_bodies BEGIN SELECT RAISE(ABORT, 'ledger bodies are append-only'); END;
CREATE TRIGGER ledger_bodies_no_delete BEFORE DELETE ON ledger_bodies
  WHEN NOT EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant AND OLD.idx >= g.from_idx AND OLD.idx + OLD.n <= g.to_idx)
  BEGIN SELECT RAISE(ABORT, 'ledger bodies are append-only'); END;
