-- A run's open jobs, by index. When a job of a run reaches a final state the
-- service asks whether the run has any open job left (OpenRunJobs) to mark
-- the run completed. Through jobs_run that count walked every job the run
-- ever had, so a long-lived run (an MCP gateway session makes one job per
-- tool call) paid for its whole history on every completion. This partial
-- index holds only open jobs; the count reads just those.
CREATE INDEX IF NOT EXISTS jobs_open_by_run ON jobs(tenant, run_id) WHERE run_id IS NOT NULL AND state IN ('PENDING_APPROVAL', 'QUEUED', 'RUNNING');
