package cairn

import (
	"encoding/json"
	"time"
)

// The request and response bodies of the HTTP API, shared by the server and
// the Go client.

// SubmitRequest is the body of POST /api/v1/jobs.
type SubmitRequest struct {
	JobID          string            `json:"job_id,omitempty"`
	RunID          string            `json:"run_id,omitempty"`
	WorkflowStepID string            `json:"workflow_step_id,omitempty"`
	TraceID        string            `json:"trace_id,omitempty"`
	Action         string            `json:"action"`
	Resource       string            `json:"resource,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	RiskTags       []string          `json:"risk_tags,omitempty"`
	Input          json.RawMessage   `json:"input,omitempty"`
	// Executor, when set, binds the job to one principal of the tenant: only
	// that principal leases it, and only by naming its job_id. Integrations
	// that carry out an agent's action themselves (the MCP gateway, the
	// Claude Code hook) submit with it, so no general worker ever takes
	// their jobs. It is not part of job_hash.
	Executor string `json:"executor,omitempty"`
	// Lease, when set, dispatches an allowed job in the same write as its
	// submit, and answers with the lease beside the job (SubmitResponse).
	// The lease goes to the caller, or to the principal whose key the
	// request carries in ExecutorKeyHeader. That principal needs the worker
	// role, belongs to the same tenant, and must be the job's executor
	// when it names one. A job that policy does not let run
	// now (DENY, REQUIRE_APPROVAL), or an idempotent replay, is answered
	// without a lease. It is not part of job_hash.
	Lease *SubmitLease `json:"lease,omitempty"`
}

// ExecutorKeyHeader carries, on a submit that asks for a lease, the API key
// of the principal that takes the lease when it is not the submitter. Both
// keys are authenticated; the submit is the agent's and the dispatch the
// executor's, each recorded under its own principal and key id.
const ExecutorKeyHeader = "Cairn-Executor-Key"

// SubmitLease asks for a submitted job to be leased to the caller at once.
type SubmitLease struct {
	WorkerID string `json:"worker_id,omitempty"` // default: the caller's principal id
	LeaseMS  int    `json:"lease_ms,omitempty"`  // default 60000, as for POST /workers/lease
}

// SubmitResponse is the answer to a submit that asked for a lease: the job
// and, when it was dispatched in the same write, its lease with the
// signed dispatch receipt.
type SubmitResponse struct {
	*Job
	Lease *LeasedJob `json:"lease,omitempty"`
}

// CancelRequest is the body of POST /api/v1/jobs/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason"`
}

// ResolveRequest is the body of POST /api/v1/approvals/{job_id}/approve|reject.
type ResolveRequest struct {
	JobHash string `json:"job_hash"`
	Comment string `json:"comment"`
}

// LeaseRequest is the body of POST /api/v1/workers/lease.
type LeaseRequest struct {
	WorkerID string   `json:"worker_id"`
	Actions  []string `json:"actions"`
	Max      int      `json:"max"`
	WaitMS   int      `json:"wait_ms"`
	LeaseMS  int      `json:"lease_ms,omitempty"` // lease duration; default 60000
	// JobID, when set, leases only that job (if it is QUEUED and matches
	// actions). It is the only way to lease a job bound to an executor.
	JobID string `json:"job_id,omitempty"`
}

// LeasedJob is one job handed to a worker.
type LeasedJob struct {
	JobID          string            `json:"job_id"`
	RunID          Opt               `json:"run_id"`
	WorkflowStepID Opt               `json:"workflow_step_id"`
	TraceID        string            `json:"trace_id"`
	Action         string            `json:"action"`
	Resource       Opt               `json:"resource"`
	Labels         map[string]string `json:"labels"`
	RiskTags       []string          `json:"risk_tags"`
	Input          json.RawMessage   `json:"input"`
	JobHash        string            `json:"job_hash"`
	Decision       string            `json:"decision"`
	PolicySnapshot string            `json:"policy_snapshot"`
	Constraints    json.RawMessage   `json:"constraints,omitempty"`
	LeaseID        string            `json:"lease_id"`
	LeaseExpiresAt time.Time         `json:"lease_expires_at"`
	Attempts       int               `json:"attempts"`
	Receipt        *DispatchReceipt  `json:"receipt,omitempty"`
	// Traceparent and Tracestate carry the job's trace to the worker
	// (W3C Trace Context: the span of its dispatch); set while tracing is on.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
}

// DispatchReceipt proves the dispatch decision is in the ledger: the
// decision's canonical ledger body, its position, and an inclusion proof to
// a signed checkpoint. A worker checks it before running the job (no log,
// no run); see ledger.VerifyReceipt.
type DispatchReceipt struct {
	DecisionID string     `json:"decision_id"`
	JobHash    string     `json:"job_hash"`
	Ledger     *LedgerRef `json:"ledger"`
	Body       string     `json:"body,omitempty"`       // canonical ledger entry of the dispatch decision
	Checkpoint string     `json:"checkpoint,omitempty"` // signed note covering it
	TreeSize   uint64     `json:"tree_size,omitempty"`
	Inclusion  []string   `json:"inclusion,omitempty"` // hex hashes, leaf to root

	// Decided is the dispatch decision's appended event, from which the
	// service rebuilds Body without reading the ledger (checked against
	// Ledger.LeafHash). Never serialised.
	Decided *Event `json:"-"`
}

// InclusionProof proves one ledger entry is in a tree (hex hashes, leaf to root).
type InclusionProof struct {
	Index    uint64   `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	Hashes   []string `json:"hashes"`
}

// EvidenceProof proves a job's evidence items are in a signed checkpoint.
type EvidenceProof struct {
	Checkpoint string           `json:"checkpoint"` // C2SP signed note
	TreeSize   uint64           `json:"tree_size"`
	RootHash   string           `json:"root_hash"`
	PublicKey  string           `json:"public_key"` // note verifier key of the log
	Inclusion  []InclusionProof `json:"inclusion"`
}

// LeaseResponse is the answer of POST /api/v1/workers/lease.
type LeaseResponse struct {
	Jobs []*LeasedJob `json:"jobs"`
}

// CompleteRequest is the body of POST /api/v1/jobs/{id}/complete.
type CompleteRequest struct {
	LeaseID string          `json:"lease_id"`
	Status  string          `json:"status"` // succeeded | failed
	Result  json.RawMessage `json:"result,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// PublishRequest is the body of POST /api/v1/policy/publish.
type PublishRequest struct {
	Bundle  string `json:"bundle"`
	Message string `json:"message"`
}

// RollbackRequest is the body of POST /api/v1/policy/rollback.
type RollbackRequest struct {
	To      string `json:"to"`
	Message string `json:"message"`
}

// PolicyChange is the answer to publish and rollback.
type PolicyChange struct {
	PolicySnapshot string       `json:"policy_snapshot"`
	Audit          *PolicyAudit `json:"audit"`
	Changed        bool         `json:"changed"`
}

// ActivePolicy is the answer of GET /api/v1/policy.
type ActivePolicy struct {
	PolicySnapshot Opt       `json:"policy_snapshot"`
	Text           string    `json:"text"`
	ActivatedAt    time.Time `json:"activated_at,omitzero"`
}

// SimulateRequest is the body of POST /api/v1/policy/simulate: a job as it
// would be submitted, and optionally a candidate bundle or a snapshot id.
type SimulateRequest struct {
	Job      SubmitRequest `json:"job"`
	Bundle   string        `json:"bundle,omitempty"`
	Snapshot string        `json:"snapshot,omitempty"`
	// SubmittedAs evaluates as another principal id (default: the caller).
	SubmittedAs string `json:"submitted_as,omitempty"`
}

// SimulateResponse explains a simulated decision.
type SimulateResponse struct {
	Decision
}

// CreateKeyRequest is the body of POST /api/v1/keys.
type CreateKeyRequest struct {
	Principal string   `json:"principal"`
	Kind      string   `json:"kind"`
	Roles     []string `json:"roles"`
	Tenant    string   `json:"tenant,omitempty"`
}

// CreatedKey is the answer of POST /api/v1/keys; Key is shown once.
type CreatedKey struct {
	Key       string   `json:"key"`
	KeyID     string   `json:"key_id"`
	Principal string   `json:"principal"`
	Kind      string   `json:"kind"`
	Tenant    string   `json:"tenant"`
	Roles     []string `json:"roles"`
}

// List is the envelope of every list answer.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// DecisionRecord is the seed's decision-record.json: the joined answer to
// "who approved this, under which policy, and what happened next".
type DecisionRecord struct {
	RunID            Opt                 `json:"run_id"`
	WorkflowStepID   Opt                 `json:"workflow_step_id"`
	JobID            string              `json:"job_id"`
	TraceID          string              `json:"trace_id"`
	Decision         string              `json:"decision"`
	PolicyRuleID     Opt                 `json:"policy_rule_id"`
	PolicyReason     string              `json:"policy_reason"`
	PolicySnapshot   Opt                 `json:"policy_snapshot"`
	JobHash          string              `json:"job_hash"`
	ApprovalRequired bool                `json:"approval_required"`
	Resolution       Opt                 `json:"resolution"`
	ResolvedBy       Opt                 `json:"resolved_by"`
	ResolvedComment  Opt                 `json:"resolved_comment"`
	ContextPtr       string              `json:"context_ptr"`
	ResultPtr        Opt                 `json:"result_ptr"`
	OutputSafety     *RecordOutputSafety `json:"output_safety"`
	Timestamp        time.Time           `json:"timestamp"`

	// Additional members.
	State     string      `json:"state"`
	Action    string      `json:"action"`
	Resource  Opt         `json:"resource"`
	Submitted string      `json:"submitted_by"`
	Decisions []*Decision `json:"decisions"`
	Approval  *Approval   `json:"approval"`
	Events    []*Event    `json:"events"`
	// Proof includes every event above in a signed checkpoint.
	Proof *EvidenceProof `json:"proof,omitempty"`
}

// RecordOutputSafety is the output_safety member of the decision record.
type RecordOutputSafety struct {
	Decision string    `json:"decision"`
	RuleID   Opt       `json:"rule_id"`
	Findings []Finding `json:"findings,omitempty"`
}

// DeniesRequest is the body of POST /api/v1/policy/denies: which of these
// actions would the active policy deny for the caller whatever the input
// (and, with any_resource, whatever the resource)?
type DeniesRequest struct {
	Actions     []string          `json:"actions"`
	Resource    string            `json:"resource,omitempty"`
	AnyResource bool              `json:"any_resource,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// DeniesResponse names the actions denied for every input.
type DeniesResponse struct {
	PolicySnapshot Opt      `json:"policy_snapshot"`
	Denied         []string `json:"denied"`
}
