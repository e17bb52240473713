package serve

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// IsPostgres reports whether a --store value names a PostgreSQL database.
func IsPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// OpenStore opens the store that spec names: empty or "sqlite" for the
// embedded store under dataDir, "sqlite:DIR" for the embedded store in DIR,
// or a postgres:// URL for PostgreSQL (migrations are applied on open).
func OpenStore(spec, dataDir string) (cairn.Store, error) {
	switch {
	case spec == "" || spec == "sqlite":
		return sqlite.Open(dataDir)
	case strings.HasPrefix(spec, "sqlite:"):
		return sqlite.Open(strings.TrimPrefix(spec, "sqlite:"))
	case IsPostgres(spec):
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return postgres.Open(ctx, spec)
	}
	return nil, fmt.Errorf("--store %q: use sqlite, sqlite:DIR or a postgres:// URL", RedactURL(spec))
}

// StoreName is how logs name a store: its kind, never its credentials.
func StoreName(spec string) string {
	if IsPostgres(spec) {
		return "postgres"
	}
	return "sqlite"
}

// RedactURL hides a password in a connection URL.
func RedactURL(s string) string {
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
