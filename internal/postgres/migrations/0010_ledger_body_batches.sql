-- Ledger bodies in batches (ADR 0045). A ledger_bodies row now holds the
-- bodies of a tenant's entries [idx, idx + n): those one writer
-- transaction appended, as one zstd frame (internal/pack, PackBatch).
-- Rows written before hold one entry each (n = 1, the default, stored in
-- the catalog: no rewrite) and are not rewritten: a one-entry row is
-- stored exactly as before.
ALTER TABLE ledger_bodies ADD COLUMN n integer NOT NULL DEFAULT 1 CHECK (n >= 1);

-- Retention (ADR 0046) may delete a row only when the guard's range holds
-- all of its entries; an UPDATE never.
CREATE OR REPLACE FUNCTION cairn_ledger_body_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND EXISTS (SELECT 1 FROM retention_guard g WHERE g.tenant = OLD.tenant AND OLD.idx >= g.from_idx AND OLD.idx + OLD.n <= g.to_idx) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
