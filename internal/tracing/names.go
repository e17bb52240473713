package tracing

import "go.opentelemetry.io/otel/attribute"

// Span names.
const (
	SpanJobSubmit      = "cairn.job.submit"
	SpanPolicyEvaluate = "cairn.policy.evaluate"
	SpanApprovalWait   = "cairn.approval.wait"
	SpanJobDispatch    = "cairn.job.dispatch"
	SpanJobComplete    = "cairn.job.complete"
	SpanLeaseExpire    = "cairn.lease.expire"
	// SpanEvidence records evidence written outside any request and any of
	// the spans above (a workflow run's background step, a run completing).
	SpanEvidence = "cairn.evidence"
	// EventLedgerAppend is the span event each ledger entry a span wrote
	// adds to it.
	EventLedgerAppend = "cairn.ledger.append"
)

// Attribute keys Cairn defines (no semantic convention covers them).
const (
	AttrLedgerIndex        = attribute.Key("cairn.ledger.index")
	AttrLedgerLeafHash     = attribute.Key("cairn.ledger.leaf_hash")
	AttrLedgerEventType    = attribute.Key("cairn.ledger.event_type")
	AttrTenant             = attribute.Key("cairn.tenant")
	AttrJobID              = attribute.Key("cairn.job.id")
	AttrJobHash            = attribute.Key("cairn.job_hash")
	AttrJobState           = attribute.Key("cairn.job.state")
	AttrDecision           = attribute.Key("cairn.policy.decision")
	AttrRuleID             = attribute.Key("cairn.policy.rule_id")
	AttrSnapshot           = attribute.Key("cairn.policy.snapshot")
	AttrPhase              = attribute.Key("cairn.policy.phase")
	AttrApprovalID         = attribute.Key("cairn.approval.id")
	AttrResolution         = attribute.Key("cairn.approval.resolution")
	AttrResolver           = attribute.Key("cairn.approval.resolver")
	AttrOutputDecision     = attribute.Key("cairn.output_safety.decision")
	AttrOutputRuleID       = attribute.Key("cairn.output_safety.rule_id")
	AttrWorkerID           = attribute.Key("cairn.worker.id")
	AttrRequestedLedgerIdx = attribute.Key("cairn.approval.request.ledger.index")
	AttrRequestedLeafHash  = attribute.Key("cairn.approval.request.ledger.leaf_hash")
)
