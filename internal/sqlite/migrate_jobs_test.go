package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestMigrateJobsQueuedFromV5 opens a database at migration 0005 whose
// queued jobs include one bound to an executor (in its body only): 0006
// copies the executor into its column, so glob leases never see that job,
// and indexes the others for leasing.
func TestMigrateJobsQueuedFromV5(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_init", "0002_merkle", "0003_workflows", "0004_runs_started_by", "0005_store_secrets"} {
		body, err := os.ReadFile(filepath.Join("migrations", v+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations(version) VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []struct{ id, action, state, executor string }{
		{"j1", "db.read", cairn.StateQueued, ""},
		{"j2", "tool.call", cairn.StateQueued, "gateway"},
		{"j3", "db.read", cairn.StateSucceeded, ""},
		{"j4", "mail.send", cairn.StateQueued, ""},
	} {
		body := `{"job_id":"` + j.id + `","tenant":"default","action":"` + j.action + `","state":"` + j.state + `"`
		if j.executor != "" {
			body += `,"executor":"` + j.executor + `"`
		}
		body += `}`
		if _, err := db.Exec(`INSERT INTO jobs(tenant, job_id, state, action, decision, submitted_by, created_at, body) VALUES ('default', ?, ?, ?, 'ALLOW', 'agent-1', 0, ?)`, j.id, j.state, j.action, body); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(context.Background(), func(tx cairn.ReadTx) error {
		js, err := tx.LeasableJobs("default", nil, 10)
		if err != nil {
			return err
		}
		if len(js) != 2 || js[0].JobID != "j1" || js[1].JobID != "j4" {
			t.Errorf("LeasableJobs after 0006: %d jobs %v", len(js), js)
		}
		as, err := tx.QueuedActions("default", "", 10)
		if err != nil {
			return err
		}
		if len(as) != 2 || as[0] != "db.read" || as[1] != "mail.send" {
			t.Errorf("QueuedActions after 0006: %q", as)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
