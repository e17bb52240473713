package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
)

// TestListRunsPlan asks PostgreSQL how it runs ListRuns by starter over
// 50,000 analyzed runs (100 starters, four workflows, a few running or
// waiting runs): through runs_started_by, or runs_started_by_status with a
// status (migration 0003), never a scan of the tenant's runs.
func TestListRunsPlan(t *testing.T) {
	c := migratedConn(t)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO runs(tenant, run_id, workflow_id, status, started_by, body)
		 SELECT 'default', 'r' || i, 'wf-' || (i / 100 % 4),
		   CASE WHEN i % 53 = 0 THEN 'running' WHEN i % 97 = 0 THEN 'waiting_approval' ELSE 'succeeded' END,
		   'agent-' || (i % 100), '{}'
		 FROM generate_series(1, 50000) i`,
		`ANALYZE runs`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f     cairn.RunFilter
		index string
	}{
		{cairn.RunFilter{StartedBy: "agent-7"}, "runs_started_by"},
		{cairn.RunFilter{StartedBy: "agent-7", Page: cairn.Page{After: 25000}}, "runs_started_by"},
		{cairn.RunFilter{StartedBy: "agent-7", WorkflowID: "wf-1"}, "runs_started_by"},
		{cairn.RunFilter{StartedBy: "agent-7", Status: cairn.RunSucceeded}, "runs_started_by_status"},
		{cairn.RunFilter{StartedBy: "agent-7", Status: cairn.RunRunning}, "runs_started_by_status"},
		{cairn.RunFilter{StartedBy: "agent-7", Status: cairn.RunWaitingApproval, Page: cairn.Page{After: 25000}}, "runs_started_by_status"},
		{cairn.RunFilter{StartedBy: "nobody"}, "runs_started_by"},
	} {
		tc.f.Limit = 50
		q, args := postgres.ListRunsQuery("default", tc.f)
		rows, err := c.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		t.Logf("%+v:\n%s", tc.f, plan)
		if (!strings.Contains(plan, " using "+tc.index+" on runs") && !strings.Contains(plan, " on "+tc.index+" ")) || strings.Contains(plan, "Seq Scan") {
			t.Errorf("ListRuns(%+v) plan:\n%s\nwant a scan of %s", tc.f, plan, tc.index)
		}
	}
}
