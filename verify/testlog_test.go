package verify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
	"golang.org/x/mod/sumdb/note"
)

// testLog builds a tenant ledger the way the service does: every event is an
// Envelope whose canonical body is a leaf, the tree nodes are persisted as
// the Appender reports them, and job rows are projected from the events.
type testLog struct {
	t       testing.TB
	tenant  string
	origin  string
	signer  note.Signer
	vkey    string
	entries []bundle.Entry
	app     *tree.Appender
	nodes   *tree.MemoryNodes
	prev    string
	clock   time.Time
	// limit stops the log after that many entries (0: no limit), to build
	// a truncated copy by replaying a scenario.
	limit int

	policies  map[string]string
	workflows map[string]bundle.WorkflowText
	payloads  map[string]bundle.Payload
	jobs      map[string]*bundle.JobRow
	hashes    map[string]string // job id -> job_hash
	// approvalRequired: a job had a REQUIRE_APPROVAL decision.
	approvalRequired map[string]bool
	runSeq           map[string]int64
	active           string
}

// testSeed is the fixed log key seed of the golden bundles.
var testSeed = bytes.Repeat([]byte{0xca}, 32)

func newTestLog(t testing.TB, tenant string) *testLog {
	t.Helper()
	origin, err := tree.Origin("", tenant)
	if err != nil {
		t.Fatal(err)
	}
	k, err := tree.NewKeyFromSeed(tree.DefaultOriginPrefix, testSeed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := k.SignerFor(origin)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := k.VerifierKeyFor(origin)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{
		t: t, tenant: tenant, origin: origin, signer: s, vkey: vk,
		app: tree.NewAppender(), nodes: &tree.MemoryNodes{},
		clock:    time.Date(2026, 4, 1, 14, 0, 0, 0, time.UTC),
		policies: map[string]string{}, workflows: map[string]bundle.WorkflowText{}, payloads: map[string]bundle.Payload{},
		jobs: map[string]*bundle.JobRow{}, hashes: map[string]string{}, approvalRequired: map[string]bool{}, runSeq: map[string]int64{},
	}
}

func (l *testLog) full() bool { return l.limit > 0 && len(l.entries) >= l.limit }

// append adds an event (a cairn.Event-shaped object) and updates the job
// projection from it. It returns the entry index.
func (l *testLog) append(ev map[string]any) uint64 {
	if l.full() {
		return 0
	}
	l.clock = l.clock.Add(time.Second)
	ev["timestamp"] = l.clock.Format(time.RFC3339Nano)
	for _, k := range []string{"run_id", "workflow_step_id", "job_id"} {
		if _, ok := ev[k]; !ok {
			ev[k] = nil
		}
	}
	idx := l.app.Size()
	var runSeq int64
	if run := str(ev["run_id"]); run != "" {
		l.runSeq[run]++
		runSeq = l.runSeq[run]
	}
	body, err := ledger.EntryBody(ledger.Envelope{Tenant: l.tenant, Index: idx, PrevHash: l.prev, RunSeq: runSeq, Event: ev})
	if err != nil {
		l.t.Fatal(err)
	}
	leaf := ledger.LeafHash(body)
	nodes, err := l.app.Append(leaf)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.nodes.Put(nodes...); err != nil {
		l.t.Fatal(err)
	}
	l.prev = ledger.HashHex(leaf)
	l.entries = append(l.entries, bundle.Entry{Index: idx, LeafHash: l.prev, Body: string(body)})
	l.project(ev)
	return idx
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (l *testLog) project(ev map[string]any) {
	id := str(ev["job_id"])
	if id == "" {
		return
	}
	r := l.jobs[id]
	if r == nil {
		r = &bundle.JobRow{JobID: id}
		l.jobs[id] = r
	}
	if s := str(ev["state"]); s != "" && !strings.HasPrefix(str(ev["type"]), "run_") {
		r.State = s
	} else if s == "" && ev["type"] == "approval_requested" {
		r.State = "PENDING_APPROVAL"
	}
	data, _ := ev["data"].(map[string]any)
	switch ev["type"] {
	case "job_submitted":
		j := data["job"].(map[string]any)
		r.JobHash, r.ContextPtr, r.ContextSHA256 = str(ev["job_hash"]), str(j["context_ptr"]), str(j["context_sha256"])
	case "policy_decided":
		// As the service does: once approval was required, an ALLOW at
		// dispatch, or a REQUIRE_APPROVAL the approval satisfies, leaves the
		// approval's decision governing.
		d := str(ev["decision"])
		keep := r.Decision != "" && l.approvalRequired[id] &&
			(d == "ALLOW" || d == "ALLOW_WITH_CONSTRAINTS" || d == "REQUIRE_APPROVAL" && r.Resolution == "approved")
		if !keep {
			r.Decision, r.PolicyRuleID, r.PolicySnapshot = d, str(ev["policy_rule_id"]), str(ev["policy_snapshot"])
		}
		if d == "REQUIRE_APPROVAL" {
			l.approvalRequired[id] = true
		}
	case "approval_requested":
		r.Resolution, r.ResolvedBy = "", ""
	case "approval_resolved":
		r.Resolution, r.ResolvedBy = str(ev["resolution"]), str(ev["resolved_by"])
	case "job_completed":
		r.ResultPtr, r.ResultSHA256 = str(data["result_ptr"]), str(data["result_sha256"])
	case "output_checked":
		r.OutputSafety = ev["output_safety"].(map[string]any)["decision"].(string)
	}
}

func (l *testLog) publish(text, actor, message string) string {
	id := ledger.SnapshotID([]byte(text))
	before := l.active
	action, typ := "publish", "policy_published"
	if l.isOld(id) {
		action, typ = "rollback", "policy_rolled_back"
	}
	l.policies[id] = text
	l.active = id
	var b any
	if before != "" {
		b = before
	}
	l.append(map[string]any{
		"type": typ, "actor": actor, "policy_snapshot": id,
		"data": map[string]any{"audit": map[string]any{
			"audit_id": fmt.Sprintf("aud-%d", len(l.entries)), "action": action,
			"snapshot_before": b, "snapshot_after": id, "actor": actor, "message": message,
			"timestamp": l.clock.Add(time.Second).Format(time.RFC3339Nano),
		}},
	})
	return id
}

// isOld reports whether id was published before (a rollback target).
func (l *testLog) isOld(id string) bool {
	for _, e := range l.entries {
		if bytes.Contains([]byte(e.Body), []byte(`"snapshot_after":"`+id+`"`)) {
			return true
		}
	}
	return false
}

type jobSpec struct {
	id, run, step, action, resource, by string
	labels                              map[string]string
	tags                                []string
	input                               string
}

// submit appends job_submitted carrying the job's state after its submit
// decision (QUEUED, PENDING_APPROVAL or DENIED), as the service does, and
// starts the job's run when it is new.
func (l *testLog) submit(j jobSpec, state string) string {
	input := []byte(j.input)
	ctx := "ctx:" + j.id
	sum := ledger.SHA256Hex(input)
	hash, err := ledger.JobHash(ledger.JobHashInput{
		Tenant: l.tenant, JobID: j.id, RunID: j.run, WorkflowStepID: j.step, Action: j.action,
		Resource: j.resource, Labels: j.labels, RiskTags: j.tags, Input: input, SubmittedBy: j.by,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	if l.full() {
		return hash
	}
	l.payloads[ctx] = bundle.Payload{Ptr: ctx, SHA256: sum, Data: input}
	l.hashes[j.id] = hash
	if j.run != "" && l.runSeq[j.run] == 0 {
		// The service's run_started names the job that started the run and
		// carries the run's state.
		l.append(map[string]any{"type": "run_started", "run_id": j.run, "job_id": j.id, "actor": j.by, "state": "running"})
	}
	labels := map[string]string{}
	for k, v := range j.labels {
		labels[k] = v
	}
	tags := append([]string{}, j.tags...)
	sort.Strings(tags)
	nul := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	l.append(map[string]any{
		"type": "job_submitted", "run_id": nul(j.run), "workflow_step_id": nul(j.step), "job_id": j.id,
		"actor": j.by, "job_hash": hash, "state": state,
		"data": map[string]any{"job": map[string]any{
			"tenant": l.tenant, "job_id": j.id, "run_id": nul(j.run), "workflow_step_id": nul(j.step),
			"action": j.action, "resource": nul(j.resource), "labels": labels, "risk_tags": tags,
			"submitted_by": j.by, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
			"context_ptr": ctx, "context_sha256": sum,
		}},
	})
	return hash
}

func (l *testLog) decide(jobID, phase, decision, rule string) {
	ev := map[string]any{
		"type": "policy_decided", "job_id": jobID, "actor": "cairn", "decision": decision,
		"policy_rule_id": rule, "policy_snapshot": l.active, "job_hash": l.hashes[jobID],
		"data": map[string]any{"decision": map[string]any{
			"decision_id": fmt.Sprintf("dec-%s-%s", jobID, phase), "job_id": jobID, "phase": phase,
			"decision": decision, "policy_rule_id": rule, "policy_reason": "rule " + rule + " matched",
			"policy_snapshot": l.active, "job_hash": l.hashes[jobID], "constraints": nil,
			"default_rule": false, "explanation": "first matching rule decides",
			"rules_tried":  []map[string]any{{"rule_id": rule, "matched": true, "why": "action and labels match"}},
			"evaluated_at": l.clock.Add(time.Second).Format(time.RFC3339Nano),
		}},
	}
	l.append(ev)
}

func (l *testLog) requestApproval(jobID, rule string) {
	l.append(map[string]any{
		"type": "approval_requested", "job_id": jobID, "actor": "cairn", "decision": "REQUIRE_APPROVAL",
		"policy_rule_id": rule, "policy_snapshot": l.active, "job_hash": l.hashes[jobID],
		"data": map[string]any{"approval": map[string]any{
			"approval_id": "apr-" + jobID, "job_id": jobID, "job_hash": l.hashes[jobID],
			"policy_snapshot": l.active, "approver_roles": []string{"approver"}, "status": "pending",
		}},
	})
}

func (l *testLog) resolve(jobID, resolution, by, comment, state string) {
	l.append(map[string]any{
		"type": "approval_resolved", "job_id": jobID, "actor": by, "resolution": resolution,
		"resolved_by": by, "state": state, "job_hash": l.hashes[jobID],
		"data": map[string]any{"approval_id": "apr-" + jobID, "comment": comment},
	})
}

func (l *testLog) dispatch(jobID, worker string) {
	l.append(map[string]any{
		"type": "job_dispatched", "job_id": jobID, "actor": worker, "state": "RUNNING",
		"job_hash": l.hashes[jobID],
		"data":     map[string]any{"lease_id": "lease-" + jobID, "attempt": 1},
	})
}

func (l *testLog) complete(jobID, worker, state, result string) {
	ptr := "res:" + jobID
	sum := ledger.SHA256Hex([]byte(result))
	if !l.full() {
		l.payloads[ptr] = bundle.Payload{Ptr: ptr, SHA256: sum, Data: []byte(result)}
	}
	l.append(map[string]any{
		"type": "job_completed", "job_id": jobID, "actor": worker, "state": state,
		"data": map[string]any{"result_ptr": ptr, "result_sha256": sum},
	})
}

func (l *testLog) outputChecked(jobID, decision, rule string) {
	var findings []map[string]any
	if decision != "ALLOW" {
		findings = []map[string]any{{"scanner": "secrets", "type": "aws_access_key", "rule_id": rule, "offset": 12, "length": 20, "hash": "9f2c1e0a"}}
	}
	var r any
	if rule != "" {
		r = rule
	}
	l.append(map[string]any{
		"type": "output_checked", "job_id": jobID, "actor": "cairn",
		"output_safety": map[string]any{"decision": decision, "rule_id": r, "findings": findings},
	})
}

func (l *testLog) checkpoint() []byte {
	msg, err := tree.SignCheckpoint(l.origin, l.app.Size(), l.app.Root(), l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	return msg
}

// bundle exports the entries selected by keep (nil: all), with the policies,
// payloads and job rows they refer to.
func (l *testLog) bundle(keep func(bundle.Entry) bool, consistencyFrom ...uint64) *bundle.Bundle {
	var es []bundle.Entry
	for _, e := range l.entries {
		if keep == nil || keep(e) {
			es = append(es, e)
		}
	}
	refs, err := bundle.CollectRefs(es)
	if err != nil {
		l.t.Fatal(err)
	}
	var pols []bundle.Policy
	for _, id := range refs.Snapshots {
		pols = append(pols, bundle.Policy{Snapshot: id, Text: l.policies[id]})
	}
	var wfs []bundle.WorkflowText
	for _, id := range refs.Workflows {
		if w, ok := l.workflows[id]; ok {
			wfs = append(wfs, w)
		}
	}
	var pays []bundle.Payload
	for _, ptr := range refs.Payloads {
		if p, ok := l.payloads[ptr]; ok {
			pays = append(pays, p)
		}
	}
	var rows []bundle.JobRow
	for _, id := range refs.Jobs {
		rows = append(rows, *l.jobs[id])
	}
	b, err := bundle.BuildBundle(bundle.BundleInput{
		Tenant: l.tenant, PublicKey: l.vkey, Checkpoint: l.checkpoint(), Nodes: l.nodes,
		Entries: es, ConsistencyFrom: consistencyFrom, Policies: pols, Workflows: wfs, Payloads: pays, Jobs: rows,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

const policyV1 = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write", "db.delete"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver], expires_in: 24h}
  - id: reads-are-fine
    match: {actions: ["db.read", "http.get"]}
    decision: ALLOW
    reason: Read-only actions
output_rules:
  - id: out-safe-1
    scanners: [secrets]
    decision: QUARANTINE
`

const policyV2 = policyV1 + `  - id: pii-redact
    scanners: [pii]
    decision: REDACT
  # transfers
`

// scenario is the golden ledger, with events shaped as the service writes
// them: two policy versions and a rollback; an allowed read; a production
// write approved by approver (alice unless given) and re-decided
// REQUIRE_APPROVAL at dispatch (the approval governs); a denied transfer; a
// rejected delete; and a write approved before the policy changed, so that
// its dispatch decision is ALLOW but the approval's decision still governs.
func scenario(l *testLog, approver string) {
	if approver == "" {
		approver = "alice"
	}
	l.publish(policyV1, "admin", "initial policy")

	l.submit(jobSpec{id: "j1", run: "run-1", step: "fetch", action: "db.read", resource: "db://orders",
		by: "agent-7", labels: map[string]string{"env": "prod"}, input: `{"query":"select * from orders where id < 10"}`}, "QUEUED")
	l.decide("j1", "submit", "ALLOW", "reads-are-fine")
	l.decide("j1", "dispatch", "ALLOW", "reads-are-fine")
	l.dispatch("j1", "worker-1")
	l.complete("j1", "worker-1", "SUCCEEDED", `{"rows":9}`)
	l.outputChecked("j1", "ALLOW", "")

	l.submit(jobSpec{id: "j2", run: "run-1", step: "write", action: "db.write", resource: "db://orders",
		by: "agent-7", labels: map[string]string{"env": "prod", "team": "payments"}, tags: []string{"pii", "financial"},
		input: `{"sql":"update orders set status = 'shipped' where id = 7","dry_run":false,"note":"<script>&</script>"}`}, "PENDING_APPROVAL")
	l.decide("j2", "submit", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.requestApproval("j2", "prod-write-needs-approval")
	l.resolve("j2", "approved", approver, "looks right — ship it", "QUEUED")
	l.decide("j2", "dispatch", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.dispatch("j2", "worker-2")
	l.complete("j2", "worker-2", "SUCCEEDED", `{"updated":1,"token":"AKIAIOSFODNN7EXAMPLE"}`)
	l.outputChecked("j2", "QUARANTINE", "out-safe-1")

	l.submit(jobSpec{id: "j6", run: "run-1", step: "archive", action: "db.write", resource: "db://archive",
		by: "agent-7", labels: map[string]string{"env": "prod"}, input: `{"sql":"insert into archive select * from orders"}`}, "PENDING_APPROVAL")
	l.decide("j6", "submit", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.requestApproval("j6", "prod-write-needs-approval")
	l.resolve("j6", "approved", "carol", "", "QUEUED")

	l.publish(policyV2, "admin", "redact PII")
	l.decide("j6", "dispatch", "ALLOW", "reads-are-fine")
	l.dispatch("j6", "worker-1")
	l.complete("j6", "worker-1", "FAILED", `{"error":"archive table locked"}`)

	l.submit(jobSpec{id: "j3", action: "payments.transfer", by: "agent-9", input: `{"amount":25000,"to":"acct-1"}`}, "DENIED")
	l.decide("j3", "submit", "DENY", "")

	l.submit(jobSpec{id: "j4", run: "run-1", step: "cleanup", action: "db.delete", resource: "db://orders",
		by: "agent-7", labels: map[string]string{"env": "prod"}, input: `{"where":"status = 'test'"}`}, "PENDING_APPROVAL")
	l.decide("j4", "submit", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.requestApproval("j4", "prod-write-needs-approval")
	l.resolve("j4", "rejected", "bob", "not during business hours", "DENIED")

	l.publish(policyV1, "admin", "roll back: v2 redacts too much")
	l.append(map[string]any{"type": "run_completed", "run_id": "run-1", "actor": "cairn", "state": "completed",
		"data": map[string]any{"jobs_by_state": map[string]int{"SUCCEEDED": 2, "FAILED": 1, "DENIED": 1}}})
}

// bigLog returns a log of about n entries of realistic size.
func bigLog(t testing.TB, n int) *testLog {
	l := newTestLog(t, "default")
	l.publish(policyV1, "admin", "initial policy")
	for i := 0; len(l.entries) < n; i++ {
		id := fmt.Sprintf("job-%07d", i)
		run := fmt.Sprintf("run-%05d", i/50)
		l.submit(jobSpec{id: id, run: run, step: "step-" + id[len(id)-2:], action: "db.read", resource: "db://orders/" + id,
			by: "agent-7", labels: map[string]string{"env": "prod", "team": "checkout"}, tags: []string{"read"},
			input: fmt.Sprintf(`{"query":"select * from orders where customer = %d","limit":100}`, i)}, "QUEUED")
		l.decide(id, "submit", "ALLOW", "reads-are-fine")
		l.dispatch(id, "worker-1")
		l.complete(id, "worker-1", "SUCCEEDED", fmt.Sprintf(`{"rows":%d}`, i%100))
		l.outputChecked(id, "ALLOW", "")
	}
	return l
}

func mustJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
