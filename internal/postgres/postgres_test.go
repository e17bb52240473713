package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
)

// TestEvidenceIsAppendOnly checks that the database itself refuses UPDATE,
// DELETE and TRUNCATE of evidence, whoever issues them.
func TestEvidenceIsAppendOnly(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx cairn.Tx) error {
		for i := 0; i < 20; i++ { // enough for a stored Merkle node
			if err := tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Now(), Actor: "t"}); err != nil {
				return err
			}
		}
		if err := tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j", SHA256: "x", Data: []byte("{}")}); err != nil {
			return err
		}
		if err := tx.InsertPolicyAudit(&cairn.PolicyAudit{AuditID: "pa_1", Action: "publish", SnapshotAfter: "s", Actor: "t", Timestamp: time.Now()}); err != nil {
			return err
		}
		if err := tx.InsertCheckpoint(&cairn.Checkpoint{Tenant: "default", Size: 1, RootHash: "r", Note: "n", CreatedAt: time.Now()}); err != nil {
			return err
		}
		if err := tx.InsertCosignature("default", 1, &cairn.Cosignature{Witness: "w", Note: "n", CreatedAt: time.Now()}); err != nil {
			return err
		}
		if err := tx.InsertWorkflow(&cairn.Workflow{WorkflowID: "wf:default:w#sha256:ab", Tenant: "default", Name: "w", Version: 1, SHA256: "ab", Definition: "name: w\n", CreatedAt: time.Now()}); err != nil {
			return err
		}
		return tx.InsertSnapshot(&cairn.Snapshot{ID: "s", SHA256: "ab", Text: "default: deny\n", CreatedAt: time.Now(), CreatedBy: "t"})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, table := range []string{"ledger", "ledger_bodies", "ledger_nodes", "payloads", "snapshots", "policy_audit", "checkpoints", "cosignatures", "workflows"} {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n == 0 {
			t.Fatalf("%s: %d rows, %v", table, n, err)
		}
		col := map[string]string{"ledger": "type", "ledger_bodies": "body", "ledger_nodes": "level", "payloads": "sha256", "snapshots": "text", "policy_audit": "actor", "checkpoints": "note", "cosignatures": "note", "workflows": "body"}[table]
		val := "'x'"
		if col == "level" {
			val = "99"
		}
		for _, q := range []string{`UPDATE ` + table + ` SET ` + col + ` = ` + val, `DELETE FROM ` + table, `TRUNCATE ` + table} {
			if _, err := c.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err %v, want an append-only refusal", q, err)
			}
		}
	}
}

// TestReplicasMigrateTogether opens several stores on one empty schema at
// once: the advisory lock lets one migrate while the others wait.
func TestReplicasMigrateTogether(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := postgres.Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	applied, err := postgres.Migrate(ctx, dsn)
	if err != nil || len(applied) != 0 {
		t.Fatalf("Migrate on a migrated schema applied %v, %v", applied, err)
	}
	c, _ := pgx.Connect(ctx, dsn)
	defer c.Close(ctx)
	var n int
	c.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
	if n != len(postgres.Versions()) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(postgres.Versions()))
	}
}

// TestWriterSurvivesLostConnection kills the writer's backend between
// Updates: the next Update reconnects and the ledger continues gap-free.
func TestWriterSurvivesLostConnection(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendOne := func() error {
		return s.Update(ctx, func(tx cairn.Tx) error {
			return tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Now(), Actor: "t"})
		})
	}
	for i := 0; i < 3; i++ {
		if err := appendOne(); err != nil {
			t.Fatal(err)
		}
		c, _ := pgx.Connect(ctx, dsn)
		var ok bool
		if err := c.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(postgres.WriterPID(s))).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate the writer: %v", err)
		}
		c.Close(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		if err := appendOne(); err != nil {
			t.Fatal(err)
		}
	}
	var size uint64
	s.View(ctx, func(tx cairn.ReadTx) error { size, err = tx.LedgerSize("default"); return err })
	if size != 6 {
		t.Fatalf("ledger size %d, want 6", size)
	}
}
