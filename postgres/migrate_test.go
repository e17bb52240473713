package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/postgres"
)

// TestMigrateRunsFromV1 opens a schema that has only migration 0001 and
// runs in the old format (tenant, run_id, body): 0002 numbers them in
// creation order (r-tz, r-old, r-wf, r-new, which neither the keys nor the
// created_at strings sort into) and indexes their status and workflow.
func TestMigrateRunsFromV1(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	body, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		string(body), `INSERT INTO schema_migrations(version) VALUES ('0001_init')`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct{ tenant, id, body string }{
		{"default", "r-new", `{"run_id":"r-new","tenant":"default","status":"completed","started_by":"agent-1","created_at":"2026-03-01T12:00:01.123456789Z","updated_at":"2026-03-01T12:00:02Z","completed_at":"2026-03-01T12:00:02Z"}`},
		{"default", "r-old", `{"run_id":"r-old","tenant":"default","status":"running","started_by":"agent-1","created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z","completed_at":null}`},
		{"acme", "r-acme", `{"run_id":"r-acme","tenant":"acme","status":"running","started_by":"agent-2","created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z","completed_at":null}`},
		{"default", "r-tz", `{"run_id":"r-tz","tenant":"default","status":"completed","started_by":"agent-1","created_at":"2026-03-01T13:30:00+02:00","updated_at":"2026-03-01T13:30:00+02:00","completed_at":"2026-03-01T13:30:00+02:00"}`},
		{"default", "r-wf", `{"run_id":"r-wf","tenant":"default","status":"waiting_approval","started_by":"agent-1","created_at":"2026-03-01T12:00:00.5Z","updated_at":"2026-03-01T12:00:00.5Z","completed_at":null,"workflow_id":"wf:default:deploy#sha256:ab"}`},
	} {
		if _, err := c.Exec(ctx, `INSERT INTO runs(tenant, run_id, body) VALUES ($1, $2, $3)`, r.tenant, r.id, r.body); err != nil {
			t.Fatal(err)
		}
	}

	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := func(rs []*cairn.Run) string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.RunID + ":" + r.Status
		}
		return strings.Join(out, ",")
	}
	var newest int64
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		rs, err := tx.ListRuns("default", cairn.RunFilter{Page: cairn.Page{Limit: 10}})
		if err != nil {
			return err
		}
		if got, want := ids(rs), "r-new:completed,r-wf:waiting_approval,r-old:running,r-tz:completed"; got != want {
			t.Fatalf("ListRuns = %s, want %s", got, want)
		}
		newest = rs[0].Seq
		rs, err = tx.ListRuns("default", cairn.RunFilter{WorkflowID: "wf:default:deploy#sha256:ab", Page: cairn.Page{Limit: 10}})
		if err != nil || ids(rs) != "r-wf:waiting_approval" {
			t.Fatalf("ListRuns(workflow) = %s, %v", ids(rs), err)
		}
		rs, err = tx.ListRuns("acme", cairn.RunFilter{Status: cairn.RunRunning, Page: cairn.Page{Limit: 10}})
		if err != nil || ids(rs) != "r-acme:running" || rs[0].StartedBy != "agent-2" {
			t.Fatalf("ListRuns(acme) = %s, %v", ids(rs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wake := time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)
	fresh := &cairn.Run{RunID: "r-fresh", Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-1", CreatedAt: wake, UpdatedAt: wake, WakeAt: &wake}
	if err := s.Update(ctx, func(tx cairn.Tx) error { return tx.InsertRun(fresh) }); err != nil {
		t.Fatal(err)
	}
	if fresh.Seq <= newest {
		t.Fatalf("new run seq %d, the newest migrated one %d", fresh.Seq, newest)
	}
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		rs, err := tx.DueRuns(wake, 10)
		if err != nil || ids(rs) != "r-fresh:running" {
			t.Fatalf("DueRuns = %s, %v", ids(rs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
