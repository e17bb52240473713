package ledger

// The evidence vocabulary: the type of every event Cairn writes to a
// ledger, spelled here once. The root package's Event* constants refer to
// these; writers (internal/service) and readers (this package, verify) use
// them rather than string literals.

// Job, run and key event types (docs/evidence.md §2).
const (
	EventRunStarted        = "run_started"
	EventRunReopened       = "run_reopened"
	EventRunCompleted      = "run_completed"
	EventJobSubmitted      = "job_submitted"
	EventPolicyDecided     = "policy_decided"
	EventApprovalRequested = "approval_requested"
	EventApprovalResolved  = "approval_resolved"
	EventJobDispatched     = "job_dispatched"
	EventLeaseExpired      = "lease_expired"
	EventJobCompleted      = "job_completed"
	EventOutputChecked     = "output_checked"
	EventJobStateChanged   = "job_state_changed"
	EventPolicyPublished   = "policy_published"
	EventPolicyRolledBack  = "policy_rolled_back"
	EventKeyCreated        = "key_created"
	EventKeyRevoked        = "key_revoked"
)

// Workflow event types (docs/evidence.md, workflow runs).
const (
	EventWorkflowRegistered  = "workflow_registered"
	EventStepStarted         = "step_started"
	EventStepSkipped         = "step_skipped"
	EventStepReused          = "step_reused" // a rerun keeps an earlier run's step
	EventStepSucceeded       = "step_succeeded"
	EventStepFailed          = "step_failed"
	EventStepRetryScheduled  = "step_retry_scheduled"
	EventStepTimedOut        = "step_timed_out"
	EventStepCancelled       = "step_cancelled"
	EventGateRequested       = "gate_requested"
	EventGateVoted           = "gate_voted"
	EventGateResolved        = "gate_resolved"
	EventCompensationStarted = "compensation_started"
	EventRunStatusChanged    = "run_status_changed"
)

// Retention and legal hold event types (docs/evidence.md §2.7, ADR 0046).
const (
	EventRetentionSet         = "retention_set"
	EventRetentionFloorWaived = "retention_floor_waived"
	EventRetentionCompacted   = "retention_compacted"
	EventHoldPlaced           = "hold_placed"
	EventHoldReleased         = "hold_released"
)

// Encryption at rest and erasure event types (docs/evidence.md §5.2,
// docs/data-protection.md, ADR 0048).
const (
	EventErasure               = "erasure"
	EventTenantSettingsChanged = "tenant_settings_changed"
	EventPayloadKeyRotated     = "payload_key_rotated"
)

// EventTypes lists every event type of the vocabulary, job events first.
var EventTypes = []string{
	EventRunStarted, EventRunReopened, EventRunCompleted, EventJobSubmitted, EventPolicyDecided,
	EventApprovalRequested, EventApprovalResolved, EventJobDispatched, EventLeaseExpired,
	EventJobCompleted, EventOutputChecked, EventJobStateChanged, EventPolicyPublished,
	EventPolicyRolledBack, EventKeyCreated, EventKeyRevoked,
	EventWorkflowRegistered, EventStepStarted, EventStepSkipped, EventStepReused, EventStepSucceeded,
	EventStepFailed, EventStepRetryScheduled, EventStepTimedOut, EventStepCancelled,
	EventGateRequested, EventGateVoted, EventGateResolved, EventCompensationStarted,
	EventRunStatusChanged,
	EventRetentionSet, EventRetentionFloorWaived, EventRetentionCompacted, EventHoldPlaced, EventHoldReleased,
	EventErasure, EventTenantSettingsChanged, EventPayloadKeyRotated,
}
