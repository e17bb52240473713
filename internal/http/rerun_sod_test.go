package http_test

import (
	"testing"

	"github.com/cairnhq/cairn"
)

// rerunPolicy allows tools only to alice: a rerun judged as the admin who
// asked for it would be denied.
const rerunPolicy = `default: deny
rules:
  - id: alice-tools
    match: {actions: ["tool.*"], principal: {ids: ["alice"]}}
    decision: ALLOW
    reason: alice runs tools
  - id: alice-ships-with-approval
    match: {actions: ["deploy.*"], principal: {ids: ["alice"]}}
    decision: REQUIRE_APPROVAL
    reason: deploys need an approver
    approval: {approver_roles: [approver]}
`

// TestRerunKeepsSeparationOfDuties: after an admin reruns alice's run, alice
// (and the admin) still cannot vote on its gates or approve its jobs, and
// its jobs are judged by policy as alice's (issue 11 §3.7).
func TestRerunKeepsSeparationOfDuties(t *testing.T) {
	e := newEnv(t)
	e.publish(rerunPolicy)
	e.Key("alice", "human", "agent", "approver")
	e.Key("manager-3", "human", "approver")
	w := e.register(`name: gated-apply
steps:
  - id: apply
    action: tool.apply
    gate: {approver_roles: [approver], quorum: 1}
  - id: ship
    action: deploy.ship
    depends_on: [apply]
`)
	r := e.startRun("alice", "run-a", w.WorkflowID, nil)
	g := r.Step("apply").Gate
	e.ErrCode("alice", "POST", "/api/v1/workflow-runs/run-a/steps/apply/approve", cairn.GateVoteRequest{JobHash: g.JobHash}, 403, cairn.CodeSelfApprovalForbidden)
	e.MustDo("manager-2", "POST", "/api/v1/workflow-runs/run-a/steps/apply/reject", cairn.GateVoteRequest{JobHash: g.JobHash, Comment: "not yet"}, 200, &r)
	if r.Status != cairn.RunFailed {
		t.Fatalf("run-a %s", r.Status)
	}

	// The admin reruns alice's run.
	var r2 cairn.Run
	e.MustDo("admin", "POST", "/api/v1/workflow-runs/run-a/rerun", cairn.RerunRequest{RunID: "run-b"}, 201, &r2)
	if r2.StartedBy != "alice" || r2.RerunBy != "admin" || r2.RerunOf != "run-a" {
		t.Fatalf("rerun started_by %q rerun_by %q rerun_of %q; want alice, admin, run-a", r2.StartedBy, r2.RerunBy, r2.RerunOf)
	}
	if tl := e.timeline("run-b"); tl[0].Type != cairn.EventRunStarted || tl[0].Actor != "admin" || tl[0].DataMap()["started_by"] != "alice" || tl[0].DataMap()["rerun_by"] != "admin" {
		t.Fatalf("run_started = %+v", tl[0])
	}
	g = r2.Step("apply").Gate
	vote := cairn.GateVoteRequest{JobHash: g.JobHash, Comment: "ok"}
	// Neither the original starter nor the admin who reran may vote.
	e.ErrCode("alice", "POST", "/api/v1/workflow-runs/run-b/steps/apply/approve", vote, 403, cairn.CodeSelfApprovalForbidden)
	e.ErrCode("admin", "POST", "/api/v1/workflow-runs/run-b/steps/apply/approve", vote, 403, cairn.CodeSelfApprovalForbidden)
	e.MustDo("manager-3", "POST", "/api/v1/workflow-runs/run-b/steps/apply/approve", vote, 200, &r2)

	// The released job is alice's, decided as alice (the admin is denied by this policy).
	j := e.job(r2.Step("apply").JobID)
	if j.SubmittedBy != "alice" || j.Decision != cairn.Allow || j.PolicyRuleID != "alice-tools" {
		t.Fatalf("rerun job submitted_by %q decision %s rule %q; want alice, ALLOW, alice-tools", j.SubmittedBy, j.Decision, j.PolicyRuleID)
	}
	e.work(succeed("applied"), "tool.apply")

	// ship needs a policy approval: neither alice nor the admin may give it.
	ship := e.job("run-b.ship.1")
	if ship.State != cairn.StatePendingApproval || ship.SubmittedBy != "alice" {
		t.Fatalf("ship %s by %q", ship.State, ship.SubmittedBy)
	}
	e.ErrCode("alice", "POST", "/api/v1/approvals/run-b.ship.1/approve", cairn.ResolveRequest{JobHash: ship.JobHash}, 403, cairn.CodeSelfApprovalForbidden)
	e.ErrCode("admin", "POST", "/api/v1/approvals/run-b.ship.1/approve", cairn.ResolveRequest{JobHash: ship.JobHash}, 403, cairn.CodeSelfApprovalForbidden)
	e.MustDo("manager-2", "POST", "/api/v1/approvals/run-b.ship.1/reject", cairn.ResolveRequest{JobHash: ship.JobHash, Comment: "no"}, 200, nil)
	e.WaitRun("run-b", cairn.RunFailed)

	// alice reruns the admin's rerun: every earlier starter stays excluded.
	var r3 cairn.Run
	e.MustDo("alice", "POST", "/api/v1/workflow-runs/run-b/rerun", cairn.RerunRequest{RunID: "run-c", FromStep: "apply"}, 201, &r3)
	if r3.StartedBy != "alice" || r3.RerunBy != "alice" {
		t.Fatalf("second rerun started_by %q rerun_by %q", r3.StartedBy, r3.RerunBy)
	}
	g = r3.Step("apply").Gate
	vote.JobHash = g.JobHash
	e.ErrCode("admin", "POST", "/api/v1/workflow-runs/run-c/steps/apply/approve", vote, 403, cairn.CodeSelfApprovalForbidden)
	e.ErrCode("alice", "POST", "/api/v1/workflow-runs/run-c/steps/apply/approve", vote, 403, cairn.CodeSelfApprovalForbidden)
	// A replay of the admin's rerun is still the same run (idempotent on run_id).
	e.MustDo("admin", "POST", "/api/v1/workflow-runs/run-a/rerun", cairn.RerunRequest{RunID: "run-b"}, 200, nil)
	e.ErrCode("alice", "POST", "/api/v1/workflow-runs/run-a/rerun", cairn.RerunRequest{RunID: "run-b"}, 409, cairn.CodeRunConflict)
	e.verifyLedger()
}
