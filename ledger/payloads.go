package ledger

import "time"

// Typed data members of the job and policy events (docs/evidence.md §2).
// internal/service writes them (Canonical, through encoding/json) and this
// package's ParseEntry reads the checked members back into EventFacts, one
// by one, for verify. A record that belongs to the root package (a
// decision, an approval, a policy audit, an output verdict) is a type
// parameter: the writer's full record, or the subset a reader checks
// (DecisionFacts, ApprovalFacts, AuditFacts). Workflow events carry their
// data as a JSON object of their own (see docs/evidence.md).

// JobSubmitted is the data of a job_submitted event.
type JobSubmitted struct {
	Job SubmittedJob `json:"job"`
	// Executor is present when the job names one.
	Executor string `json:"executor,omitempty"`
}

// PolicyDecided is the data of a policy_decided event: the decision record
// and the phase (submit or dispatch) it was taken in.
type PolicyDecided[D any] struct {
	Decision D      `json:"decision"`
	Phase    string `json:"phase"`
}

// ApprovalRequested is the data of an approval_requested event: the
// pending approval.
type ApprovalRequested[A any] struct {
	Approval A `json:"approval"`
}

// PolicyChanged is the data of a policy_published or policy_rolled_back
// event: the audit record and the SHA-256 of the policy now in force.
type PolicyChanged[A any] struct {
	Audit        A      `json:"audit"`
	PolicySHA256 string `json:"policy_sha256"`
}

// JobDispatched is the data of a job_dispatched event: the lease, the
// worker's own label (worker_id) and the authenticated key that leased the
// job (principal, key_id).
type JobDispatched struct {
	LeaseID        Opt       `json:"lease_id"`
	WorkerID       string    `json:"worker_id"`
	Principal      string    `json:"principal"`
	KeyID          string    `json:"key_id"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	DecisionID     string    `json:"decision_id"`
	Attempts       int       `json:"attempts"`
}

// JobCompleted is the data of a job_completed event; S is the output
// rules' verdict on the error text (absent when there is none).
type JobCompleted[S any] struct {
	Status       string `json:"status"`
	ResultPtr    Opt    `json:"result_ptr"`
	ResultSHA256 Opt    `json:"result_sha256"`
	LeaseID      string `json:"lease_id"`
	Error        Opt    `json:"error"`
	WorkerID     string `json:"worker_id"`
	Principal    string `json:"principal"`
	KeyID        string `json:"key_id"`
	ErrorSafety  S      `json:"error_safety,omitempty"`
	// Blinding is the salt of a blinded result hash (absent when the
	// result hash is not blinded).
	Blinding string `json:"blinding,omitempty"`
}

// OutputChecked is the data of an output_checked event (the verdict is the
// event's output_safety).
type OutputChecked struct {
	ResultPtr    Opt    `json:"result_ptr"`
	ResultSHA256 Opt    `json:"result_sha256"`
	Blinding     string `json:"blinding,omitempty"`
}

// ApprovalResolved is the data of an approval_resolved event.
type ApprovalResolved struct {
	ApprovalID string `json:"approval_id"`
	Comment    string `json:"comment"`
	// ResolverRoles are the roles of the resolver when known.
	ResolverRoles []string `json:"resolver_roles,omitempty"`
}

// LeaseExpired is the data of a lease_expired event.
type LeaseExpired struct {
	LeaseID  Opt `json:"lease_id"`
	Attempts int `json:"attempts"`
}

// JobStateChanged is the data of a job_state_changed event: why, and the
// lease or the decision that the change ends or follows, when there is one.
type JobStateChanged struct {
	Reason     string `json:"reason"`
	LeaseID    string `json:"lease_id,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

// KeyCreated is the data of a key_created event; Tenant is the key's
// tenant when the key was minted for another tenant than the event's.
type KeyCreated struct {
	KeyID     string   `json:"key_id"`
	Principal string   `json:"principal"`
	Kind      string   `json:"kind"`
	Roles     []string `json:"roles"`
	Tenant    string   `json:"tenant,omitempty"`
}

// KeyRevoked is the data of a key_revoked event.
type KeyRevoked struct {
	KeyID string `json:"key_id"`
}
