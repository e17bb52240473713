package http_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/ledger"
)

const adminKey = "cairn_test_admin_key_0123456789"

const seedPolicy = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write", "db.delete"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver], expires_in: 24h}
  - id: quick-approval
    match: {actions: ["deploy.*"]}
    decision: REQUIRE_APPROVAL
    reason: Deploys need a quick approval
    approval: {approver_roles: [approver], expires_in: 1s}
  - id: reads-are-fine
    match: {actions: ["db.read", "http.get"]}
    decision: ALLOW
    reason: Read-only actions
  - id: big-transfers
    match: {actions: ["payments.transfer"]}
    when: 'input.amount > 10000'
    decision: DENY
    reason: Transfers over 10k are never automated
  - id: small-transfers
    match: {actions: ["payments.transfer"]}
    decision: ALLOW_WITH_CONSTRAINTS
    reason: Small transfers run with a cap
    constraints: {max_amount: 10000}
  - id: tools
    match: {actions: ["tool.*"]}
    decision: ALLOW
    reason: Tools are allowed
output_rules:
  - id: out-secrets
    actions: ["tool.*", "db.*"]
    scanners: [secrets]
    decision: QUARANTINE
  - id: out-pii
    actions: ["tool.*", "db.*"]
    scanners: [pii]
    decision: REDACT
`

type env struct{ *apitest.Env }

func newEnv(t *testing.T) *env { return newEnvTB(t) }

// newEnvB is newEnv for benchmarks.
func newEnvB(b *testing.B) *env { return newEnvTB(b) }

func getenvInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

func newEnvTB(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, apitest.Options{AdminKey: adminKey, LedgerKey: true})
}

// newEnvWith is newEnv on a server with the given options.
func newEnvWith(t testing.TB, opt apitest.Options) *env {
	t.Helper()
	e := &env{apitest.New(t, opt)}
	e.Key("agent-1", "agent", "agent")
	e.Key("agent-2", "agent", "agent")
	e.Key("manager-2", "human", "approver")
	e.Key("worker-1", "service", "worker")
	e.Key("auditor-1", "human", "auditor")
	e.Key("polly", "human", "policy_admin")
	e.Key("approver-agent", "agent", "agent", "approver")
	return e
}

func (e *env) publish(text string) string {
	e.T.Helper()
	var ch cairn.PolicyChange
	e.MustDo("polly", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: text, Message: "test"}, 201, &ch)
	return ch.PolicySnapshot
}

func (e *env) job(id string) *cairn.Job {
	e.T.Helper()
	var j cairn.Job
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+url.PathEscape(id), nil, 200, &j)
	return &j
}

func (e *env) timeline(run string) []*cairn.Event {
	e.T.Helper()
	var l cairn.List[*cairn.Event]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/"+run+"/timeline?limit=1000", nil, 200, &l)
	return l.Items
}

func types(evs []*cairn.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

func TestNoPolicyDeniesEverything(t *testing.T) {
	e := newEnv(t)
	j := e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read"})
	if j.State != cairn.StateDenied || j.Decision != cairn.Deny || !strings.Contains(j.PolicyReason, "no policy") {
		t.Fatalf("job = %s %s %q", j.State, j.Decision, j.PolicyReason)
	}
	if got := e.Lease("*"); len(got) != 0 {
		t.Fatalf("a denied job was leased: %v", got)
	}
}

// TestSeedDecisionRecord walks the seed's story: a production write needs
// approval, a manager approves it, a worker runs it, the output is released,
// and the joined decision record says exactly that.
func TestSeedDecisionRecord(t *testing.T) {
	e := newEnv(t)
	snap := e.publish(seedPolicy)
	if want := cairn.SnapshotPrefix + ledger.SHA256Hex([]byte(seedPolicy)); snap != want {
		t.Fatalf("snapshot %s, want %s", snap, want)
	}
	req := cairn.SubmitRequest{JobID: "job-123", RunID: "run-01", WorkflowStepID: "approve-change", TraceID: "trace-456",
		Action: "db.write", Resource: "orders", Labels: map[string]string{"env": "prod"}, Input: json.RawMessage(`{"sql":"UPDATE orders SET x=1"}`)}
	j := e.Submit("agent-1", req)
	if j.State != cairn.StatePendingApproval || j.Decision != cairn.RequireApproval || !j.ApprovalRequired {
		t.Fatalf("submit: %s %s", j.State, j.Decision)
	}
	wantHash, _ := ledger.JobHash(ledger.JobHashInput{Tenant: "default", JobID: "job-123", RunID: "run-01", WorkflowStepID: "approve-change",
		Action: "db.write", Resource: "orders", Labels: map[string]string{"env": "prod"}, Input: req.Input, SubmittedBy: "agent-1"})
	if j.JobHash != wantHash {
		t.Fatalf("job_hash %s, want %s", j.JobHash, wantHash)
	}
	// Idempotent replay: 200 and the same job; a changed payload is a 409.
	var again cairn.Job
	e.MustDo("agent-1", "POST", "/api/v1/jobs", req, 200, &again)
	if again.JobHash != j.JobHash || again.CreatedAt != j.CreatedAt {
		t.Fatal("replay returned a different job")
	}
	changed := req
	changed.Input = json.RawMessage(`{"sql":"DROP TABLE orders"}`)
	e.ErrCode("agent-1", "POST", "/api/v1/jobs", changed, 409, cairn.CodeJobConflict)

	// The queue shows it, pending only by default.
	var q cairn.List[*cairn.Approval]
	e.MustDo("manager-2", "GET", "/api/v1/approvals", nil, 200, &q)
	if len(q.Items) != 1 || q.Items[0].JobHash != j.JobHash || q.Items[0].PolicyRuleID != "prod-write-needs-approval" || q.Items[0].PolicySnapshot != cairn.Opt(snap) {
		t.Fatalf("queue: %+v", q.Items)
	}
	// Nothing runs before approval.
	if got := e.Lease("db.*"); len(got) != 0 {
		t.Fatal("an unapproved job was leased")
	}
	// Wrong hash, self-approval and wrong role are refused.
	e.ErrCode("manager-2", "POST", "/api/v1/approvals/job-123/approve", cairn.ResolveRequest{JobHash: strings.Repeat("0", 64)}, 409, cairn.CodeJobHashMismatch)
	e.Key("self", "agent", "agent", "approver")
	e.Submit("self", cairn.SubmitRequest{JobID: "job-self", Action: "db.write", Labels: map[string]string{"env": "prod"}})
	e.ErrCode("self", "POST", "/api/v1/approvals/job-self/approve", cairn.ResolveRequest{JobHash: e.job("job-self").JobHash}, 403, cairn.CodeSelfApprovalForbidden)
	e.ErrCode("auditor-1", "POST", "/api/v1/approvals/job-123/approve", cairn.ResolveRequest{JobHash: j.JobHash}, 403, cairn.CodeRoleNotAllowed)

	var a cairn.Approval
	e.MustDo("manager-2", "POST", "/api/v1/approvals/job-123/approve", cairn.ResolveRequest{JobHash: j.JobHash, Comment: "ticket INC-123"}, 200, &a)
	if a.Resolution != cairn.ResolutionApproved || a.ResolvedBy != "manager-2" {
		t.Fatalf("approval: %+v", a)
	}
	e.ErrCode("manager-2", "POST", "/api/v1/approvals/job-123/reject", cairn.ResolveRequest{JobHash: j.JobHash}, 409, cairn.CodeApprovalAlreadyResolved)

	leased := e.Lease("db.*")
	if len(leased) != 1 || leased[0].JobID != "job-123" || leased[0].JobHash != j.JobHash {
		t.Fatalf("lease: %+v", leased)
	}
	if string(leased[0].Input) != `{"sql":"UPDATE orders SET x=1"}` {
		t.Fatalf("input %s", leased[0].Input)
	}
	var done cairn.Job
	e.MustDo("worker-1", "POST", "/api/v1/jobs/job-123/complete", cairn.CompleteRequest{LeaseID: leased[0].LeaseID, Status: "succeeded", Result: json.RawMessage(`{"rows":1}`)}, 200, &done)
	if done.State != cairn.StateSucceeded || done.OutputSafety == nil || done.OutputSafety.Decision != cairn.OutputAllow {
		t.Fatalf("complete: %+v", done)
	}

	var rec map[string]any
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/job-123/evidence", nil, 200, &rec)
	want := map[string]any{
		"run_id": "run-01", "workflow_step_id": "approve-change", "job_id": "job-123", "trace_id": "trace-456",
		"decision": "REQUIRE_APPROVAL", "policy_rule_id": "prod-write-needs-approval",
		"policy_reason": "Production writes need manager approval", "policy_snapshot": snap, "job_hash": j.JobHash,
		"approval_required": true, "resolution": "approved", "resolved_by": "manager-2", "resolved_comment": "ticket INC-123",
		"context_ptr": "ctx:job-123", "result_ptr": "res:job-123", "state": "SUCCEEDED",
	}
	for k, v := range want {
		if fmt.Sprint(rec[k]) != fmt.Sprint(v) {
			t.Errorf("record[%s] = %v, want %v", k, rec[k], v)
		}
	}
	if os, ok := rec["output_safety"].(map[string]any); !ok || os["decision"] != "ALLOW" || os["rule_id"] != "out-secrets" {
		t.Errorf("record output_safety = %v", rec["output_safety"])
	}
	if _, ok := rec["timestamp"].(string); !ok {
		t.Error("record has no timestamp")
	}

	// Decisions: submit then dispatch, oldest first, both explained.
	var ds cairn.List[*cairn.Decision]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/job-123/decisions", nil, 200, &ds)
	if len(ds.Items) != 2 || ds.Items[0].Phase != "submit" || ds.Items[1].Phase != "dispatch" {
		t.Fatalf("decisions: %+v", ds.Items)
	}
	for _, d := range ds.Items {
		if d.Explanation == "" || len(d.RulesTried) == 0 || d.Ledger == nil || d.JobHash != j.JobHash || d.PolicySnapshot != cairn.Opt(snap) {
			t.Errorf("decision not explained or not linked: %+v", d)
		}
	}

	// Timeline: every step, seq 1..n without gaps.
	tl := e.timeline("run-01")
	wantTypes := "run_started,job_submitted,policy_decided,approval_requested,approval_resolved,policy_decided,job_dispatched,job_completed,output_checked,run_completed"
	if got := types(tl); got != wantTypes {
		t.Fatalf("timeline = %s\nwant       %s", got, wantTypes)
	}
	for i, ev := range tl {
		if ev.Seq != int64(i+1) || ev.Ledger == nil || ev.Ledger.LeafHash == "" {
			t.Fatalf("event %d: seq %d ledger %v", i, ev.Seq, ev.Ledger)
		}
	}
	// Cursor paging gives the same events.
	var page1, page2 cairn.List[*cairn.Event]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/run-01/timeline?limit=4", nil, 200, &page1)
	if page1.NextCursor == nil || len(page1.Items) != 4 {
		t.Fatal("no cursor on a full page")
	}
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/run-01/timeline?limit=4&cursor="+*page1.NextCursor, nil, 200, &page2)
	if page2.Items[0].Seq != 5 {
		t.Fatalf("second page starts at %d", page2.Items[0].Seq)
	}
	var after cairn.List[*cairn.Event]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/run-01/timeline?after=8", nil, 200, &after)
	if len(after.Items) != 2 || after.Items[0].Seq != 9 {
		t.Fatalf("after=8: %d items", len(after.Items))
	}

	// The pending queue is empty; include_resolved shows it.
	e.MustDo("manager-2", "GET", "/api/v1/approvals", nil, 200, &q)
	for _, it := range q.Items {
		if it.JobID == "job-123" {
			t.Fatal("resolved approval in the pending queue")
		}
	}
	e.MustDo("auditor-1", "GET", "/api/v1/approvals?include_resolved=true&resolved_by=manager-2", nil, 200, &q)
	if len(q.Items) != 1 || q.Items[0].Resolution != "approved" || q.Items[0].ResolvedComment != "ticket INC-123" {
		t.Fatalf("resolved queue: %+v", q.Items)
	}
	// The run is completed.
	var run cairn.Run
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/run-01", nil, 200, &run)
	if run.Status != cairn.RunCompleted || len(run.Jobs) != 1 {
		t.Fatalf("run: %+v", run)
	}
}

func TestDecisionsAndConstraints(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	big := e.Submit("agent-1", cairn.SubmitRequest{Action: "payments.transfer", Input: json.RawMessage(`{"amount":20000}`)})
	if big.State != cairn.StateDenied || big.PolicyRuleID != "big-transfers" {
		t.Fatalf("big transfer: %s %s", big.State, big.PolicyRuleID)
	}
	small := e.Submit("agent-1", cairn.SubmitRequest{Action: "payments.transfer", Input: json.RawMessage(`{"amount":5}`)})
	if small.State != cairn.StateQueued || small.Decision != cairn.AllowWithConstraints {
		t.Fatalf("small transfer: %s %s", small.State, small.Decision)
	}
	leased := e.Lease("payments.*")
	if len(leased) != 1 || !strings.Contains(string(leased[0].Constraints), "max_amount") {
		t.Fatalf("constraints not handed to the worker: %+v", leased)
	}
	other := e.Submit("agent-1", cairn.SubmitRequest{Action: "rm.rf"})
	if other.State != cairn.StateDenied || other.PolicyRuleID != "default" {
		t.Fatalf("default: %s %q", other.State, other.PolicyRuleID)
	}
}

func TestDispatchRedecidesAgainstActivePolicy(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	j := e.Submit("agent-1", cairn.SubmitRequest{Action: "http.get"})
	strict := strings.Replace(seedPolicy, `match: {actions: ["db.read", "http.get"]}
    decision: ALLOW`, `match: {actions: ["db.read", "http.get"]}
    decision: DENY`, 1)
	e.publish(strict)
	if got := e.Lease("*"); len(got) != 0 {
		t.Fatal("a job denied at dispatch was leased")
	}
	got := e.job(j.JobID)
	if got.State != cairn.StateDenied {
		t.Fatalf("state %s", got.State)
	}
	var ds cairn.List[*cairn.Decision]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+j.JobID+"/decisions", nil, 200, &ds)
	if len(ds.Items) != 2 || ds.Items[0].Decision != cairn.Allow || ds.Items[1].Decision != cairn.Deny || ds.Items[1].Phase != "dispatch" {
		t.Fatalf("decisions %+v", ds.Items)
	}
	if ds.Items[0].PolicySnapshot == ds.Items[1].PolicySnapshot {
		t.Fatal("both decisions name the same snapshot")
	}
}

func TestOutputSafety(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	secret := "AKIAIOSFODNN7EXAMPLE"
	run := func(result string) (*cairn.Job, string) {
		j := e.Submit("agent-1", cairn.SubmitRequest{Action: "tool.search"})
		l := e.Lease("tool.*")
		if len(l) != 1 {
			t.Fatalf("lease: %v", l)
		}
		var done cairn.Job
		e.MustDo("worker-1", "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: l[0].LeaseID, Status: "succeeded", Result: json.RawMessage(result)}, 200, &done)
		raw, _ := json.Marshal(done)
		return &done, string(raw)
	}
	q, raw := run(`{"out":"key ` + secret + `"}`)
	if q.OutputSafety.Decision != cairn.OutputQuarantine || len(q.OutputSafety.Findings) == 0 {
		t.Fatalf("quarantine: %+v", q.OutputSafety)
	}
	if strings.Contains(raw, secret) {
		t.Fatal("the job record echoes the secret")
	}
	e.ErrCode("agent-1", "GET", "/api/v1/jobs/"+q.JobID+"/result", nil, 403, cairn.CodeOutputQuarantined)
	status, body := e.Do("auditor-1", "GET", "/api/v1/jobs/"+q.JobID+"/result", nil)
	if status != 200 || !strings.Contains(string(body), secret) {
		t.Fatalf("auditor cannot read the quarantined result: %d", status)
	}
	var rec cairn.DecisionRecord
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+q.JobID+"/evidence", nil, 200, &rec)
	recRaw, _ := json.Marshal(rec)
	if strings.Contains(string(recRaw), secret) {
		t.Fatal("the evidence echoes the secret")
	}

	r, _ := run(`{"contact":"alice@example.com","n":1}`)
	if r.OutputSafety.Decision != cairn.OutputRedact {
		t.Fatalf("redact: %+v", r.OutputSafety)
	}
	status, body = e.Do("agent-1", "GET", "/api/v1/jobs/"+r.JobID+"/result", nil)
	if status != 200 || strings.Contains(string(body), "alice@example.com") || !json.Valid(body) {
		t.Fatalf("redacted result: %d %s", status, body)
	}
	status, body = e.Do("auditor-1", "GET", "/api/v1/jobs/"+r.JobID+"/result?original=true", nil)
	if status != 200 || !strings.Contains(string(body), "alice@example.com") {
		t.Fatalf("auditor original: %d %s", status, body)
	}
}

func TestApprovalExpiresOnTime(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	j := e.Submit("agent-1", cairn.SubmitRequest{JobID: "deploy-1", RunID: "run-exp", Action: "deploy.prod"})
	if j.State != cairn.StatePendingApproval {
		t.Fatal(j.State)
	}
	// Nobody reads it; the expiry loop must still act.
	deadline := time.Now().Add(10 * time.Second)
	var tl []*cairn.Event
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		var l cairn.List[*cairn.Event]
		e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/run-exp/timeline", nil, 200, &l)
		tl = l.Items
		if strings.Contains(types(tl), "approval_resolved") {
			break
		}
	}
	if !strings.Contains(types(tl), "approval_resolved,run_completed") {
		t.Fatalf("no expiry evidence: %s", types(tl))
	}
	if got := e.job("deploy-1"); got.State != cairn.StateExpired {
		t.Fatalf("state %s", got.State)
	}
	e.ErrCode("manager-2", "POST", "/api/v1/approvals/deploy-1/approve", cairn.ResolveRequest{JobHash: j.JobHash}, 409, cairn.CodeApprovalExpired)
	var rec cairn.DecisionRecord
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/deploy-1/evidence", nil, 200, &rec)
	if rec.Resolution != "expired" || rec.Decision != cairn.RequireApproval {
		t.Fatalf("record: %s %s", rec.Resolution, rec.Decision)
	}
}

func TestLeaseExpiryRequeues(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	j := e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read"})
	var lr cairn.LeaseResponse
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w1", Actions: []string{"db.*"}, LeaseMS: 1000}, 200, &lr)
	if len(lr.Jobs) != 1 {
		t.Fatal("not leased")
	}
	// Long-poll until the expired job comes back.
	var again cairn.LeaseResponse
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w2", Actions: []string{"db.*"}, WaitMS: 10000}, 200, &again)
	if len(again.Jobs) != 1 || again.Jobs[0].JobID != j.JobID || again.Jobs[0].Attempts != 1 {
		t.Fatalf("re-lease: %+v", again.Jobs)
	}
	// The first lease is dead.
	e.ErrCode("worker-1", "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: lr.Jobs[0].LeaseID, Status: "succeeded"}, 409, cairn.CodeLeaseInvalid)
	e.MustDo("worker-1", "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: again.Jobs[0].LeaseID, Status: "failed", Error: "boom"}, 200, nil)
	if got := e.job(j.JobID); got.State != cairn.StateFailed || got.Attempts != 1 {
		t.Fatalf("final: %s attempts %d", got.State, got.Attempts)
	}
}

func TestLongPollWakesOnSubmit(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	got := make(chan []*cairn.LeasedJob, 1)
	go func() {
		var lr cairn.LeaseResponse
		e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{Actions: []string{"db.*"}, WaitMS: 20000}, 200, &lr)
		got <- lr.Jobs
	}()
	time.Sleep(200 * time.Millisecond)
	e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read"})
	// The poll waits up to 20 s: an answer with the job before 15 s can
	// only be the submit waking it.
	select {
	case jobs := <-got:
		if len(jobs) != 1 {
			t.Fatalf("woke with %d jobs", len(jobs))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long-poll never woke")
	}
}

func TestPolicyPublishRollbackAudit(t *testing.T) {
	e := newEnv(t)
	s1 := e.publish(seedPolicy)
	s2 := e.publish("default: allow\n")
	// Publishing the active bundle again changes nothing.
	var ch cairn.PolicyChange
	e.MustDo("polly", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: "default: allow\n"}, 200, &ch)
	if ch.Changed {
		t.Fatal("republish changed the policy")
	}
	e.MustDo("polly", "POST", "/api/v1/policy/rollback", cairn.RollbackRequest{To: s1, Message: "too lax"}, 200, &ch)
	var audit cairn.List[*cairn.PolicyAudit]
	e.MustDo("auditor-1", "GET", "/api/v1/policy/audit", nil, 200, &audit)
	if len(audit.Items) != 3 || audit.Items[0].Action != "rollback" || audit.Items[0].SnapshotBefore != cairn.Opt(s2) || audit.Items[0].SnapshotAfter != s1 || audit.Items[0].Message != "too lax" {
		t.Fatalf("audit: %+v", audit.Items)
	}
	if audit.Items[2].SnapshotBefore != "" {
		t.Fatal("first publish has a before")
	}
	e.MustDo("auditor-1", "GET", "/api/v1/policy/audit?action=publish&actor=polly", nil, 200, &audit)
	if len(audit.Items) != 2 {
		t.Fatalf("filtered audit: %d", len(audit.Items))
	}
	var snap cairn.Snapshot
	e.MustDo("auditor-1", "GET", "/api/v1/policy/snapshots/"+url.PathEscape(s2), nil, 200, &snap)
	if snap.Text != "default: allow\n" {
		t.Fatalf("snapshot text %q", snap.Text)
	}
	var active cairn.ActivePolicy
	e.MustDo("auditor-1", "GET", "/api/v1/policy", nil, 200, &active)
	if string(active.PolicySnapshot) != s1 {
		t.Fatal("rollback did not activate")
	}
	// Simulate against a candidate explains the deciding rule and writes nothing.
	var d cairn.Decision
	e.MustDo("polly", "POST", "/api/v1/policy/simulate", cairn.SimulateRequest{Job: cairn.SubmitRequest{Action: "db.write", Labels: map[string]string{"env": "prod"}}}, 200, &d)
	if d.Decision != cairn.RequireApproval || d.PolicyRuleID != "prod-write-needs-approval" || d.Phase != "simulate" || d.Explanation == "" {
		t.Fatalf("simulate: %+v", d)
	}
	e.MustDo("polly", "POST", "/api/v1/policy/simulate", cairn.SimulateRequest{Job: cairn.SubmitRequest{Action: "db.write"}, Bundle: "default: allow\n"}, 200, &d)
	if d.Decision != cairn.Allow || !d.Default {
		t.Fatalf("simulate candidate: %+v", d)
	}
	var jobs cairn.List[*cairn.Job]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs", nil, 200, &jobs)
	if len(jobs.Items) != 0 {
		t.Fatal("simulate created a job")
	}
}

func TestKeysAndRoles(t *testing.T) {
	e := newEnv(t)
	var keys cairn.List[*cairn.Key]
	e.MustDo("admin", "GET", "/api/v1/keys", nil, 200, &keys)
	raw, _ := json.Marshal(keys)
	for _, k := range e.Keys {
		if strings.Contains(string(raw), k) {
			t.Fatal("key list shows a key")
		}
	}
	var agentKey string
	for _, k := range keys.Items {
		if k.Principal == "agent-2" {
			agentKey = k.KeyID
		}
	}
	var me cairn.Principal
	e.MustDo("manager-2", "GET", "/api/v1/whoami", nil, 200, &me)
	if me.ID != "manager-2" || me.Tenant != "default" || len(me.Roles) != 1 || me.Roles[0] != "approver" {
		t.Fatalf("whoami: %+v", me)
	}
	e.MustDo("admin", "DELETE", "/api/v1/keys/"+agentKey, nil, 200, nil)
	e.ErrCode("agent-2", "GET", "/api/v1/jobs", nil, 401, cairn.CodeKeyRevoked)
	e.ErrCode("agent-1", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "x", Kind: "human", Roles: []string{"admin"}}, 403, cairn.EForbidden)
	e.ErrCode("worker-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{Action: "db.read"}, 403, cairn.EForbidden)
	e.ErrCode("agent-1", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: "default: allow\n"}, 403, cairn.EForbidden)
	// Agents read their own jobs only.
	e.publish(seedPolicy)
	j := e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read"})
	e.Key("agent-3", "agent", "agent")
	e.ErrCode("agent-3", "GET", "/api/v1/jobs/"+j.JobID, nil, 404, cairn.ENotFound)
	e.MustDo("agent-1", "GET", "/api/v1/jobs/"+j.JobID, nil, 200, nil)
	var mine cairn.List[*cairn.Job]
	e.MustDo("agent-3", "GET", "/api/v1/jobs", nil, 200, &mine)
	if len(mine.Items) != 0 {
		t.Fatal("an agent sees another agent's jobs")
	}
}
