package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger"
)

// TestPayloadRowsAtRest (ADR 0047): a new payload's hash is stored as its
// 32 bytes and a payload under the tenant's own key with an empty key id,
// outside the index erasure by subject reads (payloads_subject, which its
// query uses); a payload stored before migration 0012, its hash as hex
// text, reads back the same and is sealed in place with that text kept.
func TestPayloadRowsAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sum := ledger.SHA256Hex([]byte("context"))
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx cairn.Tx) error {
		if err := tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:t", SHA256: sum, Data: []byte("sealed"), KeyID: cairn.TenantDataKey}); err != nil {
			return err
		}
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:s", SHA256: sum, Data: []byte("sealed"), KeyID: "subject-key"})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT ptr, typeof(sha256), length(sha256), quote(key_id) FROM payloads ORDER BY ptr`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var ptr, typ, key string
		var n int
		if err := rows.Scan(&ptr, &typ, &n, &key); err != nil {
			t.Fatal(err)
		}
		got = append(got, ptr+" "+typ+" "+string(rune('0'+n/10))+string(rune('0'+n%10))+" "+key)
	}
	rows.Close()
	if want := "ctx:s blob 32 'subject-key'; ctx:t blob 32 ''"; strings.Join(got, "; ") != want {
		t.Fatalf("stored rows: %s, want %s", strings.Join(got, "; "), want)
	}
	var indexed int
	if err := db.QueryRow(`SELECT count(*) FROM payloads INDEXED BY payloads_subject WHERE key_id <> ''`).Scan(&indexed); err != nil || indexed != 1 {
		t.Fatalf("payloads_subject holds %d rows (%v), want the subject's one", indexed, err)
	}
	if plan := strings.Join(queryPlan(t, db, sqlite.PayloadsByKeyQuery, "default", "subject-key"), "; "); !strings.Contains(plan, "payloads_subject") {
		t.Fatalf("PayloadsByKey plan: %s", plan)
	}
	if _, err := db.Exec(`INSERT INTO payloads(tenant, ptr, sha256, data, key_id) VALUES ('default', 'ctx:old', ?, 'plain', NULL)`, sum); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx cairn.Tx) error {
		old, err := tx.LegacyPayloads(10)
		if err != nil || len(old) != 1 || old[0].SHA256 != sum {
			t.Fatalf("LegacyPayloads = %+v, %v", old, err)
		}
		return tx.EncryptLegacyPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:old", SHA256: sum, Data: []byte("sealed"), KeyID: cairn.TenantDataKey})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx cairn.ReadTx) error {
		for _, ptr := range []string{"ctx:t", "ctx:s", "ctx:old"} {
			p, err := tx.GetPayload("default", ptr)
			if err != nil || p.SHA256 != sum || string(p.Data) != "sealed" {
				t.Fatalf("%s reads %+v, %v", ptr, p, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
