package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/internal/storetest"
)

// TestMigrateCompactLedgerFromV7 writes ledger entries and jobs in a store
// at migration 0007 (the ledger as one table with text bodies and hex
// hashes, jobs with JSON text bodies), migrates it in place, and checks
// that every read (entries, events, timelines, decisions, jobs) returns
// exactly what a store of the new layout returned for the same writes,
// that the ledger verifies, that it goes on growing with compressed
// bodies, and that both ledger tables refuse updates and deletes.
func TestMigrateCompactLedgerFromV7(t *testing.T) {
	fresh, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := storetest.WriteOldLedger(t, fresh)
	want := storetest.ReadBack(t, fresh, old)
	fresh.Close()

	dir := t.TempDir()
	writeV7(t, dir, old)
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckMigrated(t, s, old, want)
	s.Close()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) (n int) {
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	plain := count(`SELECT count(*) FROM ledger_bodies WHERE substr(body, 1, 1) = CAST('{' AS BLOB)`)
	packed := count(`SELECT count(*) FROM ledger_bodies WHERE substr(body, 1, 4) = x'28b52ffd'`)
	hashes := count(`SELECT count(*) FROM ledger WHERE typeof(leaf_hash) = 'blob' AND length(leaf_hash) = 32`)
	jobPacked := count(`SELECT count(*) FROM jobs WHERE substr(body, 1, 4) = x'28b52ffd'`)
	if plain != 96 || packed != 1 || hashes != 97 || jobPacked != 1 {
		t.Errorf("after migrating, one append and one job update: %d plain bodies (want 96), %d compressed (want 1), %d binary leaf hashes (want 97), %d compressed jobs (want 1)",
			plain, packed, hashes, jobPacked)
	}
	for _, q := range []string{`UPDATE ledger SET type = 'x'`, `DELETE FROM ledger`, `UPDATE ledger_bodies SET body = x'00'`, `DELETE FROM ledger_bodies`} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err %v, want an append-only refusal", q, err)
		}
	}
	// Unpack reads what the migration left: plain bodies as they are.
	var stored []byte
	db.QueryRow(`SELECT body FROM ledger_bodies WHERE tenant = 'acme' AND idx = 0`).Scan(&stored)
	if b, err := sqlstore.Unpack(stored); err != nil || string(b) != old.Entries[0].Body {
		t.Errorf("acme entry 0 reads %q, %v", b, err)
	}
}

// writeV7 makes dir/cairn.db a store at migration 0007 holding old.
func writeV7(t *testing.T, dir string, old *storetest.OldLedger) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_init", "0002_merkle", "0003_workflows", "0004_runs_started_by", "0005_store_secrets", "0006_jobs_queued", "0007_open_jobs_by_run"} {
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
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, tenant := range old.Tenants {
		exec(`INSERT INTO tenants(tenant, created_at) VALUES (?, 0)`, tenant)
	}
	for _, e := range old.Entries {
		var runSeq any
		if e.RunSeq > 0 {
			runSeq = e.RunSeq
		}
		exec(`INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, body, leaf_hash, prev_hash) VALUES (?,?,?,?,?,?,?,?,?)`,
			e.Tenant, e.Index, e.Type, e.Opt(e.RunID), runSeq, e.Opt(e.JobID), e.Body, e.LeafHash, e.PrevHash)
	}
	for _, n := range old.Nodes {
		exec(`INSERT INTO ledger_nodes(tenant, level, idx, hash) VALUES (?,?,?,?)`, n.Tenant, n.Level, n.Index, n.Hash)
	}
	for _, j := range old.Jobs {
		exec(`INSERT INTO jobs(`+sqlstore.JobColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, storetest.OldJobArgs(j)...)
	}
}
