-- Leasing without scanning (issue 11 §3.3). A lease used to walk the
-- tenant's QUEUED jobs oldest first in the writer, checking each action
-- against the worker's globs; a backlog of jobs no worker serves made every
-- lease, and so every submit waiting behind it, slower, and past 2,000 such
-- jobs hid every newer job from every worker. Leases now find their jobs by
-- index, outside the writer (ADR 0014):
--
--   jobs_queued (tenant, seq) gives the oldest leasable job of a tenant, for
--   a worker that takes any action ("*").
--
--   jobs_queued_action (tenant, action, seq) gives the oldest leasable jobs
--   of one action, and the distinct actions that have any (a skip scan: one
--   seek per action), for a worker whose globs name actions or prefixes.
--
-- Both are partial: they hold only QUEUED jobs that a lease by glob may
-- take, so they stay as small as the queue, and a job leaves them when it is
-- leased. A job bound to an executor (executor set) is leased only by a
-- request naming it, so it is in neither, and a backlog of such jobs costs
-- glob leases nothing. executor is a copy of the body's, like state and
-- action: InsertJob and UpdateJob write it, and existing jobs take it from
-- their body here.

ALTER TABLE jobs ADD COLUMN executor TEXT;
UPDATE jobs SET executor = nullif(json_extract(body, '$.executor'), '') WHERE instr(body, '"executor":') > 0;
CREATE INDEX jobs_queued ON jobs(tenant, seq) WHERE state = 'QUEUED' AND executor IS NULL;
CREATE INDEX jobs_queued_action ON jobs(tenant, action, seq) WHERE state = 'QUEUED' AND executor IS NULL;
