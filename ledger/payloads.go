package ledger

// Typed data members of the events whose data the evidence checks read
// (docs/evidence.md §2). internal/service writes them (Canonical, through
// encoding/json) and this package's ParseEntry reads them back into
// EventFacts, member by member, for verify. A record that belongs to the
// root package (a decision, an approval, a policy audit) is a type
// parameter: the writer's full record, or the subset a reader checks
// (DecisionFacts, ApprovalFacts, AuditFacts). Events not listed here carry
// their data as a JSON object of their own (see docs/evidence.md).

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
