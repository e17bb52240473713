package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestListRunsPlan asks SQLite how it runs ListRuns for each combination
// of filters: every one walks an index in seq order (no sort, no scan of
// the tenant's runs), the starter's through runs_started_by or, with a
// status, runs_started_by_status (migration 0004). The store never runs
// ANALYZE, so the planner chooses as it does here, from the schema alone.
func TestListRunsPlan(t *testing.T) {
	db := planDB(t)
	wf := "wf:default:deploy#sha256:ab"
	for _, c := range []struct {
		f     cairn.RunFilter
		index string
	}{
		{cairn.RunFilter{}, "runs_tenant"},
		{cairn.RunFilter{Status: cairn.RunRunning}, "runs_status"},
		{cairn.RunFilter{WorkflowID: wf}, "runs_workflow"},
		{cairn.RunFilter{StartedBy: "agent-1"}, "runs_started_by"},
		{cairn.RunFilter{StartedBy: "agent-1", Page: cairn.Page{After: 1000}}, "runs_started_by"},
		{cairn.RunFilter{StartedBy: "agent-1", Status: cairn.RunRunning}, "runs_started_by_status"},
		{cairn.RunFilter{StartedBy: "agent-1", Status: cairn.RunRunning, Page: cairn.Page{After: 1000}}, "runs_started_by_status"},
		{cairn.RunFilter{StartedBy: "agent-1", WorkflowID: wf}, "runs_started_by"},
		{cairn.RunFilter{StartedBy: "agent-1", WorkflowID: wf, Status: cairn.RunRunning}, "runs_started_by_status"},
	} {
		c.f.Limit = 50
		q, args := sqlite.ListRunsQuery("default", c.f)
		plan := queryPlan(t, db, q, args...)
		got := strings.Join(plan, "; ")
		t.Logf("%+v: %s", c.f, got)
		if len(plan) != 1 || !strings.HasPrefix(got, "SEARCH runs USING INDEX "+c.index+" (") {
			t.Errorf("ListRuns(%+v) plan: %s, want a search of %s and nothing else", c.f, got, c.index)
		}
	}
}

// planDB is a freshly migrated store's database, opened for EXPLAIN.
func planDB(t *testing.T) *sql.DB {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, one detail a step.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
