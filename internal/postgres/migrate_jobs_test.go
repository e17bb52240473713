package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
)

// TestMigrateJobsQueuedFromV4 opens a schema at migration 0004 whose queued
// jobs include one bound to an executor (in its body only, with a NUL
// escape elsewhere in it): 0005 copies the executor into its column, so
// glob leases never see that job. Then a replica of the older version
// inserts a bound job without the column: the trigger fills it.
func TestMigrateJobsQueuedFromV4(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_init", "0002_workflows", "0003_runs_started_by", "0004_store_secrets"} {
		body, err := os.ReadFile(filepath.Join("migrations", v+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if _, err := c.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES ($1)`, v); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(id, action, state, executor string) {
		t.Helper()
		body := `{"job_id":"` + id + `","tenant":"default","action":"` + action + `","state":"` + state + `","labels":{"x":"a\u0000b"}`
		if executor != "" {
			body += `,"executor":"` + executor + `"`
		}
		body += `}`
		if _, err := c.Exec(ctx, `INSERT INTO jobs(tenant, job_id, state, action, decision, submitted_by, created_at, body) VALUES ('default', $1, $2, $3, 'ALLOW', 'agent-1', 0, $4)`, id, state, action, body); err != nil {
			t.Fatal(err)
		}
	}
	insert("j1", "db.read", cairn.StateQueued, "")
	insert("j2", "tool.call", cairn.StateQueued, "gateway")
	insert("j3", "db.read", cairn.StateSucceeded, "")
	insert("j4", "tool.call", cairn.StateQueued, "gateway")
	insert("j5", "mail.send", cairn.StateQueued, "")
	// Replicas older than 0005 inserting after it were served by a trigger
	// until 0007, which changed jobs.body to bytea (ADR 0044): such a
	// replica's inserts now fail, so the trigger went.
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		js, err := tx.LeasableJobs("default", nil, 10)
		if err != nil {
			return err
		}
		if len(js) != 2 || js[0].JobID != "j1" || js[1].JobID != "j5" {
			t.Errorf("LeasableJobs after 0005: %d jobs %v", len(js), js)
		}
		as, err := tx.QueuedActions("default", "", 10)
		if err != nil {
			return err
		}
		if len(as) != 2 || as[0] != "db.read" || as[1] != "mail.send" {
			t.Errorf("QueuedActions after 0005: %q", as)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
