package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/internal/storetest"
)

// TestMigrateCompactLedgerFromV6 writes ledger entries and jobs in a
// schema at migration 0006 (the ledger as one table with text bodies and
// hex hashes, jobs with text bodies), migrates it in place, and checks that
// every read returns exactly what a store of the new layout returned for
// the same writes, that the ledger verifies and goes on growing (its head
// seeded from the migrated binary hashes), and that both ledger tables
// refuse updates, deletes and TRUNCATE.
func TestMigrateCompactLedgerFromV6(t *testing.T) {
	ctx := context.Background()
	fresh, err := postgres.Open(ctx, freshSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	old := storetest.WriteOldLedger(t, fresh)
	want := storetest.ReadBack(t, fresh, old)
	fresh.Close()

	dsn := freshSchema(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	writeV6(t, c, old)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckMigrated(t, s, old, want)
	s.Close()

	var plain, packed, jobPacked int
	c.QueryRow(ctx, `SELECT count(*) FROM ledger_bodies WHERE substr(body, 1, 1) = '\x7b'::bytea`).Scan(&plain)
	c.QueryRow(ctx, `SELECT count(*) FROM ledger_bodies WHERE substr(body, 1, 4) = '\x28b52ffd'::bytea`).Scan(&packed)
	c.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE substr(body, 1, 4) = '\x28b52ffd'::bytea`).Scan(&jobPacked)
	if plain != 96 || packed != 1 || jobPacked != 1 {
		t.Errorf("after migrating, one append and one job update: %d plain bodies (want 96), %d compressed (want 1), %d compressed jobs (want 1)", plain, packed, jobPacked)
	}
	var stored []byte
	c.QueryRow(ctx, `SELECT body FROM ledger_bodies WHERE tenant = 'acme' AND idx = 0`).Scan(&stored)
	if b, err := sqlstore.Unpack(stored); err != nil || string(b) != old.Entries[0].Body {
		t.Errorf("acme entry 0 reads %q, %v", b, err)
	}
	for _, q := range []string{`UPDATE ledger SET type = 'x'`, `DELETE FROM ledger`, `TRUNCATE ledger`,
		`UPDATE ledger_bodies SET body = '\x00'`, `DELETE FROM ledger_bodies`, `TRUNCATE ledger_bodies`} {
		if _, err := c.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err %v, want an append-only refusal", q, err)
		}
	}
}

// writeV6 brings c's schema to migration 0006 and writes old into it.
func writeV6(t *testing.T, c *pgx.Conn, old *storetest.OldLedger) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	for _, v := range []string{"0001_init", "0002_workflows", "0003_runs_started_by", "0004_store_secrets", "0005_jobs_queued", "0006_open_jobs_by_run"} {
		body, err := os.ReadFile(filepath.Join("migrations", v+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations(version) VALUES ($1)`, v)
	}
	for _, tenant := range old.Tenants {
		exec(`INSERT INTO tenants(tenant, created_at) VALUES ($1, 0)`, tenant)
	}
	for _, e := range old.Entries {
		var runSeq any
		if e.RunSeq > 0 {
			runSeq = e.RunSeq
		}
		exec(`INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, body, leaf_hash, prev_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
			e.Tenant, e.Index, e.Type, e.Opt(e.RunID), runSeq, e.Opt(e.JobID), e.Body, e.LeafHash, e.PrevHash)
	}
	for _, n := range old.Nodes {
		exec(`INSERT INTO ledger_nodes(tenant, level, idx, hash) VALUES ($1,$2,$3,$4)`, n.Tenant, n.Level, n.Index, n.Hash)
	}
	for _, j := range old.Jobs {
		exec(sqlstore.Rebind(`INSERT INTO jobs(`+sqlstore.JobColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`), storetest.OldJobArgs(j)...)
	}
}
