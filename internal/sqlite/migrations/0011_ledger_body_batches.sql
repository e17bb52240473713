-- Ledger bodies in batches (ADR 0045). A ledger_bodies row now holds the
-- bodies of a tenant's entries [idx, idx + n): those one writer
-- transaction appended, as one zstd frame (internal/pack, PackBatch).
-- Rows written before hold one entry each (n = 1, the default) and are
-- not rewritten: a one-entry row is stored exactly as before.
--
-- Retention (ADR 0046) may delete a row only when the guard's range holds
-- all of its entries.
ALTER TABLE ledger_bodies ADD COLUMN n INTEGER NOT NULL DEFAULT 1 CHECK (n >= 1);

DROP TRIGGER ledger_bodies_no_delete;
CREATE TRIGGER ledger_bodies_no_delete BEFORE DELETE ON ledger_bodies
  WHEN NOT EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant AND OLD.idx >= g.from_idx AND OLD.idx + OLD.n <= g.to_idx)
  BEGIN SELECT RAISE(ABORT, 'ledger bodies are append-only'); END;
