package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/ledger"
)

// TestMigratePayloadHashes (ADR 0047): payloads stored before migration
// 0011, their hashes as text, read back the same after it (a hex hash
// converted to its 32 bytes, other text kept as its bytes), and payloads
// written after it store 32 bytes and an empty key id for the tenant's key.
func TestMigratePayloadHashes(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	for _, v := range postgres.Versions() {
		if v >= "0011" {
			break
		}
		body, err := os.ReadFile(filepath.Join("migrations", v+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations(version) VALUES ($1)`, v)
	}
	sum := ledger.SHA256Hex([]byte("context"))
	exec(`INSERT INTO payloads(tenant, ptr, sha256, data, key_id) VALUES ('default', 'ctx:hex', $1, 'sealed', 'k-tenant'), ('default', 'ctx:odd', 's1', 'plain', NULL)`, sum)

	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx cairn.Tx) error {
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:new", SHA256: sum, Data: []byte("sealed"), KeyID: cairn.TenantDataKey})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx cairn.ReadTx) error {
		for ptr, want := range map[string]string{"ctx:hex": sum, "ctx:odd": "s1", "ctx:new": sum} {
			p, err := tx.GetPayload("default", ptr)
			if err != nil || p.SHA256 != want {
				t.Fatalf("%s reads %+v, %v; want hash %s", ptr, p, err, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(ctx, `SELECT ptr || ' ' || length(sha256) || ' ' || coalesce(quote_literal(key_id), 'NULL') FROM payloads ORDER BY ptr`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if want := "ctx:hex 32 'k-tenant'; ctx:new 32 ''; ctx:odd 2 NULL"; err != nil || strings.Join(got, "; ") != want {
		t.Fatalf("stored: %s (%v), want %s", strings.Join(got, "; "), err, want)
	}
}

// TestPayloadsByKeyPlan: an erasure by subject lists the subject's
// payloads through payloads_subject, over 20,000 analyzed payloads mostly
// under the tenant's key (not in that index).
func TestPayloadsByKeyPlan(t *testing.T) {
	c := migratedConn(t)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO payloads(tenant, ptr, sha256, data, key_id)
		 SELECT 'default', 'ctx:j' || i, sha256(i::text::bytea), 'x', CASE WHEN i % 50 = 0 THEN 'subject-' || (i % 7) ELSE '' END
		 FROM generate_series(1, 20000) i`,
		`ANALYZE payloads`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := c.Query(ctx, "EXPLAIN "+postgres.PayloadsByKeyQuery, "default", "subject-3")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "payloads_subject") || strings.Contains(plan, "Seq Scan") {
		t.Fatalf("PayloadsByKey plan:\n%s", plan)
	}
}
