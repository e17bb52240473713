package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pgtest"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger/tree"
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

// signedService is a service on a fresh store with a ledger signing key
// and benchPolicy published (not started).
func signedService(t testing.TB) *service.Service {
	t.Helper()
	svc := service.New(openBench(t), slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, "cairn_test_admin_key_00000000"); err != nil {
		t.Fatal(err)
	}
	key, err := tree.LoadOrCreateKey(t.TempDir()+"/ledger.key", "cairn")
	if err != nil {
		t.Fatal(err)
	}
	svc.SetLedgerKey(key, "")
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin"}}
	if _, err := svc.Publish(ctx, admin, cairn.PublishRequest{Bundle: benchPolicy}); err != nil {
		t.Fatal(err)
	}
	return svc
}
