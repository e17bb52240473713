package cairn

import (
	"context"
	"time"
)

// Gauges are the current counts a metrics scrape reports (GaugeReader).
type Gauges struct {
	// OpenJobs counts the jobs in each open state (PENDING_APPROVAL,
	// QUEUED, RUNNING), over all tenants.
	OpenJobs map[string]int64
	// PendingApprovals counts approvals no one has resolved yet;
	// OldestPending is when the oldest of them was requested (zero when none).
	PendingApprovals int64
	OldestPending    time.Time
	// NextExpiry is the earliest expiry of a pending approval (zero when
	// none expires).
	NextExpiry time.Time
	// FsyncFailures counts failed fsyncs since the store was opened
	// (always 0 for a store whose durability is its server's).
	FsyncFailures int64
}

// OpenStates are the job states Gauges counts.
var OpenStates = []string{StatePendingApproval, StateQueued, StateRunning}

// GaugeReader is implemented by stores that can count, for metrics, the
// open jobs and pending approvals by index range (not by scanning the
// evidence).
type GaugeReader interface {
	Gauges(ctx context.Context, tenants []string) (Gauges, error)
}
