package postgres

import (
	"context"
	"time"

	"github.com/cairnhq/cairn"
)

// Gauges counts the tenants' open jobs by state and pending approvals for
// metrics, each count a range of an index ((tenant, state) of jobs,
// (tenant, status) of approvals). PostgreSQL's durability is its own:
// FsyncFailures stays 0.
func (s *Store) Gauges(ctx context.Context, tenants []string) (cairn.Gauges, error) {
	g := cairn.Gauges{OpenJobs: map[string]int64{}}
	var oldest int64
	for _, t := range tenants {
		for _, st := range cairn.OpenStates {
			var n int64
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE tenant = $1 AND state = $2`, t, st).Scan(&n); err != nil {
				return g, err
			}
			g.OpenJobs[st] += n
		}
		var n int64
		var min *int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*), min(requested_at) FROM approvals WHERE tenant = $1 AND status = 'pending'`, t).Scan(&n, &min); err != nil {
			return g, err
		}
		g.PendingApprovals += n
		if min != nil && (oldest == 0 || *min < oldest) {
			oldest = *min
		}
	}
	var next *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL`).Scan(&next); err != nil {
		return g, err
	}
	if next != nil {
		g.NextExpiry = time.Unix(0, *next).UTC()
	}
	if oldest != 0 {
		g.OldestPending = time.Unix(0, oldest).UTC()
	}
	return g, nil
}
