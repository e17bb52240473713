package sqlstore

import (
	"time"

	"github.com/cairnhq/cairn"
)

// Gauges counts the tenants' open jobs by state and pending approvals for
// metrics, each count a range of an index ((tenant, state) of jobs,
// (tenant, status) of approvals). The store fills in what is its own
// (FsyncFailures).
func Gauges(db DB, tenants []string) (cairn.Gauges, error) {
	g := cairn.Gauges{OpenJobs: map[string]int64{}}
	var oldest int64
	for _, t := range tenants {
		for _, st := range cairn.OpenStates {
			var n int64
			if err := db.QueryRow(`SELECT count(*) FROM jobs WHERE tenant = ? AND state = ?`, t, st).Scan(&n); err != nil {
				return g, err
			}
			g.OpenJobs[st] += n
		}
		var n int64
		var min *int64
		if err := db.QueryRow(`SELECT count(*), min(requested_at) FROM approvals WHERE tenant = ? AND status = 'pending'`, t).Scan(&n, &min); err != nil {
			return g, err
		}
		g.PendingApprovals += n
		if min != nil && (oldest == 0 || *min < oldest) {
			oldest = *min
		}
	}
	var next *int64
	if err := db.QueryRow(`SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL`).Scan(&next); err != nil {
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
