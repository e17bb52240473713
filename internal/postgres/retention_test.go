package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
)

// TestRetentionGuard: as in the embedded store, the evidence tables'
// triggers let a body be deleted or a payload be deleted only under a
// compaction's guard row; anything else is still refused.
func TestRetentionGuard(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
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
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	refused := func(q string) {
		t.Helper()
		if _, err := c.Exec(ctx, q); err == nil {
			t.Errorf("%s: accepted, want a refusal", q)
		}
	}
	for _, q := range []string{
		`DELETE FROM ledger_bodies`, `UPDATE ledger_bodies SET body = '\x00'`, `DELETE FROM ledger`, `TRUNCATE ledger`, `TRUNCATE ledger_bodies`,
		`DELETE FROM payloads`, `UPDATE payloads SET data = 'x'`, `TRUNCATE payloads`,
		`INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES ('default', 2, 0, 2)`,
	} {
		refused(q)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`INSERT INTO compactions(tenant, event, from_idx, to_idx, cutoff) VALUES ('default', 2, 0, 1, 0)`,
		`INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES ('default', 2, 0, 1)`,
		// A guard over part of a body row's entries (1 of 1 and 2) does
		// not let the row go.
		`INSERT INTO compactions(tenant, event, from_idx, to_idx, cutoff) VALUES ('default', 3, 1, 2, 0)`,
		`INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES ('default', 3, 1, 2)`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`DELETE FROM ledger_bodies WHERE idx = 1`,
		`UPDATE ledger_bodies SET body = '\x00' WHERE idx = 0`,
		`UPDATE ledger SET leaf_hash = '\x00' WHERE idx = 0`,
		`UPDATE ledger_bodies SET idx = 9 WHERE idx = 0`,
		`DELETE FROM ledger WHERE idx = 0`,
		`UPDATE payloads SET data = 'x'`,
	} {
		// Each refusal in its own savepoint, so the transaction goes on.
		if _, err := tx.Exec(ctx, `SAVEPOINT s`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s under a guard: err %v, want an append-only refusal", q, err)
		}
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM ledger_bodies WHERE idx = 0`); err != nil {
		t.Fatalf("pruning a guarded body: %v", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM payloads WHERE ptr = 'ctx:j'`); err != nil {
		t.Fatalf("deleting a guarded tenant's payload: %v", err)
	}
}
