package storetest_test

import (
	"context"
	"os"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pgtest"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/storetest"
)

// freshSchema creates an empty schema in the CAIRN_TEST_POSTGRES database,
// dropped when the test ends, and returns a URL whose connections use it.
func freshSchema(t *testing.T) string {
	t.Helper()
	return pgtest.Schema(t, "cairn_test_")
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
