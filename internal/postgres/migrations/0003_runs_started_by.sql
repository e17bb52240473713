-- Runs by starter, as in the embedded store (sqlite/migrations/0004): an
-- agent's GET /api/v1/workflow-runs lists only the runs it started
-- (RunFilter.StartedBy), newest first. started_by is a copy of the body's,
-- like workflow_id and status (0002): InsertRun and UpdateRun write it, and
-- existing runs take it from their body here. Every run has a starter (the
-- field is not omitempty); '' stands for a body without one.
--
-- Two indexes, both ending in the list's order key (seq, newest first), so
-- that a page is a bounded index walk with no sort:
--
--   runs_started_by (tenant, started_by, seq) serves the starter alone, and
--   the starter with a workflow (walking the starter's runs and checking
--   workflow_id).
--
--   runs_started_by_status (tenant, started_by, status, seq) serves the
--   starter with a status. It is the filter agents poll with (their running
--   or waiting_approval runs), and those statuses are the rare ones in a
--   starter's history: with runs_started_by alone the walk would cross every
--   finished run the starter ever had before finding a page (or not), and
--   with runs_status every run of that status in the tenant. The cost is one
--   more index entry per run, and one more to write when its status changes
--   (such an update is not HOT already, because of runs_status).
--
-- runs_started_by_status cannot replace runs_started_by: for the starter
-- alone its seqs are ordered within each status only, so the page would
-- need the starter's every run sorted.
--
-- Unlike those of 0002, run bodies now carry free text (step errors, gate
-- inputs, vote comments), which may hold a \u0000 escape: json (and jsonb)
-- refuse it anywhere in the text, even outside the field asked for.
-- Replacing every "\u0000" by "\u0001" keeps the text valid JSON whichever
-- way that backslash is read (an escape, or the second half of "\\"), and
-- leaves started_by, a validated identifier, as it was.
--
-- Replicas roll: one of the version before this migration may still insert
-- runs after it, without started_by. The trigger fills the column from the
-- body for an insert that leaves it empty; the WHEN clause keeps it off the
-- path of the writers that set it. (Such a replica's UpdateRun does not
-- touch the column, and the starter of a run never changes.)

ALTER TABLE runs ADD COLUMN started_by text COLLATE "C" NOT NULL DEFAULT '';

UPDATE runs SET started_by = coalesce(replace(body, '\u0000', '\u0001')::json->>'started_by', '');

CREATE INDEX runs_started_by ON runs(tenant, started_by, seq);
CREATE INDEX runs_started_by_status ON runs(tenant, started_by, status, seq);

CREATE FUNCTION cairn_run_started_by() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.started_by := coalesce(replace(NEW.body, '\u0000', '\u0001')::json->>'started_by', '');
  RETURN NEW;
END
$$;
CREATE TRIGGER runs_started_by BEFORE INSERT ON runs FOR EACH ROW WHEN (NEW.started_by = '') EXECUTE FUNCTION cairn_run_started_by();
