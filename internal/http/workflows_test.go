package http_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

func (e *env) register(def string) *cairn.Workflow {
	e.T.Helper()
	var w cairn.Workflow
	e.MustDo("polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: def}, 201, &w)
	return &w
}

func (e *env) startRun(as, runID, workflowID string, input any) *cairn.Run {
	e.T.Helper()
	raw, _ := json.Marshal(input)
	var r cairn.Run
	e.MustDo(as, "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: workflowID, RunID: runID, Input: raw}, 201, &r)
	return &r
}

// work leases the queued jobs of actions and completes each with result(job).
func (e *env) work(result func(*cairn.LeasedJob) (string, any), actions ...string) []*cairn.LeasedJob {
	e.T.Helper()
	jobs := e.Lease(actions...)
	for _, j := range jobs {
		status, res := result(j)
		raw, _ := json.Marshal(res)
		e.MustDo("worker-1", "POST", "/api/v1/jobs/"+url.PathEscape(j.JobID)+"/complete",
			cairn.CompleteRequest{LeaseID: j.LeaseID, Status: status, Result: raw}, 200, nil)
	}
	return jobs
}

func succeed(res any) func(*cairn.LeasedJob) (string, any) {
	return func(*cairn.LeasedJob) (string, any) { return "succeeded", res }
}

// verifyLedger checks the tenant's whole ledger against its projections.
func (e *env) verifyLedger() {
	e.T.Helper()
	var rep struct {
		OK       bool            `json:"ok"`
		Problems json.RawMessage `json:"problems"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/verify", nil, 200, &rep)
	if !rep.OK {
		e.T.Fatalf("ledger does not verify: %s", rep.Problems)
	}
}

func stepStatuses(r *cairn.Run) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, st.StepID+"="+st.Status)
	}
	return strings.Join(s, " ")
}

const linearWorkflow = `name: refund
description: look up, transfer, notify
steps:
  - id: lookup
    action: tool.lookup
    input: {order: "${{ input.order }}"}
  - id: transfer
    action: payments.transfer
    depends_on: [lookup]
    input:
      amount: "${{ steps.lookup.result.amount }}"
      memo: "refund ${{ input.order }}"
  - id: notify
    action: tool.notify
    depends_on: [transfer]
`

func TestWorkflowRegister(t *testing.T) {
	e := newEnv(t)
	w := e.register(linearWorkflow)
	if !strings.HasPrefix(w.WorkflowID, "wf:default:refund#sha256:") || w.Version != 1 || strings.Join(w.Steps, ",") != "lookup,transfer,notify" {
		t.Fatalf("workflow = %+v", w)
	}
	// The same bytes again: the same workflow, 200.
	var again cairn.Workflow
	e.MustDo("polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: linearWorkflow}, 200, &again)
	if again.WorkflowID != w.WorkflowID || again.Version != 1 {
		t.Fatalf("replay = %+v", again)
	}
	w2 := e.register(linearWorkflow + "    description: changed\n")
	if w2.Version != 2 || w2.WorkflowID == w.WorkflowID {
		t.Fatalf("second version = %+v", w2)
	}
	var got cairn.Workflow
	e.MustDo("agent-1", "GET", "/api/v1/workflows/"+url.PathEscape(w.WorkflowID), nil, 200, &got)
	if got.Definition != linearWorkflow {
		t.Fatalf("definition not stored verbatim")
	}
	e.MustDo("agent-1", "GET", "/api/v1/workflows/refund", nil, 200, &got)
	if got.WorkflowID != w2.WorkflowID {
		t.Fatalf("by name = %s, want the latest %s", got.WorkflowID, w2.WorkflowID)
	}
	var l cairn.List[*cairn.Workflow]
	e.MustDo("auditor-1", "GET", "/api/v1/workflows?name=refund&limit=1", nil, 200, &l)
	if len(l.Items) != 1 || l.Items[0].Version != 2 || l.NextCursor == nil {
		t.Fatalf("list = %+v", l)
	}
	e.ErrCode("agent-1", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: linearWorkflow}, 403, cairn.EForbidden)
	e.ErrCode("agent-1", "GET", "/api/v1/workflows/nope", nil, 404, cairn.ENotFound)

	// Invalid definitions: 422 naming the field and line; a cycle is named.
	status, raw := e.Do("polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: `name: loop
steps:
  - id: a
    action: tool.a
    depends_on: [c]
  - id: b
    action: tool.b
    depends_on: [a]
  - id: c
    action: tool.c
    depends_on: [b]
`})
	if status != 422 || !strings.Contains(string(raw), `"workflow_invalid"`) || !strings.Contains(string(raw), "cycle") ||
		!strings.Contains(string(raw), "->") || !strings.Contains(string(raw), `"line"`) {
		t.Fatalf("cycle: %d %s", status, raw)
	}
	e.ErrCode("polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: "name: x\nsteps: []\n"}, 422, cairn.CodeWorkflowInvalid)
	e.ErrCode("polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{}, 400, cairn.EInvalid)
	// Registration is evidence: the ledger has it.
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	n := 0
	for _, le := range entries.Items {
		if strings.Contains(string(le.Body), cairn.EventWorkflowRegistered) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d workflow_registered ledger entries, want 2", n)
	}
	e.verifyLedger()
}

func TestWorkflowLinearRun(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register(linearWorkflow)
	r := e.startRun("agent-1", "run-lin", w.WorkflowID, map[string]any{"order": "o-17"})
	if r.Status != cairn.RunRunning || stepStatuses(r) != "lookup=running transfer=pending notify=pending" {
		t.Fatalf("started: %s %s", r.Status, stepStatuses(r))
	}
	// Idempotent on run_id.
	raw, _ := json.Marshal(map[string]any{"order": "o-17"})
	e.MustDo("agent-1", "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: "run-lin", Input: raw}, 200, nil)
	e.ErrCode("agent-1", "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: "run-lin", Input: json.RawMessage(`{"order":"other"}`)}, 409, cairn.CodeRunConflict)
	// A workflow run takes no hand-submitted jobs.
	e.ErrCode("agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{RunID: "run-lin", Action: "tool.x"}, 409, cairn.CodeWorkflowRun)

	leased := e.work(succeed(map[string]any{"amount": 250}), "tool.lookup")
	if len(leased) != 1 || leased[0].JobID != "run-lin.lookup.1" || leased[0].WorkflowStepID != "lookup" || string(leased[0].Input) != `{"order":"o-17"}` {
		t.Fatalf("lookup job = %+v", leased)
	}
	leased = e.work(succeed("ok"), "payments.transfer")
	if len(leased) != 1 {
		t.Fatalf("transfer not queued: %s", stepStatuses(e.Run("run-lin")))
	}
	var in map[string]any
	json.Unmarshal(leased[0].Input, &in)
	if in["amount"] != float64(250) || in["memo"] != "refund o-17" {
		t.Fatalf("templated input = %s", leased[0].Input)
	}
	// The transfer passed the same policy gate as any job.
	if j := e.job(leased[0].JobID); j.PolicyRuleID != "small-transfers" || j.SubmittedBy != "agent-1" {
		t.Fatalf("transfer job decided by %q, submitted by %q", j.PolicyRuleID, j.SubmittedBy)
	}
	e.work(succeed("sent"), "tool.notify")
	r = e.Run("run-lin")
	if r.Status != cairn.RunSucceeded || stepStatuses(r) != "lookup=succeeded transfer=succeeded notify=succeeded" || r.CompletedAt == nil {
		t.Fatalf("finished: %s %s", r.Status, stepStatuses(r))
	}
	if len(r.Jobs) != 3 {
		t.Fatalf("run lists %d jobs", len(r.Jobs))
	}
	tl := e.timeline("run-lin")
	for i, ev := range tl {
		if ev.Seq != int64(i+1) {
			t.Fatalf("timeline seq %d at %d", ev.Seq, i)
		}
	}
	got := types(tl)
	for _, want := range []string{"run_started,step_started,job_submitted,policy_decided", "job_completed,output_checked,step_succeeded,step_started", "step_succeeded,run_completed"} {
		if !strings.Contains(got, want) {
			t.Fatalf("timeline %s lacks %s", got, want)
		}
	}
	if last := tl[len(tl)-1]; last.Type != cairn.EventRunCompleted || last.State != cairn.RunSucceeded {
		t.Fatalf("last event = %+v", last)
	}
	var l cairn.List[*cairn.Run]
	e.MustDo("agent-1", "GET", "/api/v1/workflow-runs?status=succeeded&workflow_id="+url.QueryEscape(w.WorkflowID), nil, 200, &l)
	if len(l.Items) != 1 || l.Items[0].RunID != "run-lin" {
		t.Fatalf("list runs = %+v", l.Items)
	}
	e.MustDo("agent-2", "GET", "/api/v1/workflow-runs", nil, 200, &l)
	if len(l.Items) != 0 {
		t.Fatalf("agent-2 sees another agent's runs")
	}
	e.verifyLedger()
}

func TestWorkflowGateQuorum(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Key("manager-3", "human", "approver")
	w := e.register(`name: gated
steps:
  - id: plan
    action: tool.plan
  - id: apply
    action: tool.apply
    depends_on: [plan]
    gate: {approver_roles: [approver], quorum: 2, expires_in: 1h}
    input: {plan: "${{ steps.plan.result }}"}
`)
	e.startRun("agent-1", "run-g", w.WorkflowID, nil)
	e.work(succeed("the plan"), "tool.plan")
	r := e.Run("run-g")
	st := r.Step("apply")
	if r.Status != cairn.RunWaitingApproval || st.Status != cairn.StepWaitingApproval || st.Gate == nil || st.Gate.Quorum != 2 || len(st.Gate.JobHash) != 64 {
		t.Fatalf("gate: run %s step %+v", r.Status, st)
	}
	path := "/api/v1/workflow-runs/run-g/steps/apply/"
	vote := cairn.GateVoteRequest{JobHash: st.Gate.JobHash, Comment: "ok"}
	e.Key("starter", "agent", "agent", "approver")
	raw, _ := json.Marshal(nil)
	var own cairn.Run
	e.MustDo("starter", "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: "run-own", Input: raw}, 201, &own)
	e.ErrCode("auditor-1", "POST", path+"approve", vote, 403, cairn.CodeRoleNotAllowed)
	e.ErrCode("manager-2", "POST", path+"approve", cairn.GateVoteRequest{JobHash: strings.Repeat("0", 64)}, 409, cairn.CodeJobHashMismatch)
	e.MustDo("manager-2", "POST", path+"approve", vote, 200, &r)
	if r.Status != cairn.RunWaitingApproval || len(r.Step("apply").Gate.Votes) != 1 {
		t.Fatalf("after one vote: %s %+v", r.Status, r.Step("apply").Gate)
	}
	e.MustDo("manager-2", "POST", path+"approve", vote, 200, &r) // a retry: not a second vote
	if len(r.Step("apply").Gate.Votes) != 1 {
		t.Fatalf("a retried vote counted twice")
	}
	e.ErrCode("manager-2", "POST", path+"reject", vote, 409, cairn.CodeAlreadyVoted)
	e.MustDo("manager-3", "POST", path+"approve", vote, 200, &r)
	st = r.Step("apply")
	if st.Gate.Status != cairn.GateApproved || st.Status != cairn.StepRunning || r.Status != cairn.RunRunning {
		t.Fatalf("after quorum: %s %+v", r.Status, st)
	}
	if j := e.job(st.JobID); j.JobHash != st.Gate.JobHash {
		t.Fatalf("job hash %s, gate bound %s", j.JobHash, st.Gate.JobHash)
	}
	e.ErrCode("manager-3", "POST", path+"approve", cairn.GateVoteRequest{JobHash: st.Gate.JobHash}, 200, "")
	e.work(succeed("applied"), "tool.apply")
	e.WaitRun("run-g", cairn.RunSucceeded)
	tl := types(e.timeline("run-g"))
	if !strings.Contains(tl, "gate_requested") || strings.Count(tl, "gate_voted") != 2 || !strings.Contains(tl, "gate_resolved") {
		t.Fatalf("timeline %s", tl)
	}
	// The starter of run-own cannot approve its own gate.
	e.work(succeed("p"), "tool.plan")
	own = *e.Run("run-own")
	e.ErrCode("starter", "POST", "/api/v1/workflow-runs/run-own/steps/apply/approve", cairn.GateVoteRequest{JobHash: own.Step("apply").Gate.JobHash}, 403, cairn.CodeSelfApprovalForbidden)
	// A rejection fails the step and the run.
	e.MustDo("manager-2", "POST", "/api/v1/workflow-runs/run-own/steps/apply/reject", cairn.GateVoteRequest{JobHash: own.Step("apply").Gate.JobHash, Comment: "no"}, 200, &own)
	if own.Status != cairn.RunFailed || own.Step("apply").Status != cairn.StepFailed || own.Step("apply").Gate.Status != cairn.GateRejected {
		t.Fatalf("rejected: %s %s", own.Status, stepStatuses(&own))
	}
	e.ErrCode("manager-3", "POST", "/api/v1/workflow-runs/run-own/steps/apply/approve", cairn.GateVoteRequest{JobHash: own.Step("apply").Gate.JobHash}, 409, cairn.CodeGateNotPending)
	e.verifyLedger()
}

func TestWorkflowGateExpires(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register(`name: expiring
steps:
  - id: only
    action: tool.x
    gate: {expires_in: 300ms}
`)
	r := e.startRun("agent-1", "run-exp", w.WorkflowID, nil)
	if r.Status != cairn.RunWaitingApproval {
		t.Fatalf("status %s", r.Status)
	}
	r = e.WaitRun("run-exp", cairn.RunTimedOut)
	if st := r.Step("only"); st.Status != cairn.StepTimedOut || st.Gate.Status != cairn.GateExpired {
		t.Fatalf("step %+v", st)
	}
	e.ErrCode("manager-2", "POST", "/api/v1/workflow-runs/run-exp/steps/only/approve", cairn.GateVoteRequest{JobHash: r.Step("only").Gate.JobHash}, 409, cairn.CodeApprovalExpired)
	e.verifyLedger()
}

func TestWorkflowRetryTimeoutAndFailureModes(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register(`name: modes
steps:
  - id: flaky
    action: tool.flaky
    retry: {max_attempts: 3, backoff: 50ms}
  - id: optional
    action: tool.optional
    depends_on: [flaky]
    on_failure: continue
  - id: skipped
    action: tool.never
    depends_on: [flaky]
    condition: 'steps.flaky.result.ok == false'
  - id: last
    action: tool.last
    depends_on: [optional, skipped]
`)
	e.startRun("agent-1", "run-m", w.WorkflowID, nil)
	fail := func(*cairn.LeasedJob) (string, any) { return "failed", nil }
	e.work(fail, "tool.flaky")
	// The 50 ms backoff may already have elapsed when the run is read (a
	// loaded CI machine under -race): then the second attempt is running.
	// Either way the failure must have scheduled a retry.
	r := e.Run("run-m")
	switch st := r.Step("flaky"); {
	case st.Status == cairn.StepRetryWait && st.Attempts == 1 && st.NextAt != nil:
	case st.Status == cairn.StepRunning && st.Attempts == 2:
	default:
		t.Fatalf("after a failure: %+v", st)
	}
	if tl := types(e.timeline("run-m")); strings.Count(tl, "step_retry_scheduled") != 1 {
		t.Fatalf("after a failure, timeline %s", tl)
	}
	waitStep := func(step, status string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if e.Run("run-m").Step(step).Status == status {
				return
			}
		}
		t.Fatalf("step %s never %s: %s", step, status, stepStatuses(e.Run("run-m")))
	}
	waitStep("flaky", cairn.StepRunning)
	e.work(fail, "tool.flaky")
	waitStep("flaky", cairn.StepRunning)
	jobs := e.work(succeed(map[string]any{"ok": true}), "tool.flaky")
	if len(jobs) != 1 || jobs[0].JobID != "run-m.flaky.3" {
		t.Fatalf("third attempt = %+v", jobs)
	}
	e.work(fail, "tool.optional") // on_failure: continue
	r = e.Run("run-m")
	if r.Step("optional").Status != cairn.StepFailed || !r.Step("optional").Continued || r.Step("skipped").Status != cairn.StepSkipped {
		t.Fatalf("modes: %s", stepStatuses(r))
	}
	e.work(succeed("done"), "tool.last")
	r = e.WaitRun("run-m", cairn.RunSucceeded)
	if got := r.Step("flaky").Jobs; strings.Join(got, ",") != "run-m.flaky.1,run-m.flaky.2,run-m.flaky.3" {
		t.Fatalf("attempt jobs = %v", got)
	}
	tl := types(e.timeline("run-m"))
	if strings.Count(tl, "step_retry_scheduled") != 2 || !strings.Contains(tl, "step_skipped") || !strings.Contains(tl, "step_failed") {
		t.Fatalf("timeline %s", tl)
	}

	// A step attempt that outlives its timeout is cancelled; the run times out.
	w = e.register(`name: slow
steps:
  - id: slow
    action: tool.slow
    timeout: 300ms
`)
	e.startRun("agent-1", "run-slow", w.WorkflowID, nil)
	leased := e.Lease("tool.slow")
	e.WaitRun("run-slow", cairn.RunTimedOut)
	if j := e.job(leased[0].JobID); j.State != cairn.StateCancelled {
		t.Fatalf("timed-out job is %s", j.State)
	}
	e.ErrCode("worker-1", "POST", "/api/v1/jobs/"+leased[0].JobID+"/complete", cairn.CompleteRequest{LeaseID: leased[0].LeaseID, Status: "succeeded"}, 409, cairn.CodeLeaseInvalid)

	// Compensation: the failing step's compensating action runs, then the run fails.
	w = e.register(`name: saga
steps:
  - id: charge
    action: tool.charge
  - id: ship
    action: tool.ship
    depends_on: [charge]
    on_failure:
      compensate: {action: tool.refund, input: {charge: "${{ steps.charge.result.id }}", why: "${{ steps.ship.error }}"}}
`)
	e.startRun("agent-1", "run-saga", w.WorkflowID, nil)
	e.work(succeed(map[string]any{"id": "ch_1"}), "tool.charge")
	e.work(func(*cairn.LeasedJob) (string, any) { return "failed", nil }, "tool.ship")
	r = e.Run("run-saga")
	if r.Status != cairn.RunRunning || r.Step("ship").Status != cairn.StepCompensating {
		t.Fatalf("compensating: %s %s", r.Status, stepStatuses(r))
	}
	comp := e.work(succeed("refunded"), "tool.refund")
	if len(comp) != 1 || !strings.Contains(string(comp[0].Input), `"charge":"ch_1"`) {
		t.Fatalf("compensation job = %+v", comp)
	}
	r = e.Run("run-saga")
	if r.Status != cairn.RunFailed || r.Step("ship").CompensationJobID != comp[0].JobID || !strings.Contains(r.Reason, "compensation") {
		t.Fatalf("saga: %s %q %+v", r.Status, r.Reason, r.Step("ship"))
	}

	// A compensation nobody completes runs out of the step's timeout: its
	// job is cancelled and the run fails, without a run timeout.
	w = e.register(`name: stuck-saga
steps:
  - id: ship
    action: tool.ship
    timeout: 400ms
    on_failure:
      compensate: {action: tool.refund}
`)
	e.startRun("agent-1", "run-stuck", w.WorkflowID, nil)
	e.work(func(*cairn.LeasedJob) (string, any) { return "failed", nil }, "tool.ship")
	stuck := e.Lease("tool.refund")
	if len(stuck) != 1 {
		t.Fatalf("compensation lease = %+v", stuck)
	}
	r = e.WaitRun("run-stuck", cairn.RunFailed)
	if st := r.Step("ship"); st.Status != cairn.StepFailed || !strings.Contains(r.Reason, "compensation job "+stuck[0].JobID+" timed out") {
		t.Fatalf("stuck saga: %q %+v", r.Reason, st)
	}
	if j := e.job(stuck[0].JobID); j.State != cairn.StateCancelled {
		t.Fatalf("timed-out compensation job is %s", j.State)
	}
	e.ErrCode("worker-1", "POST", "/api/v1/jobs/"+stuck[0].JobID+"/complete", cairn.CompleteRequest{LeaseID: stuck[0].LeaseID, Status: "succeeded"}, 409, cairn.CodeLeaseInvalid)
	if tl := types(e.timeline("run-stuck")); !strings.Contains(tl, "compensation_started") || !strings.Contains(tl, "run_completed") {
		t.Fatalf("timeline %s", tl)
	}
	e.verifyLedger()
}

func TestWorkflowPolicyStillDecides(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register(`name: risky
steps:
  - id: write
    action: db.write
    labels: {env: prod}
  - id: pay
    action: payments.transfer
    depends_on: [write]
    input: {amount: "${{ input.amount }}"}
`)
	r := e.startRun("agent-1", "run-pol", w.WorkflowID, map[string]any{"amount": 50000})
	if r.Status != cairn.RunWaitingApproval {
		t.Fatalf("policy approval: run %s", r.Status)
	}
	j := e.job("run-pol.write.1")
	e.ErrCode("agent-1", "POST", "/api/v1/approvals/run-pol.write.1/approve", cairn.ResolveRequest{JobHash: j.JobHash}, 403, cairn.CodeRoleNotAllowed)
	e.MustDo("manager-2", "POST", "/api/v1/approvals/run-pol.write.1/approve", cairn.ResolveRequest{JobHash: j.JobHash}, 200, nil)
	if r = e.Run("run-pol"); r.Status != cairn.RunRunning {
		t.Fatalf("after approval: %s", r.Status)
	}
	e.work(succeed("written"), "db.write")
	// The transfer is over 10k: policy denies it, the step and run fail.
	r = e.Run("run-pol")
	if r.Status != cairn.RunFailed || r.Step("pay").Status != cairn.StepFailed || !strings.Contains(r.Step("pay").Error, "big-transfers") {
		t.Fatalf("denied step: %s %q %+v", r.Status, r.Reason, r.Step("pay"))
	}
	if j := e.job("run-pol.pay.1"); j.State != cairn.StateDenied {
		t.Fatalf("pay job %s", j.State)
	}

	// Rerun from the failed step with the same input fails the same way, but
	// reuses the write (no new approval needed).
	var rr cairn.Run
	e.MustDo("agent-1", "POST", "/api/v1/workflow-runs/run-pol/rerun", cairn.RerunRequest{RunID: "run-pol-2"}, 201, &rr)
	if rr.RerunOf != "run-pol" || rr.RerunFrom != "pay" || rr.Step("write").FromRun != "run-pol" || rr.Step("write").Status != cairn.StepSucceeded {
		t.Fatalf("rerun = %+v %s", rr, stepStatuses(&rr))
	}
	if rr.Status != cairn.RunFailed || rr.Step("pay").JobID != "run-pol-2.pay.1" {
		t.Fatalf("rerun result %s %s", rr.Status, stepStatuses(&rr))
	}
	e.ErrCode("agent-2", "POST", "/api/v1/workflow-runs/run-pol/rerun", cairn.RerunRequest{}, 404, cairn.ENotFound)
	e.ErrCode("agent-1", "POST", "/api/v1/workflow-runs/run-pol/rerun", cairn.RerunRequest{FromStep: "nope"}, 400, cairn.EInvalid)
	e.verifyLedger()
}

func TestWorkflowCancelAndQuarantine(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register(`name: two
steps:
  - id: a
    action: tool.a
  - id: b
    action: db.write
    labels: {env: prod}
`)
	e.startRun("agent-1", "run-c", w.WorkflowID, nil)
	leased := e.Lease("tool.a")
	e.ErrCode("agent-2", "POST", "/api/v1/workflow-runs/run-c/cancel", cairn.CancelRunRequest{}, 404, cairn.ENotFound)
	var r cairn.Run
	e.MustDo("agent-1", "POST", "/api/v1/workflow-runs/run-c/cancel", cairn.CancelRunRequest{Reason: "changed my mind"}, 200, &r)
	if r.Status != cairn.RunCancelled || stepStatuses(&r) != "a=cancelled b=cancelled" || !strings.Contains(r.Reason, "changed my mind") {
		t.Fatalf("cancelled: %s %s %q", r.Status, stepStatuses(&r), r.Reason)
	}
	if j := e.job(leased[0].JobID); j.State != cairn.StateCancelled {
		t.Fatalf("running job is %s", j.State)
	}
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/run-c.b.1/evidence", nil, 200, nil)
	var al cairn.List[*cairn.Approval]
	e.MustDo("auditor-1", "GET", "/api/v1/approvals?run_id=run-c", nil, 200, &al)
	if len(al.Items) != 0 {
		t.Fatalf("cancelled run leaves %d pending approvals", len(al.Items))
	}
	e.ErrCode("worker-1", "POST", "/api/v1/jobs/"+leased[0].JobID+"/complete", cairn.CompleteRequest{LeaseID: leased[0].LeaseID, Status: "succeeded"}, 409, cairn.CodeLeaseInvalid)
	e.MustDo("agent-1", "POST", "/api/v1/workflow-runs/run-c/cancel", cairn.CancelRunRequest{}, 200, nil)

	// A quarantined output never flows into later steps: the step fails.
	w = e.register(`name: leaky
steps:
  - id: fetch
    action: tool.fetch
  - id: use
    action: tool.use
    depends_on: [fetch]
    input: {data: "${{ steps.fetch.result }}"}
`)
	e.startRun("agent-1", "run-q", w.WorkflowID, nil)
	e.work(succeed(map[string]any{"key": "AKIAIOSFODNN7EXAMPLE"}), "tool.fetch")
	got := e.Run("run-q")
	if got.Status != cairn.RunFailed || !strings.Contains(got.Step("fetch").Error, "quarantined") || got.Step("use").Status != cairn.StepCancelled {
		t.Fatalf("quarantine: %s %s %q", got.Status, stepStatuses(got), got.Step("fetch").Error)
	}
	if strings.Contains(got.Reason, "AKIA") {
		t.Fatalf("the run's reason echoes the secret")
	}
	e.verifyLedger()
}
