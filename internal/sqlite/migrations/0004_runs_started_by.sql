-- Runs by starter: an agent's GET /api/v1/workflow-runs lists only the runs
-- it started (RunFilter.StartedBy), newest first. started_by is a copy of
-- the body's, like workflow_id and status (0003): InsertRun and UpdateRun
-- write it, and existing runs take it from their body here. Every run has
-- a starter (the field is not omitempty); '' stands for a body without one.
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
--   more index entry per run, rewritten when its status changes.
--
-- runs_started_by_status cannot replace runs_started_by: for the starter
-- alone its seqs are ordered within each status only, so the page would
-- need the starter's every run sorted.

ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT '';
UPDATE runs SET started_by = coalesce(json_extract(body, '$.started_by'), '');
CREATE INDEX runs_started_by ON runs(tenant, started_by, seq);
CREATE INDEX runs_started_by_status ON runs(tenant, started_by, status, seq);
