package sqlite

import (
	"context"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
)

// Gauges counts the tenants' open jobs by state and pending approvals for
// metrics (sqlstore.Gauges), and the WAL fsyncs that failed.
func (s *Store) Gauges(ctx context.Context, tenants []string) (cairn.Gauges, error) {
	g, err := sqlstore.Gauges(&conn{ctx: ctx, q: s.rdb}, tenants)
	g.FsyncFailures = s.stats.fsyncFails.Load()
	return g, err
}
