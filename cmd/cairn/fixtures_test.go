package main

import (
	"encoding/json"
	"time"

	"github.com/cairnhq/cairn"
)

var (
	t0   = time.Date(2026, 4, 1, 14, 10, 32, 0, time.UTC)
	at   = func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	atP  = func(sec int) *time.Time { t := at(sec); return &t }
	snap = cairn.SnapshotPrefix + "3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a"
	hash = "7f3a9c2b1d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"
)

// fixtureRecord is an approved, run, quarantined job.
func fixtureRecord() *cairn.DecisionRecord {
	return &cairn.DecisionRecord{
		RunID: "run-7", WorkflowStepID: "step-2", JobID: "job-123", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Decision: cairn.RequireApproval, PolicyRuleID: "prod-write-needs-approval",
		PolicyReason: "Production writes need manager approval", PolicySnapshot: cairn.Opt(snap),
		JobHash: hash, ApprovalRequired: true,
		Resolution: "approved", ResolvedBy: "alice", ResolvedComment: "checked the diff",
		ContextPtr: "ctx:job-123", ResultPtr: "res:job-123",
		OutputSafety: &cairn.RecordOutputSafety{Decision: "QUARANTINE", RuleID: "out-safe-1", Findings: []cairn.Finding{
			{Scanner: "secrets", Type: "aws_access_key", Offset: 120, Length: 20},
			{Scanner: "pii", Type: "email", Offset: 300, Length: 17},
		}},
		Timestamp: at(90),
		State:     cairn.StateSucceeded, Action: "db.write", Resource: "orders/42", Submitted: "agent-1",
		Decisions: []*cairn.Decision{
			{DecisionID: "d1", JobID: "job-123", Phase: "submit", Decision: cairn.RequireApproval, PolicyRuleID: "prod-write-needs-approval", PolicySnapshot: cairn.Opt(snap), EvaluatedAt: at(0)},
			{DecisionID: "d2", JobID: "job-123", Phase: "dispatch", Decision: cairn.Allow, PolicyRuleID: "", Default: true, PolicySnapshot: cairn.Opt(snap), EvaluatedAt: at(65)},
		},
		Approval: &cairn.Approval{
			ApprovalID: "apr-1", JobID: "job-123", JobHash: hash, ApproverRoles: []string{"approver"},
			RequestedBy: "agent-1", RequestedAt: at(0), ExpiresAt: atP(86400),
			Status: "resolved", Resolution: "approved", ResolvedBy: "alice", ResolvedAt: atP(60),
		},
		Events: []*cairn.Event{
			{Type: "job_submitted", Timestamp: at(0), Actor: "agent-1", Ledger: &cairn.LedgerRef{Index: 11}},
			{Type: "approval_resolved", Timestamp: at(60), Actor: "alice", Ledger: &cairn.LedgerRef{Index: 14}},
		},
	}
}

func fixtureRun() (*cairn.Run, []*cairn.Event) {
	r := &cairn.Run{
		RunID: "run-7", Status: "completed", StartedBy: "agent-1", CreatedAt: at(0), UpdatedAt: at(90), CompletedAt: atP(90),
		Jobs: []*cairn.Job{
			{JobID: "job-123", WorkflowStepID: "step-2", Action: "db.write", Decision: cairn.RequireApproval, State: cairn.StateSucceeded},
			{JobID: "job-124", Action: "payments.transfer", Decision: cairn.Deny, State: cairn.StateDenied},
		},
	}
	evs := []*cairn.Event{
		{Seq: 1, Type: "run_started", Timestamp: at(0), RunID: "run-7", Actor: "agent-1", Ledger: &cairn.LedgerRef{Index: 10}},
		{Seq: 2, Type: "job_submitted", Timestamp: at(0), RunID: "run-7", JobID: "job-123", Actor: "agent-1", JobHash: hash, Ledger: &cairn.LedgerRef{Index: 11}},
		{Seq: 3, Type: "policy_decided", Timestamp: at(0), RunID: "run-7", JobID: "job-123", Actor: "system", Decision: cairn.RequireApproval, PolicyRuleID: "prod-write-needs-approval", PolicySnapshot: snap, Ledger: &cairn.LedgerRef{Index: 12}},
		{Seq: 4, Type: "approval_resolved", Timestamp: at(60), RunID: "run-7", JobID: "job-123", Actor: "alice", Resolution: "approved", ResolvedBy: "alice", Ledger: &cairn.LedgerRef{Index: 14}},
		{Seq: 5, Type: "job_completed", Timestamp: at(80), RunID: "run-7", JobID: "job-123", Actor: "worker-1", State: cairn.StateSucceeded, Ledger: &cairn.LedgerRef{Index: 16}},
		{Seq: 6, Type: "output_checked", Timestamp: at(80), RunID: "run-7", JobID: "job-123", Actor: "system",
			OutputSafety: &cairn.OutputSafety{Decision: "QUARANTINE", RuleID: "out-safe-1", Findings: []cairn.Finding{{Type: "aws_access_key", Offset: 120, Length: 20}}}, Ledger: &cairn.LedgerRef{Index: 17}},
		{Seq: 7, Type: "run_completed", Timestamp: at(90), RunID: "run-7", Actor: "system\x1b[2J"},
	}
	return r, evs
}

func fixtureSimulation() *cairn.Decision {
	return &cairn.Decision{
		Phase: "simulate", Decision: cairn.RequireApproval, PolicyRuleID: "prod-write-needs-approval",
		PolicyReason: "Production writes need manager approval", PolicySnapshot: cairn.Opt(snap),
		Approval:    &cairn.ApprovalSpec{ApproverRoles: []string{"approver", "admin"}, ExpiresIn: "24h"},
		Constraints: json.RawMessage(`{"max_rows":100}`),
		Explanation: "rule prod-write-needs-approval matched: action db.write, labels env=prod",
		RulesTried: []cairn.RuleTrace{
			{RuleID: "reads-are-fine", Matched: false, Why: "action db.write not in [db.read http.get]"},
			{RuleID: "prod-write-needs-approval", Matched: true, Why: "action db.write, labels env=prod"},
		},
	}
}
