package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/sqlite"
)

// TestOpenRunJobsPlan: counting a run's open jobs reads the partial index
// of open jobs (migration 0007), not every job the run ever had.
func TestOpenRunJobsPlan(t *testing.T) {
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
	defer db.Close()
	var detail string
	var id, parent, notused int
	if err := db.QueryRow("EXPLAIN QUERY PLAN "+sqlite.OpenRunJobsQuery, "default", "run-1").Scan(&id, &parent, &notused, &detail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "jobs_open_by_run") {
		t.Fatalf("OpenRunJobs plan: %s", detail)
	}
}
