package verify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

const workflowV1 = `name: refund
description: look up, then write
steps:
  - id: lookup
    action: db.read
    input: {order: "${{ input.order }}"}
`

// workflowV2 differs from v1 only in a trailing blank line: another text,
// another id, version 2.
const workflowV2 = workflowV1 + "\n"

// registerWorkflow appends workflow_registered as service.RegisterWorkflow
// writes it and keeps the text for exports. It returns the workflow id.
func (l *testLog) registerWorkflow(name, text string, steps ...string) string {
	sum := ledger.SHA256Hex([]byte(text))
	id := "wf:" + l.tenant + ":" + name + "#sha256:" + sum
	version := 1
	for _, w := range l.workflows {
		if w.Name == name {
			version++
		}
	}
	if l.full() {
		return id
	}
	l.workflows[id] = bundle.WorkflowText{WorkflowID: id, Name: name, Version: uint64(version), Text: text}
	l.append(map[string]any{"type": "workflow_registered", "actor": "polly",
		"data": map[string]any{"workflow_id": id, "name": name, "version": version, "sha256": sum, "steps": steps}})
	return id
}

// startWorkflowRun appends run_started of a workflow run, as the service
// writes it.
func (l *testLog) startWorkflowRun(run, id string, input string) {
	l.append(map[string]any{"type": "run_started", "run_id": run, "actor": "agent-7", "state": "running",
		"data": map[string]any{"workflow_id": id, "workflow_version": l.workflows[id].Version,
			"input_ptr": "wfin:" + run, "input_sha256": ledger.SHA256Hex([]byte(input))}})
}

// workflowScenario: a policy, two versions of a workflow, a run of v2 with
// one step job, and a plain job outside any workflow.
func workflowScenario(l *testLog) (v1, v2 string) {
	l.publish(policyV1, "admin", "initial policy")
	v1 = l.registerWorkflow("refund", workflowV1, "lookup")
	v2 = l.registerWorkflow("refund", workflowV2, "lookup")
	l.startWorkflowRun("run-wf", v2, `{"order":"o-17"}`)
	l.append(map[string]any{"type": "step_started", "run_id": "run-wf", "workflow_step_id": "lookup", "job_id": "run-wf.lookup.1",
		"actor": "cairn", "data": map[string]any{"attempt": 1, "step_status": "running"}})
	l.submit(jobSpec{id: "run-wf.lookup.1", run: "run-wf", step: "lookup", action: "db.read", by: "agent-7", input: `{"order":"o-17"}`}, "QUEUED")
	l.decide("run-wf.lookup.1", "submit", "ALLOW", "reads-are-fine")
	l.dispatch("run-wf.lookup.1", "worker-1")
	l.complete("run-wf.lookup.1", "worker-1", "SUCCEEDED", `{"amount":250}`)
	l.append(map[string]any{"type": "run_completed", "run_id": "run-wf", "actor": "cairn", "state": "succeeded", "data": map[string]any{"reason": ""}})
	l.submit(jobSpec{id: "j-plain", action: "db.read", by: "agent-9", input: `{"q":1}`}, "QUEUED")
	l.decide("j-plain", "submit", "ALLOW", "reads-are-fine")
	return v1, v2
}

func workflowLog(t testing.TB) (*testLog, string, string) {
	l := newTestLog(t, "default")
	v1, v2 := workflowScenario(l)
	return l, v1, v2
}

// wantProblem verifies b and checks that the first problem is of kind at
// record (record "" matches any).
func wantProblem(t *testing.T, b *bundle.Bundle, kind error, record string) *verify.Report {
	t.Helper()
	rep, err := verify.Bundle(b, verify.Options{})
	var ve *verify.Error
	if !errors.As(err, &ve) || !errors.Is(err, kind) || (record != "" && ve.Record != record) {
		t.Fatalf("got %v, want %v at %q; problems: %v", err, kind, record, rep.Problems)
	}
	if rep.OK {
		t.Fatal("report OK with a problem")
	}
	return rep
}

func textOf(b *bundle.Bundle, id string) *bundle.WorkflowText {
	for i := range b.Workflows {
		if b.Workflows[i].WorkflowID == id {
			return &b.Workflows[i]
		}
	}
	return nil
}

func TestWorkflowBundleVerifies(t *testing.T) {
	l, v1, v2 := workflowLog(t)
	b := l.bundle(nil)
	if len(b.Workflows) != 2 || b.Workflows[0].WorkflowID > b.Workflows[1].WorkflowID {
		t.Fatalf("workflows %+v", b.Workflows)
	}
	if w := textOf(b, v2); w == nil || w.Text != workflowV2 || w.Name != "refund" || w.Version != 2 {
		t.Fatalf("v2 text %+v", w)
	}
	rep, err := verify.Bundle(b, verify.Options{TrustedKey: l.vkey})
	if err != nil {
		t.Fatalf("%v: %v", err, rep.Problems)
	}
	if rep.Workflows != 2 || rep.Policies != 1 || rep.Jobs != 2 {
		t.Fatalf("counts %+v", rep)
	}
	if !strings.Contains(rep.Summary(), "workflows:   2 texts\n") {
		t.Errorf("summary:\n%s", rep.Summary())
	}
	var js map[string]any
	raw, _ := json.Marshal(rep)
	if json.Unmarshal(raw, &js); js["workflows"] != float64(2) {
		t.Errorf("report JSON: %s", raw)
	}

	// The bundle round-trips through its JSON and still verifies.
	var buf bytes.Buffer
	if err := bundle.EncodeBundle(&buf, b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"workflows": [`) {
		t.Fatal("encoded bundle has no workflows array")
	}
	back, err := bundle.DecodeBundle(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Bundle(back, verify.Options{TrustedKey: l.vkey}); err != nil {
		t.Fatalf("decoded: %v", err)
	}

	// Only the run (as `cairn export --run`): the run_started entry names v2,
	// whose text comes along; v1 is not referenced and not exported.
	run := l.bundle(func(e bundle.Entry) bool { return strings.Contains(e.Body, `"run-wf`) })
	if len(run.Workflows) != 1 || run.Workflows[0].WorkflowID != v2 {
		t.Fatalf("run export workflows %+v", run.Workflows)
	}
	if rep, err := verify.Bundle(run, verify.Options{TrustedKey: l.vkey}); err != nil || rep.Workflows != 1 {
		t.Fatalf("run export: %v", err)
	}
	// A plain job's export refers to no workflow.
	plain := l.bundle(func(e bundle.Entry) bool { return strings.Contains(e.Body, `"job_id":"j-plain"`) })
	if len(plain.Workflows) != 0 || plain.Workflows == nil {
		t.Fatalf("plain job export workflows %#v", plain.Workflows)
	}
	if _, err := verify.Bundle(plain, verify.Options{TrustedKey: l.vkey}); err != nil {
		t.Fatal(err)
	}

	// A text no entry refers to is noted, not a failure.
	extra := cloneBundle(t, run)
	extra.Workflows = append(extra.Workflows, l.workflows[v1])
	rep, err = verify.Bundle(extra, verify.Options{})
	if err != nil || rep.Workflows != 2 || !hasNote(rep, "workflow "+v1+" is not referenced") {
		t.Fatalf("extra text: %v %q", err, rep.Notes)
	}
}

func TestWorkflowTamperingIsDetected(t *testing.T) {
	l, v1, v2 := workflowLog(t)
	good := l.bundle(nil)
	regIdx := func(b *bundle.Bundle, id string) string {
		return fmt.Sprintf("entry %d", b.Entries[entryWhere(t, b, `"type":"workflow_registered"`, id)].Index)
	}

	t.Run("one byte of the text", func(t *testing.T) {
		b := cloneBundle(t, good)
		w := textOf(b, v2)
		w.Text = strings.Replace(w.Text, "db.read", "db.reae", 1)
		rep := wantProblem(t, b, verify.ErrWorkflow, "workflow "+v2)
		if !strings.Contains(rep.Problems[0].Error(), "not to the workflow id") {
			t.Errorf("problem %v", rep.Problems[0])
		}
		// The registration's recorded sha256 disagrees with the text too.
		found := false
		for _, p := range rep.Problems[1:] {
			found = found || errors.Is(p, verify.ErrWorkflow) && strings.Contains(p.Detail, "workflow_registered entry")
		}
		if !found {
			t.Errorf("no problem against the registered sha256: %v", rep.Problems)
		}
		if verify.Code(rep.Problems[0]) != "workflow_mismatch" {
			t.Errorf("code %q", verify.Code(rep.Problems[0]))
		}
		raw, _ := json.Marshal(rep.Problems[0])
		if !strings.Contains(string(raw), `"code":"workflow_mismatch"`) {
			t.Errorf("problem JSON %s", raw)
		}
	})

	t.Run("text removed", func(t *testing.T) {
		b := cloneBundle(t, good)
		var keep []bundle.WorkflowText
		for _, w := range b.Workflows {
			if w.WorkflowID != v2 {
				keep = append(keep, w)
			}
		}
		b.Workflows = keep
		rep := wantProblem(t, b, verify.ErrWorkflow, regIdx(b, v2))
		if !strings.Contains(rep.Problems[0].Detail, "its text is not in the bundle") || strings.Contains(rep.Problems[0].Detail, "predates") {
			t.Errorf("problem %v", rep.Problems[0])
		}
		// The run_started entry that names v2 is reported as well.
		run := fmt.Sprintf("entry %d", b.Entries[entryWhere(t, b, `"type":"run_started"`, v2)].Index)
		found := false
		for _, p := range rep.Problems {
			found = found || p.Record == run && errors.Is(p, verify.ErrWorkflow)
		}
		if !found {
			t.Errorf("run_started not reported: %v", rep.Problems)
		}
	})

	t.Run("hash in the id changed", func(t *testing.T) {
		b := cloneBundle(t, good)
		w := textOf(b, v1)
		forged := "wf:default:refund#sha256:" + ledger.SHA256Hex([]byte("something else"))
		w.WorkflowID = forged
		rep := wantProblem(t, b, verify.ErrWorkflow, "workflow "+forged)
		if !strings.Contains(rep.Problems[0].Detail, "not to the workflow id") {
			t.Errorf("problem %v", rep.Problems[0])
		}
		// v1's registration now has no text.
		found := false
		for _, p := range rep.Problems {
			found = found || p.Record == regIdx(b, v1) && strings.Contains(p.Detail, "not in the bundle")
		}
		if !found {
			t.Errorf("v1's registration not reported: %v", rep.Problems)
		}
	})

	t.Run("text and id both replaced", func(t *testing.T) {
		// A consistent (text, id) pair that no entry names: the entries'
		// workflow has no text.
		b := cloneBundle(t, good)
		w := textOf(b, v2)
		w.Text = strings.Replace(w.Text, "db.read", "db.drop", 1)
		w.WorkflowID = "wf:default:refund#sha256:" + ledger.SHA256Hex([]byte(w.Text))
		wantProblem(t, b, verify.ErrWorkflow, regIdx(b, v2))
	})

	t.Run("name, version, tenant", func(t *testing.T) {
		b := cloneBundle(t, good)
		textOf(b, v2).Name = "refunds"
		wantProblem(t, b, verify.ErrWorkflow, "workflow "+v2)

		b = cloneBundle(t, good)
		textOf(b, v2).Version = 1
		rep := wantProblem(t, b, verify.ErrWorkflow, "workflow "+v2)
		if !strings.Contains(rep.Problems[0].Detail, "version 1, but its workflow_registered entry") {
			t.Errorf("problem %v", rep.Problems[0])
		}

		b = cloneBundle(t, good)
		other := strings.Replace(v2, "wf:default:", "wf:acme:", 1)
		textOf(b, v2).WorkflowID = other
		rep = wantProblem(t, b, verify.ErrWorkflow, "workflow "+other)
		if !strings.Contains(rep.Problems[0].Detail, `tenant "acme"`) {
			t.Errorf("problem %v", rep.Problems[0])
		}

		b = cloneBundle(t, good)
		textOf(b, v2).WorkflowID = "refund"
		wantProblem(t, b, verify.ErrWorkflow, "workflow refund")
	})

	t.Run("version differs from the run's", func(t *testing.T) {
		// Without the registration in the bundle (a run's export), the
		// run_started entry's workflow_version is what the text must match.
		run := l.bundle(func(e bundle.Entry) bool { return strings.Contains(e.Body, `"run-wf`) })
		textOf(run, v2).Version = 7
		idx := run.Entries[entryWhere(t, run, `"type":"run_started"`, v2)].Index
		rep := wantProblem(t, run, verify.ErrWorkflow, fmt.Sprintf("entry %d", idx))
		if !strings.Contains(rep.Problems[0].Detail, "the run ran version 2 of workflow") || !strings.Contains(rep.Problems[0].Detail, "is version 7") {
			t.Errorf("problem %v", rep.Problems[0])
		}
	})

	t.Run("listed twice", func(t *testing.T) {
		b := cloneBundle(t, good)
		b.Workflows = append(b.Workflows, *textOf(b, v1))
		wantProblem(t, b, verify.ErrFormat, "workflow "+v1)
	})

	t.Run("registration recorded another sha256", func(t *testing.T) {
		// A server that recorded a registration inconsistent with the id it
		// names: the entry is in the signed tree, so only the cross-check
		// catches it.
		bad := newTestLog(t, "default")
		id := "wf:default:refund#sha256:" + ledger.SHA256Hex([]byte(workflowV1))
		bad.workflows[id] = bundle.WorkflowText{WorkflowID: id, Name: "refund", Version: 1, Text: workflowV1}
		idx := bad.append(map[string]any{"type": "workflow_registered", "actor": "polly",
			"data": map[string]any{"workflow_id": id, "name": "refund", "version": 1, "sha256": ledger.SHA256Hex([]byte(workflowV2))}})
		rep := wantProblem(t, bad.bundle(nil), verify.ErrWorkflow, fmt.Sprintf("entry %d", idx))
		if !strings.Contains(rep.Problems[0].Detail, "data.sha256") || len(rep.Problems) != 2 ||
			rep.Problems[1].Record != "workflow "+id || !strings.Contains(rep.Problems[1].Detail, "recorded sha256") {
			t.Errorf("problems %v", rep.Problems)
		}

		// Registered twice.
		dup := newTestLog(t, "default")
		dup.registerWorkflow("refund", workflowV1)
		dup.append(map[string]any{"type": "workflow_registered", "actor": "polly",
			"data": map[string]any{"workflow_id": id, "name": "refund", "version": 1, "sha256": ledger.SHA256Hex([]byte(workflowV1))}})
		rep = wantProblem(t, dup.bundle(nil), verify.ErrWorkflow, "entry 1")
		if !strings.Contains(rep.Problems[0].Detail, "already registered in entry 0") {
			t.Errorf("problem %v", rep.Problems[0])
		}
	})

	t.Run("malformed workflow members", func(t *testing.T) {
		for _, data := range []map[string]any{
			{"workflow_id": 7},
			{"workflow_id": "wf:default:refund#sha256:" + ledger.SHA256Hex([]byte(workflowV1)), "name": "refund", "version": "1", "sha256": ledger.SHA256Hex([]byte(workflowV1))},
			{"name": "refund"},
		} {
			bad := newTestLog(t, "default")
			bad.append(map[string]any{"type": "workflow_registered", "actor": "polly", "data": data})
			wantProblem(t, bad.bundle(nil), verify.ErrBody, "entry 0")
		}
		// Other events' data.workflow_id is not read.
		ok := newTestLog(t, "default")
		ok.append(map[string]any{"type": "step_skipped", "run_id": "r", "actor": "cairn", "data": map[string]any{"workflow_id": 7, "name": []int{1}}})
		ok.append(map[string]any{"type": "run_completed", "run_id": "r", "actor": "cairn", "data": map[string]any{"workflow_id": nil}})
		if _, err := verify.Bundle(ok.bundle(nil), verify.Options{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOlderBundlesWithoutWorkflows: a bundle written before exports carried
// workflow texts (no "workflows" member) verifies when no entry refers to a
// workflow, and fails naming the missing text (and why) when one does.
func TestOlderBundlesWithoutWorkflows(t *testing.T) {
	strip := func(b *bundle.Bundle) *bundle.Bundle {
		t.Helper()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(mustJSON(t, b), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "workflows")
		old, err := bundle.UnmarshalBundle(mustJSON(t, m))
		if err != nil {
			t.Fatal(err)
		}
		if old.Workflows != nil {
			t.Fatal("decoded a workflows member that is not there")
		}
		return old
	}
	g, _ := goldenLog(t)
	if _, err := verify.Bundle(strip(g.bundle(nil)), verify.Options{TrustedKey: g.vkey}); err != nil {
		t.Fatalf("older bundle without workflow refs: %v", err)
	}
	l, _, v2 := workflowLog(t)
	b := strip(l.bundle(nil))
	rep := wantProblem(t, b, verify.ErrWorkflow, "")
	if !strings.Contains(rep.Problems[0].Detail, "its text is not in the bundle") || !strings.Contains(rep.Problems[0].Detail, "predates") {
		t.Errorf("problem %v", rep.Problems[0])
	}
	if !strings.Contains(rep.Problems[len(rep.Problems)-1].Detail, v2) {
		t.Errorf("v2 not named: %v", rep.Problems)
	}
	// "workflows": null reads as absent too.
	var m map[string]any
	json.Unmarshal(mustJSON(t, l.bundle(nil)), &m)
	m["workflows"] = nil
	nb, err := bundle.UnmarshalBundle(mustJSON(t, m))
	if err != nil || nb.Workflows != nil {
		t.Fatalf("null workflows: %v %#v", err, nb.Workflows)
	}
}
