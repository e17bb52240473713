package http_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// export fetches an evidence bundle as the auditor.
func (e *env) export(query string) *bundle.Bundle {
	e.T.Helper()
	status, raw := e.Do("auditor-1", "GET", "/api/v1/evidence/export"+query, nil)
	if status != 200 {
		e.T.Fatalf("export%s: %d %s", query, status, raw)
	}
	b, err := bundle.UnmarshalBundle(raw)
	if err != nil {
		e.T.Fatalf("export%s: %v", query, err)
	}
	return b
}

// TestExportCarriesWorkflowDefinitions registers two versions of a
// workflow, runs one, exports the evidence through the API and verifies it
// offline with the log key: the bundle carries the exact registered texts,
// and a changed, missing or re-addressed text fails verification.
func TestExportCarriesWorkflowDefinitions(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w1 := e.register(linearWorkflow)
	v2Text := linearWorkflow + "# v2\n"
	w2 := e.register(v2Text)
	e.startRun("agent-1", "run-wfx", w2.WorkflowID, map[string]any{"order": "o-9"})
	e.work(succeed(map[string]any{"amount": 25}), "tool.lookup")
	e.work(succeed("ok"), "payments.transfer")
	e.work(succeed("sent"), "tool.notify")
	if r := e.Run("run-wfx"); r.Status != cairn.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, stepStatuses(r))
	}
	key := e.logKey()
	check := func(name string, b *bundle.Bundle, wantIDs ...string) *verify.Report {
		t.Helper()
		var got []string
		for _, w := range b.Workflows {
			got = append(got, w.WorkflowID)
		}
		slices.Sort(wantIDs)
		if b.Workflows == nil || !slices.Equal(got, wantIDs) {
			t.Fatalf("%s: workflows %q, want %q", name, got, wantIDs)
		}
		rep, err := verify.Bundle(b, verify.Options{TrustedKey: key})
		if err != nil {
			t.Fatalf("%s: %v (%v)", name, err, rep.Problems)
		}
		if rep.Workflows != len(wantIDs) || !strings.Contains(rep.Summary(), "workflows:   ") {
			t.Fatalf("%s: report counts %d workflows", name, rep.Workflows)
		}
		return rep
	}

	// The whole ledger: both registrations, so both texts, byte for byte
	// what GET /api/v1/workflows/{id} serves.
	all := e.export("")
	check("whole ledger", all, w1.WorkflowID, w2.WorkflowID)
	for _, w := range []*cairn.Workflow{w1, w2} {
		var served cairn.Workflow
		e.MustDo("auditor-1", "GET", "/api/v1/workflows/"+url.PathEscape(w.WorkflowID), nil, 200, &served)
		var text *bundle.WorkflowText
		for i := range all.Workflows {
			if all.Workflows[i].WorkflowID == w.WorkflowID {
				text = &all.Workflows[i]
			}
		}
		if text.Text != served.Definition || text.Name != "refund" || text.Version != uint64(w.Version) {
			t.Fatalf("%s: exported %+v, served %q", w.WorkflowID, text, served.Definition)
		}
	}
	// The run: its run_started names v2.
	check("run", e.export("?run_id=run-wfx"), w2.WorkflowID)
	// A step's job: no entry of it names a workflow.
	check("job", e.export("?job_id=run-wfx.lookup.1"))
	// The server's own verification agrees.
	e.verifyLedger()

	tampered := func(name string, mut func(*bundle.Bundle), record string) {
		t.Helper()
		b := e.export("")
		mut(b)
		rep, err := verify.Bundle(b, verify.Options{TrustedKey: key})
		var ve *verify.Error
		if !errors.As(err, &ve) || !errors.Is(err, verify.ErrWorkflow) || !strings.HasPrefix(ve.Record, record) {
			t.Fatalf("%s: got %v, want workflow_mismatch at %s", name, err, record)
		}
		if rep.OK || verify.Code(err) != "workflow_mismatch" {
			t.Fatalf("%s: report %+v", name, rep)
		}
	}
	idx := func(id string) int {
		for i, w := range all.Workflows {
			if w.WorkflowID == id {
				return i
			}
		}
		t.Fatalf("no %s", id)
		return -1
	}
	tampered("one byte of v2's text", func(b *bundle.Bundle) {
		w := &b.Workflows[idx(w2.WorkflowID)]
		w.Text = strings.Replace(w.Text, "tool.notify", "tool.notifx", 1)
	}, "workflow "+w2.WorkflowID)
	tampered("v2's text removed", func(b *bundle.Bundle) {
		b.Workflows = slices.Delete(b.Workflows, idx(w2.WorkflowID), idx(w2.WorkflowID)+1)
	}, "entry ")
	tampered("v1's id given another hash", func(b *bundle.Bundle) {
		w := &b.Workflows[idx(w1.WorkflowID)]
		w.WorkflowID = "wf:default:refund#sha256:" + ledger.SHA256Hex([]byte(v2Text+"x"))
	}, "workflow wf:default:refund#sha256:")
	tampered("v2's version changed", func(b *bundle.Bundle) {
		b.Workflows[idx(w2.WorkflowID)].Version = 1
	}, "workflow "+w2.WorkflowID)
}
