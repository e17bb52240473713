-- What the store's secrets were when first seen, so that a server started
-- with other ones refuses to start instead of failing later (issue 11 §2):
-- the checkpoint signing key's public half ('ledger_key') and a keyed
-- fingerprint of the findings salt ('findings_salt', HMAC-SHA256 keyed by
-- the salt: the salt itself is never stored). Insert-only: the first value
-- recorded stays. source says where a value came from (first start, or
-- the checkpoints already in the store).
CREATE TABLE store_secrets (
  name        TEXT PRIMARY KEY,
  value       TEXT NOT NULL,
  source      TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER store_secrets_no_update BEFORE UPDATE ON store_secrets BEGIN SELECT RAISE(ABORT, 'store secrets are recorded once'); END;
CREATE TRIGGER store_secrets_no_delete BEFORE DELETE ON store_secrets BEGIN SELECT RAISE(ABORT, 'store secrets are recorded once'); END;
