package sqlite_test

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestOpenRunJobsPlan: counting a run's open jobs reads the partial index
// of open jobs (migration 0007), not every job the run ever had.
func TestOpenRunJobsPlan(t *testing.T) {
	plan := strings.Join(queryPlan(t, planDB(t), sqlite.OpenRunJobsQuery, "default", "run-1"), "; ")
	if !strings.Contains(plan, "jobs_open_by_run") {
		t.Fatalf("OpenRunJobs plan: %s", plan)
	}
}
