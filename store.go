package cairn

import (
	"context"
	"time"
)

// Store persists Cairn's state and evidence. Update runs fn in a durable
// transaction: when Update returns nil, everything fn wrote is fsync'd.
// Implementations may run several concurrent Updates in one transaction
// (group commit); each fn still commits or fails as a unit.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(ReadTx) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Page bounds a list: Limit rows after the keyset position After (0 = start).
type Page struct {
	Limit int
	After int64 // keyset position from a cursor; meaning depends on the list
}

// JobFilter selects jobs for GET /jobs (newest first).
type JobFilter struct {
	State, Action, RunID, Decision, PolicyRuleID, SubmittedBy string
	Since, Until                                              time.Time
	Page
}

// ApprovalFilter selects approvals (newest first).
type ApprovalFilter struct {
	// RawOnly asks only for Seq and Raw (the API JSON), not decoded fields.
	RawOnly                         bool
	IncludeResolved                 bool
	RunID, PolicyRuleID, ResolvedBy string
	Since, Until                    time.Time
	Page
}

// EventFilter selects a run's timeline (oldest first, After = last seq seen)
// or, with JobID, a job's events.
type EventFilter struct {
	// RawOnly asks only for Seq and Raw (the API JSON), not decoded fields.
	RawOnly bool
	// WithPruned (with RunID) lists the run's pruned entries too, in their
	// place, as markers (Event.Pruned); otherwise they are left out.
	WithPruned bool
	RunID      string
	JobID      string
	Page
}

// AuditFilter selects policy audit entries (newest first).
type AuditFilter struct {
	Action, Actor string
	Since, Until  time.Time
	Page
}

// ReadTx reads a consistent view. Every method scopes to a tenant except the
// policy snapshot methods: policy is system-wide.
type ReadTx interface {
	PayloadKeyReadTx

	KeyByHash(hash string) (*Key, error)
	ListKeys(tenant string, p Page) ([]*Key, error)
	TenantExists(tenant string) (bool, error)

	GetJob(tenant, jobID string) (*Job, error)
	// JobIDsFrom returns the tenant's job ids that are >= from in byte
	// order, ascending, at most limit (an index range, for id prefixes).
	JobIDsFrom(tenant, from string, limit int) ([]string, error)
	ListJobs(tenant string, f JobFilter) ([]*Job, error)
	// LeasableJobs returns the tenant's oldest QUEUED jobs that a lease by
	// action globs may take (those bound to no executor), oldest first, at
	// most limit. A nil actions means any action; otherwise only jobs of
	// those actions. Its cost depends on limit and len(actions), not on
	// the queued jobs of other actions.
	LeasableJobs(tenant string, actions []string, limit int) ([]*Job, error)
	// QueuedActions returns the distinct actions of the jobs LeasableJobs
	// may return, in byte order, from from (inclusive) on, at most limit.
	// Its cost depends on the actions returned, not on their jobs.
	QueuedActions(tenant, from string, limit int) ([]string, error)
	GetPayload(tenant, ptr string) (*Payload, error)

	// ListDecisions returns the job's policy_decided evidence, oldest first.
	ListDecisions(tenant, jobID string) ([]*Decision, error)
	GetApproval(tenant, jobID string) (*Approval, error)
	ListApprovals(tenant string, f ApprovalFilter) ([]*Approval, error)

	GetRun(tenant, runID string) (*Run, error)
	// ListRuns pages runs newest first (ad-hoc and workflow runs alike).
	ListRuns(tenant string, f RunFilter) ([]*Run, error)
	// DueRuns returns workflow runs whose WakeAt <= now, across tenants,
	// earliest first.
	DueRuns(now time.Time, limit int) ([]*Run, error)

	// GetWorkflow returns a registered workflow by id (404 when unknown).
	GetWorkflow(tenant, workflowID string) (*Workflow, error)
	// LatestWorkflow returns the highest version registered under name (404 when none).
	LatestWorkflow(tenant, name string) (*Workflow, error)
	// ListWorkflows pages registered workflows newest first.
	ListWorkflows(tenant string, f WorkflowFilter) ([]*Workflow, error)
	// ListRunJobs lists the first limit jobs of a run in submission order.
	ListRunJobs(tenant, runID string, limit int) ([]*Job, error)
	// OpenRunJobs counts the run's jobs that are not in a final state.
	OpenRunJobs(tenant, runID string) (int, error)
	ListEvents(tenant string, f EventFilter) ([]*Event, error)

	ActiveSnapshot() (*Snapshot, error) // nil, nil when none is published
	GetSnapshot(id string) (*Snapshot, error)
	ListSnapshots(p Page) ([]*Snapshot, error)
	ListPolicyAudit(f AuditFilter) ([]*PolicyAudit, error)

	LedgerSize(tenant string) (uint64, error)
	LedgerEntries(tenant string, from uint64, limit int) ([]*LedgerEntry, error)
	// LedgerNodes returns the hashes of complete Merkle subtrees of the tenant's ledger.
	LedgerNodes(tenant string, ids []NodeID) ([][32]byte, error)
	Tenants() ([]string, error)
	LatestCheckpoint(tenant string) (*Checkpoint, error) // nil, nil when none
	GetCheckpoint(tenant string, size uint64) (*Checkpoint, error)
	// ListCheckpoints pages newest first; After is a tree size.
	ListCheckpoints(tenant string, p Page) ([]*Checkpoint, error)

	// StoreSecret returns the recorded secret of that name (nil, nil when
	// none is recorded yet).
	StoreSecret(name string) (*StoreSecret, error)

	RetentionReadTx // retention.go

	// DueApprovals returns pending approvals whose expires_at <= now, across tenants.
	DueApprovals(now time.Time, limit int) ([]*Approval, error)
	// ExpiredLeases returns RUNNING jobs whose lease expired at or before now, across tenants.
	ExpiredLeases(now time.Time, limit int) ([]*Job, error)
	// NextDeadline returns the earliest pending approval expiry, lease
	// expiry or run WakeAt, or zero.
	NextDeadline() (time.Time, error)
}

// Tx is a read-write transaction. Evidence (events — decisions are
// policy_decided events —, ledger, snapshots, policy audit, payloads) is insert-only: there is no method that
// updates or deletes it. Jobs, approvals and runs are state projections.
type Tx interface {
	ReadTx
	PayloadKeyTx

	CreateTenant(tenant string, at time.Time) error
	InsertKey(k *Key) error
	RevokeKey(tenant, keyID string, at time.Time) error

	InsertJob(j *Job) error // sets j.Seq
	UpdateJob(j *Job) error
	PutPayload(p *Payload) error

	InsertApproval(a *Approval) error
	// ResolveApproval records the resolution of a pending approval. It fails
	// with approval_already_resolved if the approval is no longer pending.
	ResolveApproval(a *Approval) error

	InsertRun(r *Run) error // sets r.Seq
	// UpdateRun replaces the run's state (status, steps, WakeAt…).
	UpdateRun(r *Run) error

	// InsertWorkflow stores a registered workflow (sets w.Seq). A workflow
	// whose id exists already fails with CodeWorkflowExists.
	InsertWorkflow(w *Workflow) error

	InsertSnapshot(s *Snapshot) error // no-op when the id exists
	SetActiveSnapshot(id string, at time.Time) error
	// ActiveSnapshotID is the id of the policy snapshot in force for this
	// transaction ("" when none is published): the last one activated by a
	// transaction committed before this one (through any process sharing
	// the store) or by an earlier SetActiveSnapshot in this one. Writes are
	// serialised, so it is still in force when this transaction commits: a
	// decision recorded here must be made under it.
	ActiveSnapshotID() (string, error)
	InsertPolicyAudit(a *PolicyAudit) error

	// AppendEvent appends ev to its tenant's ledger (assigning ev.Ledger and
	// ev.PrevHash), extends the tenant's Merkle tree, and, if ev.RunID is
	// set, appends it to the run's timeline (assigning ev.Seq).
	AppendEvent(ev *Event) error

	InsertCheckpoint(c *Checkpoint) error // no-op when one exists at that size
	// RecordStoreSecret records s unless a secret of that name is recorded
	// already (then it is a no-op: the first value stays).
	RecordStoreSecret(s *StoreSecret) error
	InsertCosignature(tenant string, size uint64, c *Cosignature) error

	RetentionTx // retention.go

	// AfterCommit registers fn to run once the transaction is durable.
	AfterCommit(fn func())
}

// QueuedNote tells a long-polling lease which job became QUEUED, so that
// only the waiters it can serve wake up.
type QueuedNote struct {
	// Tenant is empty when any job may have become QUEUED (a notifier that
	// lost track): every waiter wakes.
	Tenant string
	Action string
	// JobID is set for a job bound to an executor, which only a lease
	// naming it may take; a store's notes leave it empty for other jobs.
	JobID string
}

// Notifier is implemented by stores that several processes share (the
// PostgreSQL store). OnQueued registers fn to be called with a note each
// time any process sharing the store makes a job QUEUED, and with an empty
// note (wake everyone) whenever notes may have been lost. fn runs on the
// store's listener and must not block. Spurious notes are allowed.
type Notifier interface {
	OnQueued(fn func(QueuedNote))
}
