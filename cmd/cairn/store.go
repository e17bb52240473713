package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// isPostgres reports whether a --store value names a PostgreSQL database.
func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// openStore opens the store that spec names: empty or "sqlite" for the
// embedded store under dataDir, "sqlite:DIR" for the embedded store in DIR,
// or a postgres:// URL for PostgreSQL (migrations are applied on open).
func openStore(spec, dataDir string) (cairn.Store, error) {
	switch {
	case spec == "" || spec == "sqlite":
		return sqlite.Open(dataDir)
	case strings.HasPrefix(spec, "sqlite:"):
		return sqlite.Open(strings.TrimPrefix(spec, "sqlite:"))
	case isPostgres(spec):
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return postgres.Open(ctx, spec)
	}
	return nil, fmt.Errorf("--store %q: use sqlite, sqlite:DIR or a postgres:// URL", redactURL(spec))
}

// storeName is how logs name a store: its kind, never its credentials.
func storeName(spec string) string {
	if isPostgres(spec) {
		return "postgres"
	}
	return "sqlite"
}

// redactURL hides a password in a connection URL.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return s[:i+3] + cred[:c] + ":xxxxx" + rest[at:]
			}
		}
	}
	return s
}

// envDuration reads a duration from the environment, or def.
func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
