package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestRetentionGuard: the evidence tables' triggers let a body be deleted
// or a payload be deleted only under a compaction's guard row; an ordinary
// UPDATE or DELETE (and a guard row naming no recorded compaction) is
// still refused.
func TestRetentionGuard(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Entry 0 in one transaction (a body row of its own), entries 1 and 2
	// in the next (one body row of two, ADR 0045).
	for _, n := range []int{1, 2} {
		err = s.Update(ctx, func(tx cairn.Tx) error {
			for i := 0; i < n; i++ {
				if err := tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Now(), Actor: "t"}); err != nil {
					return err
				}
			}
			if n == 1 {
				return nil
			}
			return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j", SHA256: "x", Data: []byte("{}")})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refused := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s: accepted, want a refusal", q)
		}
	}
	for _, q := range []string{
		`DELETE FROM ledger_bodies`, `UPDATE ledger_bodies SET body = x'00'`, `DELETE FROM ledger`,
		`DELETE FROM payloads`, `UPDATE payloads SET data = 'x'`,
		`INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES ('default', 2, 0, 2)`,
	} {
		refused(q)
	}
	// With a recorded compaction and its guard row (what Compact writes in
	// one transaction), only a deleted body inside the range passes.
	if _, err := db.Exec(`INSERT INTO compactions(tenant, event, from_idx, to_idx, cutoff) VALUES ('default', 2, 0, 1, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES ('default', 2, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DELETE FROM ledger_bodies WHERE idx = 1`,             // outside the guarded range
		`UPDATE ledger_bodies SET body = x'00' WHERE idx = 0`, // never
		`UPDATE ledger SET leaf_hash = x'00' WHERE idx = 0`,   // never
		`UPDATE ledger_bodies SET idx = 9 WHERE idx = 0`,      // never
		`DELETE FROM ledger WHERE idx = 0`,
		`UPDATE payloads SET data = 'x'`,
		`DELETE FROM compactions`,
	} {
		refused(q)
	}
	if _, err := db.Exec(`DELETE FROM ledger_bodies WHERE idx = 0`); err != nil {
		t.Fatalf("pruning a guarded body: %v", err)
	}
	if _, err := db.Exec(`DELETE FROM payloads WHERE ptr = 'ctx:j'`); err != nil {
		t.Fatalf("deleting a guarded tenant's payload: %v", err)
	}
	if _, err := db.Exec(`DELETE FROM retention_guard`); err != nil {
		t.Fatal(err)
	}
	refused(`DELETE FROM ledger_bodies WHERE idx = 1`)
	// A guard over part of a body row's entries does not let the row go.
	if _, err := db.Exec(`INSERT INTO compactions(tenant, event, from_idx, to_idx, cutoff) VALUES ('default', 3, 1, 2, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES ('default', 3, 1, 2)`); err != nil {
		t.Fatal(err)
	}
	refused(`DELETE FROM ledger_bodies WHERE idx = 1`)
	if _, err := db.Exec(`DELETE FROM retention_guard`); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT 1 FROM ledger WHERE idx = 0 AND NOT EXISTS (SELECT 1 FROM ledger_bodies WHERE idx = 0)`).Scan(new(int)); err != nil {
		t.Fatalf("the pruned entry (its ledger row kept, its body gone): %v", err)
	}
	if !strings.Contains(errOf(db, `DELETE FROM ledger_bodies WHERE idx = 1`), "append-only") {
		t.Error("the refusal does not say the ledger is append-only")
	}
}

func errOf(db *sql.DB, q string) string {
	_, err := db.Exec(q)
	if err == nil {
		return ""
	}
	return err.Error()
}
