package storetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// Workflows and workflow runs: registered definitions (insert-only), the
// run fields the engine keeps, the run listings and deadlines the stores
// index, and the coherence of run writes with the stores' caches.

func workflow(tenant, name string, version, sec int) *cairn.Workflow {
	sha := strings.Repeat(string(rune('a'+version%6)), 8) + name
	return &cairn.Workflow{
		WorkflowID: "wf:" + tenant + ":" + name + "#sha256:" + sha, Tenant: tenant, Name: name, Version: version, SHA256: sha,
		Description: "the " + name + " workflow", Steps: []string{"plan", "apply"},
		Definition: "name: " + name + "\nsteps:\n  - id: plan\n  - id: apply\n", CreatedBy: "admin", CreatedAt: at(sec),
		Ledger: &cairn.LedgerRef{Index: uint64(sec), LeafHash: strings.Repeat("e", 64)},
	}
}

func wfRun(tenant, id, workflowID, status string, sec int) *cairn.Run {
	return &cairn.Run{RunID: id, Tenant: tenant, Status: status, StartedBy: "agent-1", CreatedAt: at(sec), UpdatedAt: at(sec), WorkflowID: workflowID}
}

func workflowIDs(ws []*cairn.Workflow) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name + "@" + itoa(w.Version)
	}
	return out
}

func runIDs(rs []*cairn.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.RunID
	}
	return out
}

// sameJSON fails unless got and want encode to the same JSON.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func testWorkflows(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		_, err := tx.GetWorkflow("default", "wf:default:deploy#sha256:x")
		wantCode(t, err, cairn.ENotFound)
		_, err = tx.LatestWorkflow("default", "deploy")
		wantCode(t, err, cairn.ENotFound)
		ws, err := tx.ListWorkflows("default", cairn.WorkflowFilter{Page: cairn.Page{Limit: 10}})
		if err != nil || len(ws) != 0 {
			t.Fatalf("ListWorkflows on an empty store = %v, %v", workflowIDs(ws), err)
		}
		return nil
	})
	d1, d2 := workflow("default", "deploy", 1, 0), workflow("default", "deploy", 2, 1)
	b1 := workflow("default", "backup", 1, 2)
	// Registered out of version order: LatestWorkflow goes by version.
	x2, x1 := workflow("default", "xfer", 2, 3), workflow("default", "xfer", 1, 4)
	other := workflow("acme", "deploy", 1, 5)
	update(t, s, func(tx cairn.Tx) error {
		for _, w := range []*cairn.Workflow{d1, d2, b1} {
			if err := tx.InsertWorkflow(w); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		for _, w := range []*cairn.Workflow{x2, x1, other} {
			if err := tx.InsertWorkflow(w); err != nil {
				return err
			}
		}
		return nil
	})
	all := []*cairn.Workflow{d1, d2, b1, x2, x1, other}
	for i := 1; i < len(all); i++ {
		if all[i-1].Seq == 0 || all[i].Seq <= all[i-1].Seq {
			t.Fatalf("InsertWorkflow seqs: %d then %d, want increasing", all[i-1].Seq, all[i].Seq)
		}
	}
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetWorkflow("default", d2.WorkflowID)
		if err != nil {
			return err
		}
		sameJSON(t, "GetWorkflow", got, d2)
		eq(t, "GetWorkflow.Seq", got.Seq, d2.Seq)
		_, err = tx.GetWorkflow("acme", d2.WorkflowID) // another tenant's
		wantCode(t, err, cairn.ENotFound)
		if !cairn.IsNotFound(err) {
			t.Fatalf("unknown workflow is not a 404: %v", err)
		}
		latest := func(tenant, name string) string {
			t.Helper()
			w, err := tx.LatestWorkflow(tenant, name)
			if err != nil {
				t.Fatalf("LatestWorkflow(%s, %s): %v", tenant, name, err)
			}
			if w.Seq == 0 || w.Tenant != tenant {
				t.Fatalf("LatestWorkflow = %+v", w)
			}
			return w.WorkflowID
		}
		eq(t, "LatestWorkflow(deploy)", latest("default", "deploy"), d2.WorkflowID)
		eq(t, "LatestWorkflow(backup)", latest("default", "backup"), b1.WorkflowID)
		eq(t, "LatestWorkflow(xfer), the highest version", latest("default", "xfer"), x2.WorkflowID)
		eq(t, "LatestWorkflow(acme, deploy)", latest("acme", "deploy"), other.WorkflowID)
		_, err = tx.LatestWorkflow("default", "nope")
		wantCode(t, err, cairn.ENotFound)
		list := func(f cairn.WorkflowFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 100
			}
			ws, err := tx.ListWorkflows("default", f)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range ws {
				if w.Seq == 0 || (i > 0 && w.Seq >= ws[i-1].Seq) {
					t.Fatalf("ListWorkflows is not newest first by seq: %v", workflowIDs(ws))
				}
			}
			return workflowIDs(ws)
		}
		eqList(t, "all", list(cairn.WorkflowFilter{}), []string{"xfer@1", "xfer@2", "backup@1", "deploy@2", "deploy@1"})
		eqList(t, "name", list(cairn.WorkflowFilter{Name: "deploy"}), []string{"deploy@2", "deploy@1"})
		eqList(t, "page 1", list(cairn.WorkflowFilter{Page: cairn.Page{Limit: 2}}), []string{"xfer@1", "xfer@2"})
		eqList(t, "page 2", list(cairn.WorkflowFilter{Page: cairn.Page{Limit: 2, After: x2.Seq}}), []string{"backup@1", "deploy@2"})
		eqList(t, "page 3", list(cairn.WorkflowFilter{Page: cairn.Page{Limit: 2, After: d2.Seq}}), []string{"deploy@1"})
		eqList(t, "name, paged", list(cairn.WorkflowFilter{Name: "deploy", Page: cairn.Page{Limit: 1, After: d2.Seq}}), []string{"deploy@1"})
		eqList(t, "unknown name", list(cairn.WorkflowFilter{Name: "nope"}), []string{})
		ws, err := tx.ListWorkflows("default", cairn.WorkflowFilter{Page: cairn.Page{Limit: 1}})
		if err != nil {
			return err
		}
		sameJSON(t, "ListWorkflows[0]", ws[0], x1)
		return nil
	})

	// A duplicate id fails with workflow_exists; the transaction goes on
	// and commits its other writes.
	var dupErr, versionErr error
	d3 := workflow("default", "deploy", 3, 10)
	update(t, s, func(tx cairn.Tx) error {
		dup := *d1
		dup.Description = "changed"
		dup.Version = 9
		dupErr = tx.InsertWorkflow(&dup)
		if dupErr != nil && cairn.ErrorCode(dupErr) != cairn.CodeWorkflowExists {
			return dupErr
		}
		// Another definition under a version that is taken.
		clash := workflow("default", "deploy", 2, 11)
		clash.WorkflowID += "-other"
		versionErr = tx.InsertWorkflow(clash)
		if versionErr == nil || cairn.ErrorCode(versionErr) == cairn.CodeWorkflowExists {
			return versionErr
		}
		if _, err := tx.GetWorkflow("default", d1.WorkflowID); err != nil {
			return err
		}
		if err := tx.InsertWorkflow(d3); err != nil {
			return err
		}
		if err := tx.InsertJob(job("default", "after-dup", cairn.StateQueued, 10)); err != nil {
			return err
		}
		return tx.AppendEvent(event("default", cairn.EventWorkflowRegistered, "", "", 10))
	})
	wantCode(t, dupErr, cairn.CodeWorkflowExists)
	if _, ok := dupErr.(*cairn.Error); !ok {
		t.Fatalf("duplicate workflow: %#v, want a *cairn.Error", dupErr)
	}
	wantCode(t, versionErr, cairn.EConflict)
	if d3.Seq <= other.Seq {
		t.Fatalf("seq after a duplicate: %d, want > %d", d3.Seq, other.Seq)
	}
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetWorkflow("default", d1.WorkflowID)
		if err != nil {
			return err
		}
		sameJSON(t, "the original after a duplicate", got, d1)
		latest, err := tx.LatestWorkflow("default", "deploy")
		if err != nil || latest.WorkflowID != d3.WorkflowID {
			t.Fatalf("LatestWorkflow after a duplicate = %+v, %v", latest, err)
		}
		if _, err := tx.GetJob("default", "after-dup"); err != nil {
			t.Fatalf("write after a duplicate workflow was not committed: %v", err)
		}
		n, err := tx.LedgerSize("default")
		eq(t, "LedgerSize", n, uint64(1))
		return err
	})
	// A lone duplicate fails its Update with the conflict.
	err := s.Update(ctx, func(tx cairn.Tx) error { return tx.InsertWorkflow(workflow("default", "deploy", 1, 20)) })
	wantCode(t, err, cairn.CodeWorkflowExists)
}

// fullRun is a workflow run with every field the engine keeps set.
func fullRun(tenant, id string, sec int) *cairn.Run {
	r := wfRun(tenant, id, "wf:"+tenant+":deploy#sha256:abc", cairn.RunWaitingApproval, sec)
	r.InputPtr = "wfin:" + id
	r.InputSHA256 = strings.Repeat("d", 64)
	r.StarterKind = cairn.KindAgent
	r.StarterRoles = []string{cairn.RoleAgent, "deployer"}
	r.RerunOf = "run-before"
	r.RerunFrom = "apply"
	r.Reason = "waiting for the gate"
	r.TimeoutAt = ptr(at(sec + 3600))
	r.WakeAt = ptr(at(sec + 600))
	r.UpdatedAt = at(sec + 5)
	r.Steps = []*cairn.StepState{
		{StepID: "plan", Status: cairn.StepSucceeded, Attempts: 2, JobID: id + "-plan-2", Jobs: []string{id + "-plan-1", id + "-plan-2"},
			Error: "first attempt failed", StartedAt: ptr(at(sec)), CompletedAt: ptr(at(sec + 2)), FromRun: "run-before"},
		{StepID: "apply", Status: cairn.StepWaitingApproval, Jobs: []string{}, NextAt: ptr(at(sec + 600)),
			Gate: &cairn.GateState{Status: cairn.GatePending, ApproverRoles: []string{cairn.RoleApprover, "sre"}, Quorum: 2,
				RequestedAt: at(sec + 3), ExpiresAt: ptr(at(sec + 600)),
				JobID: id + "-apply-1", JobHash: strings.Repeat("f", 64), Input: json.RawMessage(`{"env":"prod","replicas":3}`),
				Votes: []cairn.GateVote{{By: "alice", Resolution: cairn.ResolutionApproved, Comment: "lgtm", At: at(sec + 4),
					Ledger: &cairn.LedgerRef{Index: 7, LeafHash: strings.Repeat("7", 64)}}}}},
		{StepID: "cleanup", Status: cairn.StepFailed, Attempts: 1, JobID: id + "-cleanup-1", Jobs: []string{id + "-cleanup-1"},
			CompensationJobID: id + "-undo", Continued: true, Error: "disk full"},
	}
	return r
}

func testWorkflowRunFields(t *testing.T, s cairn.Store) {
	plain := &cairn.Run{RunID: "adhoc", Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-1", CreatedAt: at(0), UpdatedAt: at(0)}
	wr := wfRun("default", "wr", "wf:default:deploy#sha256:abc", cairn.RunRunning, 1)
	var inTx *cairn.Run
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.InsertRun(plain); err != nil {
			return err
		}
		if err := tx.InsertRun(wr); err != nil {
			return err
		}
		var err error
		inTx, err = tx.GetRun("default", "wr") // inserted by this transaction
		return err
	})
	if plain.Seq == 0 || wr.Seq <= plain.Seq {
		t.Fatalf("InsertRun seqs %d %d: want increasing", plain.Seq, wr.Seq)
	}
	eq(t, "GetRun.Seq inside the inserting Update", inTx.Seq, wr.Seq)
	late := wfRun("default", "late", "", cairn.RunRunning, 2)
	update(t, s, func(tx cairn.Tx) error { return tx.InsertRun(late) })
	if late.Seq <= wr.Seq {
		t.Fatalf("InsertRun seq %d after %d: want increasing", late.Seq, wr.Seq)
	}

	// Replace every field; the same Update and later ones read it back.
	want := fullRun("default", "wr", 1)
	var sameTx, nextTx *cairn.Run
	update(t, s, func(tx cairn.Tx) error {
		got, err := tx.GetRun("default", "wr")
		if err != nil {
			return err
		}
		eq(t, "GetRun.Seq", got.Seq, wr.Seq)
		r := fullRun("default", "wr", 1)
		r.Seq = got.Seq
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		sameTx, err = tx.GetRun("default", "wr")
		return err
	})
	update(t, s, func(tx cairn.Tx) error {
		var err error
		nextTx, err = tx.GetRun("default", "wr")
		return err
	})
	sameJSON(t, "GetRun in the updating Update", sameTx, want)
	sameJSON(t, "GetRun in the next Update", nextTx, want)
	eq(t, "Seq after UpdateRun", nextTx.Seq, wr.Seq)
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.GetRun("default", "wr")
		if err != nil {
			return err
		}
		sameJSON(t, "GetRun after UpdateRun", got, want)
		eq(t, "Seq", got.Seq, wr.Seq)
		if !got.IsWorkflow() || got.Step("apply").Gate.Votes[0].By != "alice" || !got.WakeAt.Equal(at(601)) || !got.TimeoutAt.Equal(at(3601)) {
			t.Fatalf("GetRun = %+v", got)
		}
		g, err := tx.GetRun("default", "adhoc")
		if err != nil {
			return err
		}
		eq(t, "ad-hoc run Seq", g.Seq, plain.Seq)
		if g.IsWorkflow() || g.Steps != nil || g.WakeAt != nil {
			t.Fatalf("ad-hoc run = %+v", g)
		}
		return nil
	})
	// Jobs are not stored with the run.
	update(t, s, func(tx cairn.Tx) error {
		r, err := tx.GetRun("default", "adhoc")
		if err != nil {
			return err
		}
		r.Jobs = []*cairn.Job{job("default", "j", cairn.StateQueued, 0)}
		r.Status = cairn.RunCompleted
		return tx.UpdateRun(r)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		g, err := tx.GetRun("default", "adhoc")
		if err != nil || len(g.Jobs) != 0 || g.Status != cairn.RunCompleted {
			t.Fatalf("GetRun after an update with jobs = %+v, %v", g, err)
		}
		return nil
	})
	// Updating a run that does not exist is a 404, and creates nothing.
	err := s.Update(ctx, func(tx cairn.Tx) error { return tx.UpdateRun(fullRun("default", "nope", 0)) })
	wantCode(t, err, cairn.ENotFound)
	err = s.Update(ctx, func(tx cairn.Tx) error { return tx.UpdateRun(fullRun("acme", "wr", 0)) }) // another tenant's
	wantCode(t, err, cairn.ENotFound)
	view(t, s, func(tx cairn.ReadTx) error {
		_, err := tx.GetRun("default", "nope")
		wantCode(t, err, cairn.ENotFound)
		rs, err := tx.DueRuns(at(100000), 10)
		if err != nil {
			return err
		}
		eqList(t, "DueRuns", runIDs(rs), []string{"wr"})
		return nil
	})
}
