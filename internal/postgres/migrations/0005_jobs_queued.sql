-- Leasing without scanning, as in the embedded store (sqlite/migrations/0006;
-- ADR 0014): a lease finds its jobs by index, outside the write transaction,
-- instead of walking the tenant's QUEUED jobs in it.
--
--   jobs_queued (tenant, seq): the oldest leasable job of a tenant, for a
--   worker that takes any action ("*").
--
--   jobs_queued_action (tenant, action, seq): the oldest leasable jobs of
--   one action, and the distinct actions that have any (a recursive skip
--   scan: one index seek per action).
--
-- Both are partial: only QUEUED jobs that a lease by glob may take, so they
-- are as small as the queue. A job bound to an executor (executor set) is
-- leased only by a request naming it and is in neither. executor is a copy
-- of the body's, like state and action: InsertJob and UpdateJob write it,
-- and existing jobs take it from their body here (with "\u0000" replaced,
-- which json refuses anywhere in the text; see 0003).
--
-- Replicas roll: one of the version before this migration may still insert
-- jobs after it, without the column. The trigger fills it from the body for
-- an insert that names an executor in the body but not in the column; the
-- WHEN clause keeps it off the common path.
--
-- CREATE INDEX (not CONCURRENTLY: migrations run in a transaction) blocks
-- writes to jobs while it reads the table once.

ALTER TABLE jobs ADD COLUMN executor text COLLATE "C";

UPDATE jobs SET executor = nullif(replace(body, '\u0000', '\u0001')::json->>'executor', '')
  WHERE strpos(body, '"executor":') > 0;

CREATE INDEX jobs_queued ON jobs(tenant, seq) WHERE state = 'QUEUED' AND executor IS NULL;
CREATE INDEX jobs_queued_action ON jobs(tenant, action, seq) WHERE state = 'QUEUED' AND executor IS NULL;

CREATE FUNCTION cairn_job_executor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.executor := nullif(replace(NEW.body, '\u0000', '\u0001')::json->>'executor', '');
  RETURN NEW;
END
$$;
CREATE TRIGGER jobs_executor BEFORE INSERT ON jobs FOR EACH ROW
  WHEN (NEW.executor IS NULL AND strpos(NEW.body, '"executor":') > 0) EXECUTE FUNCTION cairn_job_executor();
