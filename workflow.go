package cairn

import (
	"encoding/json"
	"time"

	"github.com/cairnhq/cairn/ledger"
)

// Workflow is a registered workflow definition. Like a policy snapshot it is
// insert-only and addressed by content: WorkflowID is
// wf:<tenant>:<name>#sha256:<hex>, where <hex> is the SHA-256 of the exact
// registered bytes. Version counts the distinct definitions registered under
// Name in the tenant (1, 2, …).
type Workflow struct {
	WorkflowID  string     `json:"workflow_id"`
	Tenant      string     `json:"tenant"`
	Name        string     `json:"name"`
	Version     int        `json:"version"`
	SHA256      string     `json:"sha256"`
	Description string     `json:"description"`
	Steps       []string   `json:"steps"`      // step ids in definition order
	Definition  string     `json:"definition"` // the exact registered text
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	Ledger      *LedgerRef `json:"ledger"` // the workflow_registered event

	// Seq orders workflows by registration within the store; not part of the API.
	Seq int64 `json:"-"`
}

// WorkflowFilter selects workflows, newest first; Name narrows to one name's versions.
type WorkflowFilter struct {
	Name string
	Page
}

// RunFilter selects runs, newest first.
type RunFilter struct {
	WorkflowID string // only runs of this workflow
	Status     string
	StartedBy  string // only runs this principal started
	Page
}

// Step statuses of a workflow run.
const (
	StepPending         = "pending"          // waiting for its dependencies
	StepWaitingApproval = "waiting_approval" // its gate awaits approvers
	StepRunning         = "running"          // an attempt's job is open
	StepRetryWait       = "retry_wait"       // a failed attempt waits out its backoff
	StepCompensating    = "compensating"     // its compensation job is open
	StepSucceeded       = "succeeded"
	StepFailed          = "failed"
	StepSkipped         = "skipped" // its condition was false
	StepCancelled       = "cancelled"
	StepTimedOut        = "timed_out"
)

// IsFinalStepStatus reports whether a step in status s will not change again.
func IsFinalStepStatus(s string) bool {
	switch s {
	case StepSucceeded, StepFailed, StepSkipped, StepCancelled, StepTimedOut:
		return true
	}
	return false
}

// StepState is the engine's record of one step of a workflow run.
type StepState struct {
	StepID string `json:"step_id"`
	// DependsOn is the step's declared dependencies (the DAG's edges).
	DependsOn []string `json:"depends_on,omitempty"`
	Status    string   `json:"status"`
	Attempts  int      `json:"attempts"`
	JobID     string   `json:"job_id,omitempty"` // the current or last attempt's job
	Jobs      []string `json:"jobs"`             // every attempt's job, in order
	// CompensationJobID is the job of the compensating action, if one ran.
	CompensationJobID string     `json:"compensation_job_id,omitempty"`
	Gate              *GateState `json:"gate,omitempty"`
	Error             string     `json:"error,omitempty"`
	// Continued marks a failed step whose on_failure is continue.
	Continued bool `json:"continued,omitempty"`
	// FromRun names the run whose result this step reuses (a rerun).
	FromRun     string     `json:"from_run,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// NextAt is this step's deadline: its retry time, its gate's expiry or
	// its attempt's timeout.
	NextAt *time.Time `json:"next_at,omitempty"`
}

// Gate statuses.
const (
	GatePending   = "pending"
	GateApproved  = "approved"
	GateRejected  = "rejected"
	GateExpired   = "expired"
	GateCancelled = "cancelled"
)

// GateState is a step's human checkpoint: Quorum distinct approvers holding
// one of ApproverRoles, none of them the principal who started the run.
type GateState struct {
	Status        string     `json:"status"`
	ApproverRoles []string   `json:"approver_roles"`
	Quorum        int        `json:"quorum"`
	RequestedAt   time.Time  `json:"requested_at"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Votes         []GateVote `json:"votes"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	// JobID and JobHash name the job the gate releases (the step's first
	// attempt): approvers review, and send back, that exact payload's hash.
	JobID   string          `json:"job_id"`
	JobHash string          `json:"job_hash"`
	Input   json.RawMessage `json:"input"` // the job's rendered input, for review
}

// GateVote is one approver's answer to a gate.
type GateVote struct {
	By         string     `json:"by"`
	Resolution string     `json:"resolution"` // approved | rejected
	Comment    string     `json:"comment"`
	At         time.Time  `json:"at"`
	Ledger     *LedgerRef `json:"ledger"`
}

// Workflow event types on the run timeline and ledger.
const (
	EventWorkflowRegistered  = ledger.EventWorkflowRegistered
	EventStepStarted         = ledger.EventStepStarted
	EventStepSkipped         = ledger.EventStepSkipped
	EventStepReused          = ledger.EventStepReused // a rerun keeps an earlier run's step
	EventStepSucceeded       = ledger.EventStepSucceeded
	EventStepFailed          = ledger.EventStepFailed
	EventStepRetryScheduled  = ledger.EventStepRetryScheduled
	EventStepTimedOut        = ledger.EventStepTimedOut
	EventStepCancelled       = ledger.EventStepCancelled
	EventGateRequested       = ledger.EventGateRequested
	EventGateVoted           = ledger.EventGateVoted
	EventGateResolved        = ledger.EventGateResolved
	EventCompensationStarted = ledger.EventCompensationStarted
	EventRunStatusChanged    = ledger.EventRunStatusChanged
)

// Specific workflow error codes.
const (
	CodeWorkflowInvalid = "workflow_invalid"   // 422
	CodeRunConflict     = "run_id_conflict"    // 409
	CodeRunFinished     = "run_finished"       // 409: the run is over
	CodeRunNotFinished  = "run_not_finished"   // 409: a rerun needs a finished run
	CodeWorkflowRun     = "workflow_run"       // 409: jobs of a workflow run come from its engine
	CodeGateNotPending  = "gate_not_pending"   // 409
	CodeAlreadyVoted    = "gate_already_voted" // 409
	CodeWorkflowExists  = "workflow_exists"    // 409, from InsertWorkflow only
)

// RegisterWorkflowRequest is the body of POST /api/v1/workflows.
type RegisterWorkflowRequest struct {
	Definition string `json:"definition"` // YAML or JSON text
}

// StartRunRequest is the body of POST /api/v1/workflow-runs.
type StartRunRequest struct {
	// WorkflowID is a registered workflow id, or a workflow name (its latest version).
	WorkflowID string          `json:"workflow_id"`
	Input      json.RawMessage `json:"input,omitempty"`
	RunID      string          `json:"run_id,omitempty"`
}

// CancelRunRequest is the body of POST /api/v1/workflow-runs/{id}/cancel.
type CancelRunRequest struct {
	Reason string `json:"reason"`
}

// RerunRequest is the body of POST /api/v1/workflow-runs/{id}/rerun.
type RerunRequest struct {
	FromStep string `json:"from_step,omitempty"` // default: the first failed step
	RunID    string `json:"run_id,omitempty"`
}

// GateVoteRequest is the body of POST /api/v1/workflow-runs/{id}/steps/{step}/approve|reject.
type GateVoteRequest struct {
	JobHash string `json:"job_hash"`
	Comment string `json:"comment"`
}
