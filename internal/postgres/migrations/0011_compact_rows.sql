-- Payload rows that cost less (issue 14 §1, ADR 0047), as in the embedded
-- store (sqlite/migrations/0012).
--
-- sha256 holds the hash's 32 bytes. The column's type changes, so its
-- rows are converted: a hash written as 64 lowercase hex digits (every
-- hash the service writes) becomes its 32 bytes, which read back as the same
-- digits; any other text is kept as its UTF-8 bytes and reads back as it
-- was (sqlstore.PayloadHashText). The payloads' data is not touched.
--
-- key_id of a payload sealed under its tenant's own data key is '', so the
-- index an erasure by subject reads holds only subjects' payloads.
ALTER TABLE payloads ALTER COLUMN sha256 TYPE bytea
  USING CASE WHEN sha256 ~ '^[0-9a-f]{64}$' THEN decode(sha256, 'hex') ELSE convert_to(sha256, 'UTF8') END;
DROP INDEX payloads_key;
CREATE INDEX payloads_subject ON payloads(tenant, key_id) WHERE key_id <> '';
