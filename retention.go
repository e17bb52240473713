package cairn

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn/ledger"
)

// Retention and legal hold (issue 14 §2; docs/data-protection.md, ADR 0046).
//
// RetentionFloor is the shortest retention Cairn accepts without
// --allow-retention-below-floor: six months (183 days), the minimum the EU
// AI Act (Art. 19(1), Art. 26(6)) sets for the logs of high-risk AI systems.
const RetentionFloor = 183 * 24 * time.Hour

// Evidence event types of retention and legal hold.
const (
	EventRetentionSet         = ledger.EventRetentionSet
	EventRetentionFloorWaived = ledger.EventRetentionFloorWaived
	EventRetentionCompacted   = ledger.EventRetentionCompacted
	EventHoldPlaced           = ledger.EventHoldPlaced
	EventHoldReleased         = ledger.EventHoldReleased
)

// Legal hold scopes.
const (
	HoldTenant  = "tenant"
	HoldRun     = "run"
	HoldJob     = "job"
	HoldSubject = "subject"
)

// Hold statuses.
const (
	HoldActive   = "active"
	HoldReleased = "released"
)

// DefaultSubjectLabel is the job label that names a job's data subject
// when the tenant names no other.
const DefaultSubjectLabel = "data_subject"

// Hold is a legal hold: while it is active nothing in its scope is
// compacted or erased.
type Hold struct {
	HoldID        string     `json:"hold_id"`
	Tenant        string     `json:"tenant"`
	Scope         string     `json:"scope"` // tenant | run | job | subject
	ID            string     `json:"id"`
	Reason        string     `json:"reason"`
	Status        string     `json:"status"` // active | released
	PlacedBy      string     `json:"placed_by"`
	PlacedAt      time.Time  `json:"placed_at"`
	ReleasedBy    Opt        `json:"released_by"`
	ReleasedAt    *time.Time `json:"released_at"`
	ReleaseReason Opt        `json:"release_reason"`
	// Ledger is the hold_placed event (ReleaseLedger the hold_released one).
	Ledger        *LedgerRef `json:"ledger"`
	ReleaseLedger *LedgerRef `json:"release_ledger"`

	Seq int64 `json:"-"`
}

// Covers reports whether the hold applies to a job of tenant with that
// id, run and data subject.
func (h *Hold) Covers(tenant, jobID, runID, subject string) bool {
	if h.Status != HoldActive || h.Tenant != tenant {
		return false
	}
	switch h.Scope {
	case HoldTenant:
		return true
	case HoldJob:
		return jobID != "" && h.ID == jobID
	case HoldRun:
		return runID != "" && h.ID == runID
	case HoldSubject:
		return subject != "" && h.ID == subject
	}
	return false
}

// PlaceHoldRequest is POST /api/v1/holds.
type PlaceHoldRequest struct {
	Scope  string `json:"scope"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// ReleaseHoldRequest is POST /api/v1/holds/{hold_id}/release.
type ReleaseHoldRequest struct {
	Reason string `json:"reason"`
}

// HoldFilter selects holds (newest first).
type HoldFilter struct {
	ActiveOnly bool
	Page
}

// TenantRetention is a tenant's own retention, set through the API; it
// replaces the server's --retention for that tenant.
type TenantRetention struct {
	Tenant string        `json:"tenant"`
	Period time.Duration `json:"-"`
	SetBy  string        `json:"set_by"`
	SetAt  time.Time     `json:"set_at"`
}

// SetRetentionRequest is PUT /api/v1/tenant/retention: retention is a
// duration such as "400d" or "9600h".
type SetRetentionRequest struct {
	Retention string `json:"retention"`
	Reason    string `json:"reason"`
}

// RetentionView is a tenant's retention as GET/PUT /api/v1/tenant/retention
// answer it.
type RetentionView struct {
	Tenant string `json:"tenant"`
	// Retention is the period in force ("" when evidence is kept forever);
	// Source says where it comes from: "tenant", "server" or "none".
	Retention        string     `json:"retention"`
	RetentionSeconds int64      `json:"retention_seconds"`
	Source           string     `json:"source"`
	Floor            string     `json:"floor"`
	BelowFloor       bool       `json:"below_floor"`
	SetBy            Opt        `json:"set_by"`
	SetAt            *time.Time `json:"set_at"`
	// PrunedBefore is the ledger index below which entries may be pruned
	// (the end of the last compaction; 0 when none ran).
	PrunedBefore uint64     `json:"pruned_before"`
	Ledger       *LedgerRef `json:"ledger"`
}

// Compaction is one retention compaction of a tenant's ledger: entries
// with index in [From, To) were pruned, except those under a hold, by the
// retention_compacted event at ledger index Event.
type Compaction struct {
	Tenant string    `json:"tenant"`
	Event  uint64    `json:"event"`
	From   uint64    `json:"from"`
	To     uint64    `json:"to"`
	Cutoff time.Time `json:"cutoff"`
}

// CompactionPlan is what one compaction removes, decided by the service:
// the jobs (their rows, approvals and payloads) and the ledger entries
// (their bodies) in the compaction's range that no hold covers.
type CompactionPlan struct {
	Jobs []*Job
	// Keep are the ledger indexes in [From, To) whose bodies stay (held).
	Keep map[uint64]bool
}

// RetentionReadTx reads retention and legal hold state. Part of ReadTx.
type RetentionReadTx interface {
	// TenantRetention returns the tenant's own retention (nil, nil: none).
	TenantRetention(tenant string) (*TenantRetention, error)
	// GetHold returns one hold of the tenant (not_found when unknown).
	GetHold(tenant, holdID string) (*Hold, error)
	// ListHolds pages the tenant's holds, newest first.
	ListHolds(tenant string, f HoldFilter) ([]*Hold, error)
	// LastCompaction returns the tenant's latest compaction (nil, nil: none).
	LastCompaction(tenant string) (*Compaction, error)
	// CompactionOf returns the compaction that pruned the tenant's ledger
	// entry idx (nil, nil when the entry is not pruned).
	CompactionOf(tenant string, idx uint64) (*Compaction, error)
	// PrunedJob returns the compaction that removed the job's row (nil,
	// nil when the job was not pruned).
	PrunedJob(tenant, jobID string) (*Compaction, error)
	// LastJobEntry returns the index of the job's last ledger entry (ok
	// false when the ledger names no such job).
	LastJobEntry(tenant, jobID string) (idx uint64, ok bool, err error)
	// CheckpointSizeAt returns the size of the tenant's latest checkpoint
	// signed at or before t (0 when none was): every entry below it was
	// appended before t.
	CheckpointSizeAt(tenant string, t time.Time) (uint64, error)
	// LedgerRange returns the ledger rows [from, to) of the tenant without
	// their bodies: index, type and the job and run they name.
	LedgerRange(tenant string, from, to uint64) ([]LedgerRow, error)
}

// LedgerRow is a ledger entry's indexed columns (no body).
type LedgerRow struct {
	Index  uint64
	Type   string
	JobID  string
	RunID  string
	Pruned bool
	// BodyFrom and BodyTo (unpruned entries) are the entries whose bodies
	// are stored with this one, [BodyFrom, BodyTo): a store that keeps a
	// transaction's entries as one row removes them together or not at
	// all. Index, Index+1 for a body stored alone.
	BodyFrom, BodyTo uint64
}

// RetentionTx writes retention and legal hold state. Part of Tx.
type RetentionTx interface {
	SetTenantRetention(r *TenantRetention) error
	InsertHold(h *Hold) error
	// ReleaseHold records the release of an active hold; it fails with
	// conflict when the hold is no longer active.
	ReleaseHold(h *Hold) error
	// Compact records c and removes what plan names: the jobs' rows,
	// approvals and payloads, and the bodies of the ledger entries in
	// [c.From, c.To) not in plan.Keep. Leaf hashes, Merkle nodes,
	// checkpoints and cosignatures are never touched. The evidence
	// tables' triggers allow these deletes only while the compaction's
	// guard row is present, which Compact writes and removes in the same
	// transaction.
	Compact(c *Compaction, plan *CompactionPlan) error
}

// ParseRetention parses a retention period: "<n>d" (days) or a Go
// duration ("9600h"). It must be positive.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > 100*366 {
			return 0, fmt.Errorf("%q is not a number of days between 1 and %d", s, 100*366)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is neither <n>d nor a duration such as 9600h", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not positive", s)
	}
	return d, nil
}

// FormatRetention formats a retention period as ParseRetention reads it:
// whole days as "<n>d", anything else as a Go duration.
func FormatRetention(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
