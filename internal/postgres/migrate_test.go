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
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/storetest"
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

// TestMigrateRunsFromV2 opens a schema at 0002_workflows whose runs rows
// have no started_by column: 0003 fills it from each body, including one
// whose free text holds \u0000 escapes (which json refuses) and one without
// the field (the empty string). ListRuns by starter then finds exactly each
// starter's runs, alone and with a status or workflow, page by page;
// UpdateRun and InsertRun keep the column, and an insert that leaves it out
// (a replica of the version before, during a rolling upgrade) has it filled
// from the body.
func TestMigrateRunsFromV2(t *testing.T) {
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
	for _, v := range []string{"0001_init", "0002_workflows"} {
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
	// Runs as the migration before started_by stored them (storetest.OldRuns).
	for _, r := range storetest.OldRuns() {
		if _, err := c.Exec(ctx, `INSERT INTO runs(tenant, run_id, workflow_id, status, body) VALUES ($1,$2,$3,$4,$5)`, r.Tenant, r.ID, nullIfEmpty(r.Workflow), r.Status, r.Body); err != nil {
			t.Fatal(err)
		}
	}

	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	// pages lists f page by page (3 runs a page) and joins the pages.
	pages := func(tx cairn.ReadTx, tenant string, f cairn.RunFilter) string {
		t.Helper()
		return storetest.RunPages(t, tx, tenant, f, 3)
	}
	check := func(what string) { t.Helper(); storetest.CheckOldRuns(t, s, what) }
	check("after the migration")
	s.Close()
	if s, err = postgres.Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	check("reopened")

	// The column follows the body: r9 gets a starter, a new run has one, and
	// so has a run inserted without the column.
	err = s.Update(ctx, func(tx cairn.Tx) error {
		r, err := tx.GetRun("default", "r9")
		if err != nil {
			return err
		}
		r.StartedBy = "agent-2"
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		return tx.InsertRun(&cairn.Run{RunID: "r10", Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-2",
			CreatedAt: time.Now(), UpdatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO runs(tenant, run_id, status, body) VALUES ('default', 'r11', 'running', $1)`,
		`{"run_id":"r11","tenant":"default","status":"running","started_by":"agent-2","created_at":"2026-03-01T12:00:11Z","updated_at":"2026-03-01T12:00:11Z","completed_at":null,"status_reason":"\u0000"}`); err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		if got, want := pages(tx, "default", cairn.RunFilter{StartedBy: "agent-2"}), "r11,r10,r9,r7,r5,r3,r1"; got != want {
			t.Errorf("ListRuns(agent-2) after writes = %s, want %s", got, want)
		}
		if got, want := pages(tx, "default", cairn.RunFilter{StartedBy: "agent-2", Status: cairn.RunRunning}), "r11,r10"; got != want {
			t.Errorf("ListRuns(agent-2, running) after writes = %s, want %s", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The stored column is each row's starter.
	rows, err := c.Query(ctx, `SELECT tenant || '/' || run_id || ':' || started_by FROM runs ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := "default/r0:agent-1,default/r1:agent-2,default/r2:agent-1,default/r3:agent-2,default/r4:agent-1,default/r5:agent-2," +
		"default/r6:agent-1,default/r7:agent-2,default/r8:agent-1,default/r9:agent-2,acme/a0:agent-1,default/r10:agent-2,default/r11:agent-2"
	if strings.Join(got, ",") != want {
		t.Fatalf("started_by columns:\n got %s\nwant %s", strings.Join(got, ","), want)
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
