package sqlite_test

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestJobListsPlan: since migration 0012 the jobs indexes no longer name
// seq (it is the rowid every SQLite index ends with; ADR 0047), and the
// job lists still walk one index in seq order, newest first, with no sort:
// by state jobs_state, by run jobs_run, a page after a cursor bounded by
// the rowid; the lease queries keep their partial indexes in seq order.
func TestJobListsPlan(t *testing.T) {
	db := planDB(t)
	for _, c := range []struct {
		f     cairn.JobFilter
		index string
	}{
		{cairn.JobFilter{State: cairn.StateQueued}, "jobs_state (tenant=? AND state=?)"},
		{cairn.JobFilter{State: cairn.StateQueued, Page: cairn.Page{After: 500}}, "jobs_state (tenant=? AND state=? AND rowid<?)"},
		{cairn.JobFilter{RunID: "run-1"}, "jobs_run (tenant=? AND run_id=?)"},
		{cairn.JobFilter{RunID: "run-1", Action: "db.read", Page: cairn.Page{After: 500}}, "jobs_run (tenant=? AND run_id=? AND rowid<?)"},
	} {
		c.f.Limit = 50
		q, args := sqlite.ListJobsQuery("default", c.f)
		plan := strings.Join(queryPlan(t, db, q, args...), "; ")
		if plan != "SEARCH jobs USING INDEX "+c.index {
			t.Errorf("ListJobs(%+v) plan: %s, want a search of %s and nothing else", c.f, plan, c.index)
		}
	}
	for q, want := range map[string]string{
		`SELECT seq FROM jobs INDEXED BY jobs_queued WHERE tenant = 'default' AND state = 'QUEUED' AND executor IS NULL ORDER BY seq LIMIT 5`:                               "SEARCH jobs USING INDEX jobs_queued (tenant=?)",
		`SELECT seq FROM jobs INDEXED BY jobs_queued_action WHERE tenant = 'default' AND state = 'QUEUED' AND executor IS NULL AND action = 'db.read' ORDER BY seq LIMIT 5`: "SEARCH jobs USING INDEX jobs_queued_action (tenant=? AND action=?)",
	} {
		if plan := strings.Join(queryPlan(t, db, q), "; "); plan != want {
			t.Errorf("%s\nplan: %s, want %s", q, plan, want)
		}
	}
}
