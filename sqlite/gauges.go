package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/cairnhq/cairn"
)

// Gauges counts the tenants' open jobs by state and pending approvals for
// metrics, each count a range of an index ((tenant, state) of jobs,
// (tenant, status) of approvals).
func (s *Store) Gauges(ctx context.Context, tenants []string) (cairn.Gauges, error) {
	g := cairn.Gauges{OpenJobs: map[string]int64{}, FsyncFailures: s.stats.fsyncFails.Load()}
	var oldest int64
	for _, t := range tenants {
		for _, st := range cairn.OpenStates {
			var n int64
			if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE tenant = ? AND state = ?`, t, st).Scan(&n); err != nil {
				return g, err
			}
			g.OpenJobs[st] += n
		}
		var n int64
		var min sql.NullInt64
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*), min(requested_at) FROM approvals WHERE tenant = ? AND status = 'pending'`, t).Scan(&n, &min); err != nil {
			return g, err
		}
		g.PendingApprovals += n
		if min.Valid && (oldest == 0 || min.Int64 < oldest) {
			oldest = min.Int64
		}
	}
	var next sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL`).Scan(&next); err != nil {
		return g, err
	}
	if next.Valid {
		g.NextExpiry = time.Unix(0, next.Int64).UTC()
	}
	if oldest != 0 {
		g.OldestPending = time.Unix(0, oldest).UTC()
	}
	return g, nil
}
