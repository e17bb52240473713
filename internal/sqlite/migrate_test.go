package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/internal/storetest"
)

// oldRuns are runs as the store wrote them before 0003_workflows: a
// (tenant, run_id, body) row each, in no particular order. Their creation
// order (oldest first) is r-tz, r-old, r-wf, r-new, which neither the keys
// nor the created_at strings sort into.
var oldRuns = []struct{ tenant, id, body string }{
	{"default", "r-new", `{"run_id":"r-new","tenant":"default","status":"completed","started_by":"agent-1","created_at":"2026-03-01T12:00:01.123456789Z","updated_at":"2026-03-01T12:00:02Z","completed_at":"2026-03-01T12:00:02Z"}`},
	{"default", "r-old", `{"run_id":"r-old","tenant":"default","status":"running","started_by":"agent-1","created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z","completed_at":null}`},
	{"acme", "r-acme", `{"run_id":"r-acme","tenant":"acme","status":"running","started_by":"agent-2","created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z","completed_at":null}`},
	{"default", "r-tz", `{"run_id":"r-tz","tenant":"default","status":"completed","started_by":"agent-1","created_at":"2026-03-01T13:30:00+02:00","updated_at":"2026-03-01T13:30:00+02:00","completed_at":"2026-03-01T13:30:00+02:00"}`},
	{"default", "r-wf", `{"run_id":"r-wf","tenant":"default","status":"waiting_approval","started_by":"agent-1","created_at":"2026-03-01T12:00:00.5Z","updated_at":"2026-03-01T12:00:00.5Z","completed_at":null,"workflow_id":"wf:default:deploy#sha256:ab"}`},
}

// TestMigrateRunsFromV2 opens a database that has only migrations 0001 and
// 0002 and runs in the old format: 0003 numbers them in creation order and
// indexes their status and workflow, and the store then lists, reads,
// updates and adds runs.
func TestMigrateRunsFromV2(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_init", "0002_merkle"} {
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
	for _, r := range oldRuns {
		if _, err := db.Exec(`INSERT INTO runs(tenant, run_id, body) VALUES (?, ?, ?)`, r.tenant, r.id, r.body); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	ids := func(rs []*cairn.Run) string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.RunID + ":" + r.Status
		}
		return strings.Join(out, ",")
	}
	var seqs map[string]int64
	check := func(what string) {
		t.Helper()
		err := s.View(ctx, func(tx cairn.ReadTx) error {
			rs, err := tx.ListRuns("default", cairn.RunFilter{Page: cairn.Page{Limit: 10}})
			if err != nil {
				return err
			}
			if got, want := ids(rs), "r-new:completed,r-wf:waiting_approval,r-old:running,r-tz:completed"; got != want {
				t.Fatalf("%s: ListRuns = %s, want %s", what, got, want)
			}
			if seqs == nil {
				seqs = map[string]int64{}
				for _, r := range rs {
					seqs[r.RunID] = r.Seq
				}
			}
			for _, r := range rs {
				if r.Seq == 0 || r.Seq != seqs[r.RunID] {
					t.Fatalf("%s: %s has seq %d, want %d", what, r.RunID, r.Seq, seqs[r.RunID])
				}
			}
			rs, err = tx.ListRuns("default", cairn.RunFilter{Status: cairn.RunCompleted, Page: cairn.Page{Limit: 10}})
			if err != nil || ids(rs) != "r-new:completed,r-tz:completed" {
				t.Fatalf("%s: ListRuns(completed) = %s, %v", what, ids(rs), err)
			}
			rs, err = tx.ListRuns("default", cairn.RunFilter{WorkflowID: "wf:default:deploy#sha256:ab", Page: cairn.Page{Limit: 10}})
			if err != nil || ids(rs) != "r-wf:waiting_approval" {
				t.Fatalf("%s: ListRuns(workflow) = %s, %v", what, ids(rs), err)
			}
			rs, err = tx.ListRuns("acme", cairn.RunFilter{Status: cairn.RunRunning, Page: cairn.Page{Limit: 10}})
			if err != nil || ids(rs) != "r-acme:running" {
				t.Fatalf("%s: ListRuns(acme) = %s, %v", what, ids(rs), err)
			}
			// 0004 after 0003: the starter is read from the body too.
			rs, err = tx.ListRuns("acme", cairn.RunFilter{StartedBy: "agent-2", Page: cairn.Page{Limit: 10}})
			if err != nil || ids(rs) != "r-acme:running" {
				t.Fatalf("%s: ListRuns(acme, agent-2) = %s, %v", what, ids(rs), err)
			}
			rs, err = tx.ListRuns("default", cairn.RunFilter{StartedBy: "agent-1", Status: cairn.RunCompleted, Page: cairn.Page{Limit: 10}})
			if err != nil || ids(rs) != "r-new:completed,r-tz:completed" {
				t.Fatalf("%s: ListRuns(agent-1, completed) = %s, %v", what, ids(rs), err)
			}
			r, err := tx.GetRun("default", "r-tz")
			if err != nil || r.Seq != seqs["r-tz"] || r.StartedBy != "agent-1" || r.CompletedAt == nil || r.WakeAt != nil {
				t.Fatalf("%s: GetRun = %+v, %v", what, r, err)
			}
			rs, err = tx.DueRuns(time.Now().Add(time.Hour), 10)
			if err != nil || len(rs) != 0 {
				t.Fatalf("%s: DueRuns = %s, %v", what, ids(rs), err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("after the migration")
	// Reopening applies nothing again.
	s.Close()
	if s, err = sqlite.Open(dir); err != nil {
		t.Fatal(err)
	}
	check("reopened")

	// Migrated runs update in place; new runs come after them.
	wake := time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)
	fresh := &cairn.Run{RunID: "r-fresh", Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-1", CreatedAt: wake, UpdatedAt: wake}
	err = s.Update(ctx, func(tx cairn.Tx) error {
		r, err := tx.GetRun("default", "r-old")
		if err != nil {
			return err
		}
		r.Status = cairn.RunCompleted
		r.WakeAt = &wake
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		return tx.InsertRun(fresh)
	})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Seq <= seqs["r-new"] || fresh.Seq <= seqs["r-acme"] {
		t.Fatalf("new run seq %d, migrated ones %v", fresh.Seq, seqs)
	}
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		rs, err := tx.ListRuns("default", cairn.RunFilter{Status: cairn.RunCompleted, Page: cairn.Page{Limit: 10}})
		if err != nil || ids(rs) != "r-new:completed,r-old:completed,r-tz:completed" {
			t.Fatalf("ListRuns(completed) after an update = %s, %v", ids(rs), err)
		}
		rs, err = tx.ListRuns("default", cairn.RunFilter{Page: cairn.Page{Limit: 1}})
		if err != nil || ids(rs) != "r-fresh:running" {
			t.Fatalf("ListRuns newest = %s, %v", ids(rs), err)
		}
		rs, err = tx.DueRuns(wake, 10)
		if err != nil || ids(rs) != "r-old:completed" {
			t.Fatalf("DueRuns = %s, %v", ids(rs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateRunsFromV3 opens a database at 0003_workflows whose runs rows
// have no started_by column: 0004 fills it from each body (a body without
// the field gets the empty string), ListRuns by starter then finds exactly
// each starter's runs, alone and with a status or workflow, page by page,
// and UpdateRun and InsertRun keep the column.
func TestMigrateRunsFromV3(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cairn.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_init", "0002_merkle", "0003_workflows"} {
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
	// Runs as the migration before started_by stored them (storetest.OldRuns).
	for _, r := range storetest.OldRuns() {
		var wf any
		if r.Workflow != "" {
			wf = r.Workflow
		}
		if _, err := db.Exec(`INSERT INTO runs(tenant, run_id, workflow_id, status, body) VALUES (?,?,?,?,?)`, r.Tenant, r.ID, wf, r.Status, r.Body); err != nil {
			t.Fatal(err)
		}
	}

	db.Close()

	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	ctx := context.Background()
	// pages lists f page by page (3 runs a page) and joins the pages.
	pages := func(tx cairn.ReadTx, tenant string, f cairn.RunFilter) string {
		t.Helper()
		return storetest.RunPages(t, tx, tenant, f, 3)
	}
	check := func(what string) { t.Helper(); storetest.CheckOldRuns(t, s, what) }
	check("after the migration")
	s.Close()
	if s, err = sqlite.Open(dir); err != nil {
		t.Fatal(err)
	}
	check("reopened")

	// The column follows the body: r9 gets a starter, and a new run has one.
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
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		if got, want := pages(tx, "default", cairn.RunFilter{StartedBy: "agent-2"}), "r10,r9,r7,r5,r3,r1"; got != want {
			t.Errorf("ListRuns(agent-2) after writes = %s, want %s", got, want)
		}
		if got, want := pages(tx, "default", cairn.RunFilter{StartedBy: "agent-2", Status: cairn.RunRunning}), "r10"; got != want {
			t.Errorf("ListRuns(agent-2, running) after writes = %s, want %s", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = nil

	// The stored column equals the body's starter for every row.
	if db, err = sql.Open("sqlite", "file:"+path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, bad int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE started_by IS NOT coalesce(json_extract(body, '$.started_by'), '')) FROM runs`).Scan(&n, &bad); err != nil {
		t.Fatal(err)
	}
	if n != 12 || bad != 0 {
		t.Fatalf("%d runs, %d whose started_by is not their body's", n, bad)
	}
}
