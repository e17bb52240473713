package storetest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/postgres"
	"github.com/cairnhq/cairn/storetest"
)

// freshSchema creates an empty schema in the CAIRN_TEST_POSTGRES database,
// dropped when the test ends, and returns a URL whose connections use it.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CAIRN_TEST_POSTGRES")
	if base == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "cairn_test_" + hex.EncodeToString(b)
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
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	return u.String()
}

func openPostgres(t *testing.T, dsn string) cairn.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPostgres runs the conformance suite against PostgreSQL, each test in
// a fresh schema; its races run on four stores (four writer connections,
// as four replicas would).
func TestPostgres(t *testing.T) {
	if os.Getenv("CAIRN_TEST_POSTGRES") == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set")
	}
	storetest.Run(t, func(t *testing.T) cairn.Store { return openPostgres(t, freshSchema(t)) })
	t.Run("Shared", func(t *testing.T) {
		storetest.RunShared(t, func(t *testing.T) func() cairn.Store {
			dsn := freshSchema(t)
			return func() cairn.Store { return openPostgres(t, dsn) }
		})
	})
}
