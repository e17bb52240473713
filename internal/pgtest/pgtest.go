// Package pgtest gives tests an empty PostgreSQL schema of their own in the
// database named by CAIRN_TEST_POSTGRES, or (Private) a throwaway cluster
// of their own that they may restart, and skips them when
// CAIRN_TEST_POSTGRES is not set.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Schema creates an empty schema named prefix + 12 random hex digits,
// dropped (with everything in it) when the test ends, and returns the
// CAIRN_TEST_POSTGRES URL with search_path set to it. The test is skipped
// when CAIRN_TEST_POSTGRES is not set.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("CAIRN_TEST_POSTGRES")
	if base == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("CAIRN_TEST_POSTGRES: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
