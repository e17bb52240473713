package cairn

import "github.com/cairnhq/cairn/ledger"

// The typed data of job and policy events: the ledger package's payload
// structs with this package's records. A writer sets a pointer to one as
// Event.Data.
type (
	// SubmittedData is the data of job_submitted.
	SubmittedData = ledger.JobSubmitted
	// DecidedData is the data of policy_decided.
	DecidedData = ledger.PolicyDecided[*Decision]
	// ApprovalRequestedData is the data of approval_requested.
	ApprovalRequestedData = ledger.ApprovalRequested[*Approval]
	// PolicyChangeData is the data of policy_published and policy_rolled_back.
	PolicyChangeData = ledger.PolicyChanged[*PolicyAudit]
	// DispatchedData is the data of job_dispatched.
	DispatchedData = ledger.JobDispatched
	// CompletedData is the data of job_completed.
	CompletedData = ledger.JobCompleted[*OutputSafety]
	// OutputCheckedData is the data of output_checked.
	OutputCheckedData = ledger.OutputChecked
	// ApprovalResolvedData is the data of approval_resolved.
	ApprovalResolvedData = ledger.ApprovalResolved
	// LeaseExpiredData is the data of lease_expired.
	LeaseExpiredData = ledger.LeaseExpired
	// JobStateChangedData is the data of job_state_changed.
	JobStateChangedData = ledger.JobStateChanged
	// KeyCreatedData is the data of key_created.
	KeyCreatedData = ledger.KeyCreated
	// KeyRevokedData is the data of key_revoked.
	KeyRevokedData = ledger.KeyRevoked
)

// DataMap returns the event's data when it is held as a map (an event
// decoded from JSON, or one of a type without typed data), else nil.
func (e *Event) DataMap() map[string]any {
	m, _ := e.Data.(map[string]any)
	return m
}
