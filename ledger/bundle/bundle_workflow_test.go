package bundle

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"github.com/cairnhq/cairn/ledger/tree"
)

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWorkflowDigest(t *testing.T) {
	sum := ledger.SHA256Hex([]byte("name: x\n"))
	for _, c := range []struct{ id, tenant, name string }{
		{"wf:default:refund#sha256:" + sum, "default", "refund"},
		{"wf:org:team-1:refund.v2#sha256:" + sum, "org:team-1", "refund.v2"},
	} {
		tenant, name, got, err := ledger.WorkflowDigest(c.id)
		if err != nil || tenant != c.tenant || name != c.name || got != sum {
			t.Errorf("%s: %q %q %q %v", c.id, tenant, name, got, err)
		}
	}
	for _, bad := range []string{"", "refund", "wf:default:refund", "wf:default:refund#sha256:",
		"wf:default:refund#sha256:" + strings.ToUpper(sum), "wf:default:refund#sha256:" + sum[:63],
		"wf:refund#sha256:" + sum, "wf::refund#sha256:" + sum[:0] + sum, "wf:default:#sha256:" + sum,
		"cfg:default:refund#sha256:" + sum, "wf:#sha256:" + sum} {
		if _, _, _, err := ledger.WorkflowDigest(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestEntryWorkflowRef(t *testing.T) {
	id := "wf:t:refund#sha256:" + ledger.SHA256Hex([]byte("x"))
	body := func(ev map[string]any) string {
		b, err := ledger.EntryBody(ledger.Envelope{Tenant: "t", Index: 0, Event: ev})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	reg := body(map[string]any{"type": "workflow_registered", "data": map[string]any{"workflow_id": id, "name": "refund", "version": 3, "sha256": "abc", "steps": []string{"a"}}})
	ref, err := ledger.EntryWorkflowRef(reg)
	if err != nil || ref == nil || *ref != (ledger.WorkflowRef{WorkflowID: id, Registered: true, Name: "refund", Version: 3, SHA256: "abc"}) {
		t.Fatalf("registered: %+v %v", ref, err)
	}
	run := body(map[string]any{"type": "run_started", "run_id": "r", "data": map[string]any{"workflow_id": id, "workflow_version": 3, "name": 5}})
	ref, err = ledger.EntryWorkflowRef(run)
	if err != nil || ref == nil || *ref != (ledger.WorkflowRef{WorkflowID: id, RunVersion: 3}) {
		t.Fatalf("run_started: %+v %v", ref, err)
	}
	for _, none := range []string{
		body(map[string]any{"type": "run_started", "run_id": "r", "data": map[string]any{}}),
		body(map[string]any{"type": "run_completed", "run_id": "r", "data": map[string]any{"workflow_id": nil}}),
		body(map[string]any{"type": "run_started", "run_id": "r", "data": "x"}),
		body(map[string]any{"type": "job_submitted", "data": map[string]any{"workflow_id": id}}),
		body(map[string]any{"type": "step_started", "data": map[string]any{"workflow_id": 7, "version": "x"}}),
	} {
		if ref, err := ledger.EntryWorkflowRef(none); err != nil || ref != nil {
			t.Errorf("%s: %+v %v", none, ref, err)
		}
	}
	for _, bad := range []string{
		body(map[string]any{"type": "workflow_registered", "data": map[string]any{"name": "refund"}}),
		body(map[string]any{"type": "workflow_registered", "data": map[string]any{"workflow_id": id, "version": "3"}}),
		body(map[string]any{"type": "workflow_registered", "data": map[string]any{"workflow_id": id, "version": -1}}),
		body(map[string]any{"type": "workflow_registered", "data": map[string]any{"workflow_id": id, "sha256": 1}}),
		body(map[string]any{"type": "run_started", "data": map[string]any{"workflow_id": 7}}),
		body(map[string]any{"type": "run_started", "data": map[string]any{"workflow_id": id, "workflow_version": "3"}}),
		body(map[string]any{"type": "run_started", "data": map[string]any{"workflow_id": id, "workflow_version": -2}}),
		`{"event":{"data":{"workflow_id":"` + id + `","workflow_id":"x"},"type":"run_started"},"index":0,"prev_hash":"","tenant":"t"}`,
		`{"event":{"data":{"workflow_id":"` + id + `"},"type":"run_started"},"index":0,"prev_hash":"","tenant":"t"} x`,
		`{"event":{"data":{"workflow_id":"` + id + `"},"type":"run_started"},"event":{}}`,
		`{"event":{"type":"run_started","data":{"workflow_id":"` + id + `"`,
		`[]`, ``,
	} {
		ref, err := ledger.EntryWorkflowRef(bad)
		if err == nil || ref != nil || !errors.Is(err, ledger.ErrBody) {
			t.Errorf("%s: %+v %v", bad, ref, err)
		}
	}
}

func TestBundleCarriesWorkflows(t *testing.T) {
	wf := func(text string) WorkflowText {
		return WorkflowText{WorkflowID: "wf:t:refund#sha256:" + ledger.SHA256Hex([]byte(text)), Name: "refund", Version: 1, Text: text}
	}
	a, b := wf("name: refund\nsteps: [a]\n"), wf("name: refund\nsteps: [b]\n")
	var es []Entry
	app := tree.NewAppender()
	prev := ""
	for i, ev := range []map[string]any{
		{"type": "workflow_registered", "data": map[string]any{"workflow_id": b.WorkflowID, "name": "refund", "version": 1, "sha256": b.WorkflowID[len(b.WorkflowID)-64:]}},
		{"type": "run_started", "run_id": "r1", "data": map[string]any{"workflow_id": a.WorkflowID}},
		{"type": "run_started", "run_id": "r2", "data": map[string]any{"workflow_id": b.WorkflowID}},
		{"type": "run_started", "run_id": "r3"},
	} {
		body, err := ledger.EntryBody(ledger.Envelope{Tenant: "t", Index: uint64(i), PrevHash: prev, Event: ev})
		if err != nil {
			t.Fatal(err)
		}
		leaf := ledger.LeafHash(body)
		app.Append(leaf)
		prev = ledger.HashHex(leaf)
		es = append(es, Entry{Index: uint64(i), Body: string(body)})
	}
	refs, err := CollectRefs(es)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a.WorkflowID, b.WorkflowID}
	if a.WorkflowID > b.WorkflowID {
		want = []string{b.WorkflowID, a.WorkflowID}
	}
	if strings.Join(refs.Workflows, ",") != strings.Join(want, ",") {
		t.Fatalf("refs.Workflows = %q, want %q", refs.Workflows, want)
	}
	// A malformed workflow member does not fail the export's refs.
	bad, _ := ledger.EntryBody(ledger.Envelope{Tenant: "t", Index: 4, Event: map[string]any{"type": "run_started", "data": map[string]any{"workflow_id": 7}}})
	if r, err := CollectRefs([]Entry{{Index: 4, Body: string(bad)}}); err != nil || len(r.Workflows) != 0 {
		t.Fatalf("malformed member: %+v %v", r, err)
	}

	k := testKey(t, "cairn.local", 4)
	s, _ := k.SignerFor("cairn.local/t")
	vk, _ := k.VerifierKeyFor("cairn.local/t")
	cp, err := tree.SignCheckpoint("cairn.local/t", 4, app.Root(), s)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by id whatever the input order; always an array.
	in := BundleInput{Tenant: "t", PublicKey: vk, Checkpoint: cp, Entries: es}
	var bu *Bundle
	for _, order := range [][]WorkflowText{{a, b}, {b, a}} {
		in.Workflows = order
		bu, err = BuildBundle(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(bu.Workflows) != 2 || bu.Workflows[0].WorkflowID != want[0] || bu.Workflows[1].WorkflowID != want[1] {
			t.Fatalf("workflows %+v", bu.Workflows)
		}
	}
	var buf bytes.Buffer
	if err := EncodeBundle(&buf, bu); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeBundle(bytes.NewReader(buf.Bytes()))
	if err != nil || len(back.Workflows) != 2 || back.Workflows[0] != bu.Workflows[0] || back.Workflows[1] != bu.Workflows[1] {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	in.Workflows = nil
	bu, err = BuildBundle(in)
	if err != nil || bu.Workflows == nil {
		t.Fatalf("no workflows: %v %#v", err, bu.Workflows)
	}
	buf.Reset()
	EncodeBundle(&buf, bu)
	if !strings.Contains(buf.String(), `"workflows": []`) {
		t.Fatalf("empty workflows not written as an array:\n%s", buf.String())
	}
	// A repeated member is not a bundle; a malformed one neither.
	dup := strings.Replace(buf.String(), `"workflows": []`, `"workflows": [], "workflows": []`, 1)
	if _, err := UnmarshalBundle([]byte(dup)); err == nil {
		t.Error("accepted a repeated workflows member")
	}
	for _, v := range []string{`{}`, `[{"version": -1}]`, `[{"version": "1"}]`, `[{"text": 5}]`} {
		if _, err := UnmarshalBundle([]byte(strings.Replace(buf.String(), `"workflows": []`, `"workflows": `+v, 1))); err == nil {
			t.Errorf("accepted workflows %s", v)
		}
	}
}
