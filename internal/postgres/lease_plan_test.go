package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn/internal/postgres"
)

// TestLeasePlan asks PostgreSQL how it runs the lease queries over 100,000
// analyzed jobs of which 2,000 are QUEUED (200 of them bound to an
// executor), in 40 actions: each walks the partial index jobs_queued or
// jobs_queued_action (migration 0005), never the tenant's jobs.
func TestLeasePlan(t *testing.T) {
	c := migratedConn(t)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO jobs(tenant, job_id, state, action, decision, submitted_by, created_at, executor, body)
		 SELECT 'default', 'j' || i, CASE WHEN i % 50 = 0 THEN 'QUEUED' ELSE 'SUCCEEDED' END,
		   'act.' || (i % 40), 'ALLOW', 'agent-1', i, CASE WHEN i % 500 = 0 THEN 'gateway' END, '{}'
		 FROM generate_series(1, 100000) i`,
		`ANALYZE jobs`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, query string
		args        []any
		index       string
	}{
		{"LeasableJobs(nil)", postgres.LeasableAnyQuery, []any{"default", 1}, "jobs_queued"},
		{"LeasableJobs(actions)", postgres.LeasableOfQuery, []any{"default", []string{"act.10", "act.20"}, 1}, "jobs_queued_action"},
		{"QueuedActions", postgres.QueuedActionsQuery, []any{"default", "", 256}, "jobs_queued_action"},
	} {
		rows, err := c.Query(ctx, "EXPLAIN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		t.Logf("%s:\n%s", tc.name, plan)
		if !strings.Contains(plan, " using "+tc.index+" on jobs") || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "jobs_state") {
			t.Errorf("%s plan:\n%s\nwant scans of %s only", tc.name, plan, tc.index)
		}
	}
}
