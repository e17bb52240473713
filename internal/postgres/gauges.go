package postgres

import (
	"context"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
)

// Gauges counts the tenants' open jobs by state and pending approvals for
// metrics (sqlstore.Gauges). PostgreSQL's durability is its own:
// FsyncFailures stays 0.
func (s *Store) Gauges(ctx context.Context, tenants []string) (cairn.Gauges, error) {
	return sqlstore.Gauges(&conn{ctx: ctx, q: s.pool}, tenants)
}
