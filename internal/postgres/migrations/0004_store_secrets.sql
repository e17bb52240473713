-- What the store's secrets were when first seen, as in the embedded store
-- (sqlite/migrations/0005), so that a replica started with other ones
-- refuses to start instead of signing checkpoints no one can verify
-- (issue 11 §2): the checkpoint signing key's public half ('ledger_key')
-- and a keyed fingerprint of the findings salt ('findings_salt',
-- HMAC-SHA256 keyed by the salt: the salt itself is never stored).
-- Insert-only: the first value recorded stays; replicas starting together
-- serialise on the primary key.
CREATE TABLE store_secrets (
  name        text COLLATE "C" PRIMARY KEY,
  value       text NOT NULL,
  source      text NOT NULL,
  recorded_at bigint NOT NULL
);
CREATE TRIGGER store_secrets_append_only BEFORE UPDATE OR DELETE ON store_secrets FOR EACH ROW EXECUTE FUNCTION cairn_append_only();
CREATE TRIGGER store_secrets_no_truncate BEFORE TRUNCATE ON store_secrets FOR EACH STATEMENT EXECUTE FUNCTION cairn_append_only();
