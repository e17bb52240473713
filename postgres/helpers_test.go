package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn/internal/pgtest"
	"github.com/cairnhq/cairn/postgres"
)

// freshSchema creates an empty schema in the CAIRN_TEST_POSTGRES database,
// dropped when the test ends, and returns a URL whose connections use it.
func freshSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, "cairn_test_")
}

func openBench(t testing.TB) *postgres.Store {
	s, err := postgres.Open(context.Background(), freshSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migratedConn migrates a fresh schema and returns a plain connection to
// it, closed when the test ends: for tests that load rows and ask the
// planner directly.
func migratedConn(t testing.TB) *pgx.Conn {
	t.Helper()
	dsn := freshSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
