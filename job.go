package cairn

import (
	"encoding/json"
	"time"

	"github.com/cairnhq/cairn/ledger"
)

// Policy decisions [seed].
const (
	Allow                = "ALLOW"
	Deny                 = "DENY"
	RequireApproval      = "REQUIRE_APPROVAL"
	AllowWithConstraints = "ALLOW_WITH_CONSTRAINTS"
)

// Output-safety decisions [seed].
const (
	OutputAllow      = "ALLOW"
	OutputRedact     = "REDACT"
	OutputQuarantine = "QUARANTINE"
)

// Job states.
const (
	StatePendingApproval = "PENDING_APPROVAL"
	StateQueued          = "QUEUED"
	StateRunning         = "RUNNING"
	StateSucceeded       = "SUCCEEDED"
	StateFailed          = "FAILED"
	StateDenied          = "DENIED"
	StateExpired         = "EXPIRED"
	StateCancelled       = "CANCELLED"
)

// AllStates lists every job state.
var AllStates = []string{StatePendingApproval, StateQueued, StateRunning, StateSucceeded, StateFailed, StateDenied, StateExpired, StateCancelled}

// AllDecisions lists every policy decision.
var AllDecisions = []string{Allow, Deny, RequireApproval, AllowWithConstraints}

// IsFinalState reports whether a job in state s will never change again.
func IsFinalState(s string) bool {
	switch s {
	case StateSucceeded, StateFailed, StateDenied, StateExpired, StateCancelled:
		return true
	}
	return false
}

// Decision phases.
const (
	PhaseSubmit   = "submit"
	PhaseDispatch = "dispatch"
	PhaseSimulate = "simulate"
)

// Approval resolutions [seed] and statuses.
const (
	ResolutionApproved = "approved"
	ResolutionRejected = "rejected"
	ResolutionExpired  = "expired"
	// ResolutionCancelled: the job's workflow run ended (cancelled, failed
	// or timed out) while the approval was pending.
	ResolutionCancelled = "cancelled"

	ApprovalPending  = "pending"
	ApprovalResolved = "resolved"
)

// Opt is a string that is JSON null when empty. The contract's optional
// identifiers (run_id, workflow_step_id, resolution …) are null when absent.
// It is the evidence format's optional string (ledger.Opt).
type Opt = ledger.Opt

// LedgerRef locates an evidence item in its tenant's ledger.
type LedgerRef struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
}

// Finding is one output-safety hit. It never contains the matched text:
// only where it was, how long, what kind, and a salted hash.
type Finding struct {
	Scanner string `json:"scanner"` // secrets | pii | prompt_injection | regex
	Type    string `json:"type"`    // e.g. aws_access_key, email, card_number
	RuleID  string `json:"rule_id,omitempty"`
	Offset  int    `json:"offset"` // byte offset in the stored result JSON
	Length  int    `json:"length"`
	Hash    string `json:"hash,omitempty"` // hex HMAC-SHA256(salt, match), truncated
}

// OutputSafety is the verdict on a job's result.
type OutputSafety struct {
	Decision string    `json:"decision"`
	RuleID   Opt       `json:"rule_id"`
	Findings []Finding `json:"findings"`
}

// Job is the state projection of one agent action. Its history lives in
// decisions and events; this row is what the job is now.
type Job struct {
	JobID          string `json:"job_id"`
	RunID          Opt    `json:"run_id"`
	WorkflowStepID Opt    `json:"workflow_step_id"`
	TraceID        string `json:"trace_id"`
	// TraceState is the W3C tracestate of the submit request's trace when
	// the job joined it (tracing on): a worker that leases the job later
	// gets it with the traceparent. Opaque vendor data, never evidence.
	TraceState       string            `json:"tracestate,omitempty"`
	Tenant           string            `json:"tenant"`
	Action           string            `json:"action"`
	Resource         Opt               `json:"resource"`
	Labels           map[string]string `json:"labels"`
	RiskTags         []string          `json:"risk_tags"`
	SubmittedBy      string            `json:"submitted_by"`
	SubmitterKind    string            `json:"submitter_kind"`
	SubmitterRoles   []string          `json:"submitter_roles"`
	Executor         string            `json:"executor,omitempty"`
	State            string            `json:"state"`
	Decision         string            `json:"decision"`
	PolicyRuleID     Opt               `json:"policy_rule_id"`
	PolicyReason     string            `json:"policy_reason"`
	PolicySnapshot   Opt               `json:"policy_snapshot"`
	JobHash          string            `json:"job_hash"`
	ApprovalRequired bool              `json:"approval_required"`
	Constraints      json.RawMessage   `json:"constraints,omitempty"`
	ContextPtr       string            `json:"context_ptr"`
	ContextSHA256    string            `json:"context_sha256"`
	ResultPtr        Opt               `json:"result_ptr"`
	ResultSHA256     Opt               `json:"result_sha256"`
	OutputSafety     *OutputSafety     `json:"output_safety"`
	Attempts         int               `json:"attempts"`
	LeaseID          Opt               `json:"lease_id"`
	LeaseOwner       Opt               `json:"lease_owner"`
	LeaseExpiresAt   *time.Time        `json:"lease_expires_at"`
	Error            Opt               `json:"error"`
	// ErrorSafety is the output rules' verdict on the worker's error text,
	// present when they found something in it (Error then holds the
	// redacted or withheld text, never the original).
	ErrorSafety *OutputSafety `json:"error_safety,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	CompletedAt *time.Time    `json:"completed_at"`

	// Seq orders jobs by submission within the store; not part of the API.
	// Packed, when set, is the job's body as the SQL stores keep it (its
	// JSON without what the row's columns hold, compressed: internal/jobrow
	// and internal/pack, ADRs 0044 and 0047), made ahead of the transaction
	// from the job's JSON PackedFrom; a store uses it only if the job still
	// marshals to exactly those bytes.
	Packed, PackedFrom []byte `json:"-"`

	Seq int64 `json:"-"`
}

// RuleTrace explains one rule's part in an evaluation.
type RuleTrace struct {
	RuleID  string `json:"rule_id"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

// ApprovalSpec is a rule's approval block.
type ApprovalSpec struct {
	ApproverRoles []string `json:"approver_roles"`
	ExpiresIn     string   `json:"expires_in,omitempty"`
}

// Evaluation is what the policy engine returns for one job.
type Evaluation struct {
	Decision     string          `json:"decision"`
	RuleID       string          `json:"policy_rule_id"`
	Reason       string          `json:"policy_reason"`
	Snapshot     string          `json:"policy_snapshot"`
	Constraints  json.RawMessage `json:"constraints,omitempty"`
	Approval     *ApprovalSpec   `json:"approval,omitempty"`
	ExpiresIn    time.Duration   `json:"-"`
	DefaultRule  bool            `json:"default"`
	Explanation  string          `json:"explanation"`
	Trace        []RuleTrace     `json:"rules_tried"`
	EvaluatedFor string          `json:"-"`
}

// PolicyInput is what a bundle's rules see about one job.
type PolicyInput struct {
	Tenant         string
	JobID          string
	RunID          string
	WorkflowStepID string
	Action         string
	Resource       string
	Labels         map[string]string
	RiskTags       []string
	Input          any // decoded JSON
	Principal      Principal
	Now            time.Time
}

// Decision is one recorded policy evaluation of a job (audit query 2).
type Decision struct {
	DecisionID     string          `json:"decision_id"`
	JobID          string          `json:"job_id"`
	Phase          string          `json:"phase"`
	Decision       string          `json:"decision"`
	PolicyRuleID   Opt             `json:"policy_rule_id"`
	PolicyReason   string          `json:"policy_reason"`
	PolicySnapshot Opt             `json:"policy_snapshot"`
	JobHash        string          `json:"job_hash"`
	Constraints    json.RawMessage `json:"constraints"`
	Approval       *ApprovalSpec   `json:"approval,omitempty"`
	Default        bool            `json:"default_rule"`
	Explanation    string          `json:"explanation"`
	RulesTried     []RuleTrace     `json:"rules_tried"`
	EvaluatedAt    time.Time       `json:"evaluated_at"`
	Ledger         *LedgerRef      `json:"ledger,omitempty"`
}

// Approval is the human gate on one job (audit query 3).
type Approval struct {
	ApprovalID       string     `json:"approval_id"`
	Tenant           string     `json:"-"`
	JobID            string     `json:"job_id"`
	RunID            Opt        `json:"run_id"`
	WorkflowStepID   Opt        `json:"workflow_step_id"`
	Action           string     `json:"action"`
	Resource         Opt        `json:"resource"`
	Decision         string     `json:"decision"`
	DecisionID       string     `json:"decision_id"`
	PolicyRuleID     Opt        `json:"policy_rule_id"`
	PolicyReason     string     `json:"policy_reason"`
	PolicySnapshot   Opt        `json:"policy_snapshot"`
	JobHash          string     `json:"job_hash"`
	ApprovalRequired bool       `json:"approval_required"`
	ApproverRoles    []string   `json:"approver_roles"`
	RequestedBy      string     `json:"requested_by"`
	RequestedAt      time.Time  `json:"requested_at"`
	ExpiresAt        *time.Time `json:"expires_at"`
	Status           string     `json:"status"`
	Resolution       Opt        `json:"resolution"`
	ResolvedBy       Opt        `json:"resolved_by"`
	ResolvedComment  Opt        `json:"resolved_comment"`
	ResolvedAt       *time.Time `json:"resolved_at"`
	// ResolverRoles are the resolving approver's roles when it resolved:
	// dispatch checks them against the approval block of the rule then in
	// force. Absent for approvals resolved before they were recorded.
	ResolverRoles    []string   `json:"resolver_roles,omitempty"`
	Ledger           *LedgerRef `json:"ledger,omitempty"`
	ResolutionLedger *LedgerRef `json:"resolution_ledger,omitempty"`

	Seq int64 `json:"-"`
	// Raw, when set by a store, is the approval's API JSON; it is served as is.
	Raw json.RawMessage `json:"-"`
}

// RawJSON is the approval's stored API JSON, or nil.
func (a *Approval) RawJSON() []byte { return a.Raw }

// MarshalJSON serves Raw when a store provided it.
func (a *Approval) MarshalJSON() ([]byte, error) {
	if a.Raw != nil {
		return a.Raw, nil
	}
	type plain Approval
	return json.Marshal((*plain)(a))
}

// Run groups jobs. The first job naming a run starts it (an ad-hoc run), or
// POST /workflow-runs starts it from a registered workflow (a workflow run,
// WorkflowID set), whose jobs the engine creates step by step.
type Run struct {
	RunID       string     `json:"run_id"`
	Tenant      string     `json:"tenant"`
	Status      string     `json:"status"` // ad hoc: running | completed; workflow: see RunWaitingApproval…
	StartedBy   string     `json:"started_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt *time.Time `json:"completed_at"`
	Jobs        []*Job     `json:"jobs,omitempty"`
	// JobsTruncated: the run has more jobs than Jobs lists (the first
	// 10,000 in submission order); GET /jobs?run_id= lists them all.
	JobsTruncated bool `json:"jobs_truncated,omitempty"`

	// Workflow runs only.
	WorkflowID   string   `json:"workflow_id,omitempty"`
	InputPtr     string   `json:"input_ptr,omitempty"`    // wfin:<run_id>, the run input as a payload
	InputSHA256  string   `json:"input_sha256,omitempty"` // SHA-256 of the input's bytes
	StarterKind  string   `json:"starter_kind,omitempty"`
	StarterRoles []string `json:"starter_roles,omitempty"`
	RerunOf      string   `json:"rerun_of,omitempty"`        // the run this one reruns
	RerunFrom    string   `json:"rerun_from_step,omitempty"` // the step it reruns from
	// RerunBy is the principal who asked for this rerun (the starter or an
	// admin); StartedBy stays the original run's starter, on whose behalf
	// (StarterKind, StarterRoles) the rerun's jobs are submitted and judged.
	RerunBy string `json:"rerun_by,omitempty"`
	// Requesters are the principals who started or reran a run of this
	// run's rerun chain, the original starter first: none of them may vote
	// on the run's gates or resolve the approvals of its jobs.
	Requesters []string     `json:"requesters,omitempty"`
	Reason     string       `json:"status_reason,omitempty"` // why a run failed, timed out or was cancelled
	TimeoutAt  *time.Time   `json:"timeout_at,omitempty"`    // the run's own deadline
	Steps      []*StepState `json:"steps,omitempty"`         // the engine's progress, one per step in definition order
	// WakeAt is the engine's next deadline for this run (a retry's backoff,
	// a gate's expiry, a step or run timeout); nil when nothing is due.
	// Stores index it (DueRuns, NextDeadline).
	WakeAt *time.Time `json:"wake_at,omitempty"`

	// Seq orders runs by creation within the store; not part of the API.
	Seq int64 `json:"-"`
}

// IsWorkflow reports whether the engine drives r.
func (r *Run) IsWorkflow() bool { return r.WorkflowID != "" }

// Step returns the state of step id, or nil.
func (r *Run) Step(id string) *StepState {
	for _, s := range r.Steps {
		if s.StepID == id {
			return s
		}
	}
	return nil
}

// Run statuses. Ad-hoc runs are running or completed; workflow runs move
// through running and waiting_approval to one of the four final statuses.
const (
	RunRunning         = "running"
	RunCompleted       = "completed"
	RunWaitingApproval = "waiting_approval"
	RunSucceeded       = "succeeded"
	RunFailed          = "failed"
	RunCancelled       = "cancelled"
	RunTimedOut        = "timed_out"
)

// IsFinalRunStatus reports whether a workflow run in status s is over.
func IsFinalRunStatus(s string) bool {
	switch s {
	case RunSucceeded, RunFailed, RunCancelled, RunTimedOut:
		return true
	}
	return false
}

// Event types on the timeline and ledger.
const (
	EventRunStarted        = ledger.EventRunStarted
	EventRunReopened       = ledger.EventRunReopened
	EventRunCompleted      = ledger.EventRunCompleted
	EventJobSubmitted      = ledger.EventJobSubmitted
	EventPolicyDecided     = ledger.EventPolicyDecided
	EventApprovalRequested = ledger.EventApprovalRequested
	EventApprovalResolved  = ledger.EventApprovalResolved
	EventJobDispatched     = ledger.EventJobDispatched
	EventLeaseExpired      = ledger.EventLeaseExpired
	EventJobCompleted      = ledger.EventJobCompleted
	EventOutputChecked     = ledger.EventOutputChecked
	EventJobStateChanged   = ledger.EventJobStateChanged
	EventPolicyPublished   = ledger.EventPolicyPublished
	EventPolicyRolledBack  = ledger.EventPolicyRolledBack
	EventKeyCreated        = ledger.EventKeyCreated
	EventKeyRevoked        = ledger.EventKeyRevoked
)

// Event is one evidence item. Every event is a ledger entry of its tenant;
// an event with a RunID is also on that run's timeline with Seq 1..n.
type Event struct {
	Tenant         string        `json:"-"`
	Seq            int64         `json:"seq,omitempty"` // per-run timeline sequence; 0 when not in a run
	Type           string        `json:"type"`
	Timestamp      time.Time     `json:"timestamp" openapi:"optional"`
	RunID          Opt           `json:"run_id"`
	WorkflowStepID Opt           `json:"workflow_step_id" openapi:"optional"`
	JobID          Opt           `json:"job_id"`
	Actor          string        `json:"actor" openapi:"optional"`
	Decision       string        `json:"decision,omitempty"`
	PolicyRuleID   string        `json:"policy_rule_id,omitempty"`
	PolicySnapshot string        `json:"policy_snapshot,omitempty"`
	JobHash        string        `json:"job_hash,omitempty"`
	Resolution     string        `json:"resolution,omitempty"`
	ResolvedBy     string        `json:"resolved_by,omitempty"`
	State          string        `json:"state,omitempty"`
	OutputSafety   *OutputSafety `json:"output_safety,omitempty"`
	// Data is the event's data member. A writer sets the event type's
	// typed data (*SubmittedData, *DecidedData, *DispatchedData, …: package
	// ledger's payload structs, see eventdata.go) or, for the other types, a
	// map[string]any. An event decoded from JSON holds a map[string]any
	// (see DataMap).
	Data any `json:"data,omitempty"`
	// Trace names the OpenTelemetry span that wrote the event, when
	// tracing was on (docs/evidence.md §2.6); absent otherwise.
	Trace  *TraceRef  `json:"trace,omitempty"`
	Ledger *LedgerRef `json:"ledger,omitempty"`
	// Pruned marks a run timeline entry whose body a retention compaction
	// removed: only Seq, Type, RunID, JobID and Ledger are known (the
	// members tagged openapi:"optional" are absent), and PrunedBy is the
	// ledger index of the retention_compacted event.
	Pruned   bool    `json:"pruned,omitempty"`
	PrunedBy *uint64 `json:"pruned_by,omitempty"`
	PrevHash string  `json:"-"`

	// Canon is the event's canonical JSON (Seq and Ledger unset), when the
	// caller computed it ahead of the transaction; the store computes it otherwise.
	Canon []byte `json:"-"`
	// Raw, when set by a store, is the event's API JSON; it is served as is.
	Raw json.RawMessage `json:"-"`
}

// RawJSON is the event's stored API JSON, or nil.
func (e *Event) RawJSON() []byte { return e.Raw }

// MarshalJSON serves Raw when a store provided it.
func (e *Event) MarshalJSON() ([]byte, error) {
	if e.Raw != nil {
		return e.Raw, nil
	}
	type plain Event
	return json.Marshal((*plain)(e))
}

// TraceRef names the span that wrote an evidence event: its W3C trace id
// (32 lowercase hex digits) and span id (16).
type TraceRef struct {
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

// LedgerEntry is one stored ledger row: the canonical body and its hashes.
type LedgerEntry struct {
	Tenant   string          `json:"tenant"`
	Index    uint64          `json:"index"`
	Body     json.RawMessage `json:"body"`
	LeafHash string          `json:"leaf_hash"`
	PrevHash string          `json:"prev_hash"`
	// Pruned is set (and Body is null) when a retention compaction removed
	// the body; LeafHash is still the entry's.
	Pruned bool `json:"pruned,omitempty"`
}

// Snapshot is an immutable published policy bundle.
type Snapshot struct {
	ID        string    `json:"policy_snapshot"`
	SHA256    string    `json:"sha256"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`

	Seq int64 `json:"-"`
}

// PolicyAudit is one publish or rollback (audit query 5).
type PolicyAudit struct {
	AuditID        string     `json:"audit_id"`
	Action         string     `json:"action"` // publish | rollback
	SnapshotBefore Opt        `json:"snapshot_before"`
	SnapshotAfter  string     `json:"snapshot_after"`
	Actor          string     `json:"actor"`
	Tenant         string     `json:"tenant"`
	Message        string     `json:"message"`
	Timestamp      time.Time  `json:"timestamp"`
	Ledger         *LedgerRef `json:"ledger,omitempty"`

	Seq int64 `json:"-"`
}

// Payload is a stored context or result, addressed by pointer.
type Payload struct {
	Tenant string
	Ptr    string
	SHA256 string // of the plaintext
	Data   []byte
	// KeyID names the data key Data is encrypted under (the service
	// encrypts and decrypts): a subject's key id, TenantDataKey for the
	// tenant's own key, "" for a payload stored before encryption.
	KeyID string
	// Labels, on a write only, are the labels of the job (or run) the
	// payload belongs to: the service finds the data subject among them.
	// The store does not keep them.
	Labels map[string]string
}

// TenantDataKey is the KeyID of a payload sealed under its tenant's own
// data key (the key of subject ""), whatever that key's id: the stores keep
// it as an empty key id, so that what an erasure by subject reads (the
// payloads under one subject's key) is indexed alone (ADR 0047).
const TenantDataKey = "tenant"

// SnapshotPrefix is the prefix of system policy snapshot ids [seed].
const SnapshotPrefix = "cfg:system:policy#sha256:"

// ContextPtr and ResultPtr build payload pointers [seed].
func ContextPtr(jobID string) string { return "ctx:" + jobID }

// ResultPtr builds a result pointer.
func ResultPtr(jobID string) string { return "res:" + jobID }

// OutputRule is one entry of a bundle's output_rules: scanners to run over
// a job's result and what to do when any of them finds something.
type OutputRule struct {
	ID       string   `json:"id"`
	Scanners []string `json:"scanners"` // secrets | pii | prompt_injection | regex
	Patterns []string `json:"patterns,omitempty"`
	Actions  []string `json:"actions,omitempty"` // action globs; empty = all
	Decision string   `json:"decision"`          // ALLOW | REDACT | QUARANTINE
}

// NodeID names a node of a tenant's Merkle tree (RFC 6962): level 0 are the
// leaves; the node at (level, index) covers leaves [index<<level, (index+1)<<level).
type NodeID struct {
	Level uint
	Index uint64
}

// StoreSecret records what one of the secrets a store is used with was when
// first seen: the checkpoint signing key's public half, or a keyed
// fingerprint of the findings salt (never the secret itself). Servers
// started with another secret refuse to start.
type StoreSecret struct {
	Name       string    // SecretLedgerKey or SecretFindingsSalt
	Value      string    // "ed25519:<base64 public key>" or "hmac-sha256:<hex>"
	Source     string    // where the value came from
	RecordedAt time.Time // when it was recorded
}

// Names of the recorded store secrets.
const (
	SecretLedgerKey    = "ledger_key"
	SecretFindingsSalt = "findings_salt"
)

// Checkpoint is a signed tree head of a tenant's ledger: the C2SP signed
// note committing to the first Size entries.
type Checkpoint struct {
	Tenant       string        `json:"tenant"`
	Size         uint64        `json:"size"`
	RootHash     string        `json:"root_hash"` // hex
	Note         string        `json:"note"`
	CreatedAt    time.Time     `json:"created_at"`
	Cosignatures []Cosignature `json:"cosignatures"`
}

// Cosignature is a witness's signature over a checkpoint, kept as the
// witness's signed note (the checkpoint text with the witness's signature line).
type Cosignature struct {
	Witness   string    `json:"witness"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
}
