-- Payload rows that cost less (issue 14 §1, ADR 0047).
--
-- sha256 of a new payload holds the hash's 32 bytes (a BLOB in the TEXT
-- column, as jobs.body holds zstd frames); rows written before keep their 64
-- hex digits and read back the same (sqlstore.PayloadHashText). No row is
-- rewritten.
--
-- key_id of a payload sealed under its tenant's own data key is '' (the
-- tenant has one such key; cairn.TenantDataKey), so the index an erasure by
-- subject reads (the payloads under one subject's key) holds only subjects'
-- payloads. payloads_key held every payload, ~90 bytes each, for the one
-- query that never asks for the tenant's key (an erasure by job ids finds a
-- job's payloads by pointer, the primary key). Rows written before under the
-- tenant key keep its id and stay in the new index, which is harmless: no
-- subject has that key.
DROP INDEX payloads_key;
CREATE INDEX payloads_subject ON payloads(tenant, key_id) WHERE key_id <> '';

-- The jobs indexes that named seq stored it twice: a SQLite index on a rowid
-- table ends with the rowid, which is seq (the INTEGER PRIMARY KEY), and
-- orders and bounds by it as it would by a named column (ORDER BY seq and
-- seq < ? are served by the index alone). Four bytes an entry each.
DROP INDEX jobs_state;
CREATE INDEX jobs_state ON jobs(tenant, state);
DROP INDEX jobs_run;
CREATE INDEX jobs_run ON jobs(tenant, run_id) WHERE run_id IS NOT NULL;
DROP INDEX jobs_queued;
CREATE INDEX jobs_queued ON jobs(tenant) WHERE state = 'QUEUED' AND executor IS NULL;
DROP INDEX jobs_queued_action;
CREATE INDEX jobs_queued_action ON jobs(tenant, action) WHERE state = 'QUEUED' AND executor IS NULL;
