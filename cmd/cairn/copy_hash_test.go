package main

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/cairnhq/cairn/ledger"
)

// TestCopyPayloadHashes: cairn copy writes a payload's hash to PostgreSQL
// in the form its migration 0011 gives (ADR 0047): an embedded row's 32
// bytes as they are, a row written before SQLite's 0012 (hex text) as its
// 32 bytes, any other text as its bytes.
func TestCopyPayloadHashes(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sum := ledger.SHA256Hex([]byte("x"))
	raw, _ := hex.DecodeString(sum)
	rows, err := db.Query(`SELECT ? UNION ALL SELECT ? UNION ALL SELECT 's1'`, raw, sum)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	r := &sqlRows{rows: rows, kinds: "h"}
	var got [][]byte
	for r.Next() {
		v, err := r.Values()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v[0].([]byte))
	}
	if len(got) != 3 || !bytes.Equal(got[0], raw) || !bytes.Equal(got[1], raw) || string(got[2]) != "s1" {
		t.Fatalf("copied hashes %x", got)
	}
}
