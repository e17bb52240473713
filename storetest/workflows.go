package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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

func testListRuns(t *testing.T, s cairn.Store) {
	wfA, wfB := "wf:default:a#sha256:1", "wf:default:b#sha256:2"
	// r0..r9: ad-hoc runs r0, r3, r6, r9; the others alternate workflows.
	type spec struct{ wf, status string }
	specs := make([]spec, 10)
	runs := make([]*cairn.Run, 10)
	for i := range specs {
		switch {
		case i%3 == 0:
			specs[i] = spec{"", []string{cairn.RunRunning, cairn.RunCompleted}[i%2]}
		case i%2 == 1:
			specs[i] = spec{wfA, []string{cairn.RunRunning, cairn.RunWaitingApproval, cairn.RunSucceeded}[i%3]}
		default:
			specs[i] = spec{wfB, []string{cairn.RunRunning, cairn.RunFailed}[i%2]}
		}
	}
	update(t, s, func(tx cairn.Tx) error {
		for i := 0; i < 5; i++ {
			runs[i] = wfRun("default", "r"+itoa(i), specs[i].wf, specs[i].status, i)
			if i == 3 || i == 4 {
				runs[i].StartedBy = "agent-2"
			}
			if err := tx.InsertRun(runs[i]); err != nil {
				return err
			}
		}
		return tx.InsertRun(wfRun("acme", "r0", wfA, cairn.RunRunning, 0))
	})
	for i := 5; i < 10; i++ {
		update(t, s, func(tx cairn.Tx) error {
			runs[i] = wfRun("default", "r"+itoa(i), specs[i].wf, specs[i].status, i)
			return tx.InsertRun(runs[i])
		})
	}
	for i := 1; i < 10; i++ {
		if runs[i].Seq <= runs[i-1].Seq {
			t.Fatalf("InsertRun seqs %d then %d: want increasing", runs[i-1].Seq, runs[i].Seq)
		}
	}
	list := func(tx cairn.ReadTx, f cairn.RunFilter) []string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 100
		}
		rs, err := tx.ListRuns("default", f)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if r.Tenant != "default" || r.Seq != runs[indexOf(r.RunID)].Seq || (i > 0 && r.Seq >= rs[i-1].Seq) {
				t.Fatalf("ListRuns entry %+v (newest first by seq, with its seq)", r)
			}
		}
		return runIDs(rs)
	}
	view(t, s, func(tx cairn.ReadTx) error {
		eqList(t, "all", list(tx, cairn.RunFilter{}), []string{"r9", "r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1", "r0"})
		eqList(t, "workflow a", list(tx, cairn.RunFilter{WorkflowID: wfA}), []string{"r7", "r5", "r1"})
		eqList(t, "workflow b", list(tx, cairn.RunFilter{WorkflowID: wfB}), []string{"r8", "r4", "r2"})
		eqList(t, "status running", list(tx, cairn.RunFilter{Status: cairn.RunRunning}), []string{"r8", "r6", "r4", "r2", "r0"})
		eqList(t, "workflow b, running", list(tx, cairn.RunFilter{WorkflowID: wfB, Status: cairn.RunRunning}), []string{"r8", "r4", "r2"})
		eqList(t, "workflow a, succeeded", list(tx, cairn.RunFilter{WorkflowID: wfA, Status: cairn.RunSucceeded}), []string{"r5"})
		eqList(t, "no match", list(tx, cairn.RunFilter{WorkflowID: "wf:nope"}), []string{})
		eqList(t, "started by agent-2", list(tx, cairn.RunFilter{StartedBy: "agent-2"}), []string{"r4", "r3"})
		eqList(t, "started by agent-2, workflow b", list(tx, cairn.RunFilter{StartedBy: "agent-2", WorkflowID: wfB}), []string{"r4"})
		eqList(t, "started by agent-1, paged", list(tx, cairn.RunFilter{StartedBy: "agent-1", Page: cairn.Page{Limit: 2, After: runs[5].Seq}}), []string{"r2", "r1"})
		eqList(t, "page 1", list(tx, cairn.RunFilter{Page: cairn.Page{Limit: 4}}), []string{"r9", "r8", "r7", "r6"})
		eqList(t, "page 2", list(tx, cairn.RunFilter{Page: cairn.Page{Limit: 4, After: runs[6].Seq}}), []string{"r5", "r4", "r3", "r2"})
		eqList(t, "page 3", list(tx, cairn.RunFilter{Page: cairn.Page{Limit: 4, After: runs[2].Seq}}), []string{"r1", "r0"})
		eqList(t, "running, paged", list(tx, cairn.RunFilter{Status: cairn.RunRunning, Page: cairn.Page{Limit: 2, After: runs[7].Seq}}), []string{"r6", "r4"})
		rs, err := tx.ListRuns("acme", cairn.RunFilter{Page: cairn.Page{Limit: 10}})
		if err != nil || len(rs) != 1 || rs[0].Tenant != "acme" {
			t.Fatalf("ListRuns(acme) = %v, %v", runIDs(rs), err)
		}
		return nil
	})
	// The filters follow UpdateRun, inside the Update and after it.
	var inTx []string
	update(t, s, func(tx cairn.Tx) error {
		for _, id := range []string{"r2", "r7"} {
			r, err := tx.GetRun("default", id)
			if err != nil {
				return err
			}
			r.Status = cairn.RunSucceeded
			if err := tx.UpdateRun(r); err != nil {
				return err
			}
		}
		rs, err := tx.ListRuns("default", cairn.RunFilter{Status: cairn.RunSucceeded, Page: cairn.Page{Limit: 10}})
		inTx = runIDs(rs)
		return err
	})
	eqList(t, "succeeded, inside the Update", inTx, []string{"r7", "r5", "r2"})
	view(t, s, func(tx cairn.ReadTx) error {
		eqList(t, "succeeded", list(tx, cairn.RunFilter{Status: cairn.RunSucceeded}), []string{"r7", "r5", "r2"})
		eqList(t, "running after the update", list(tx, cairn.RunFilter{Status: cairn.RunRunning}), []string{"r8", "r6", "r4", "r0"})
		eqList(t, "workflow a after the update", list(tx, cairn.RunFilter{WorkflowID: wfA}), []string{"r7", "r5", "r1"})
		return nil
	})
	t.Run("ByStarter", func(t *testing.T) { testListRunsByStarter(t, s) })
}

// testListRunsByStarter checks ListRuns by starter (an agent's own runs)
// against a model: for every starter, alone and with every status, every
// workflow and both, page by page at several page sizes, exactly that
// starter's runs newest first — not those of a starter whose id shares a
// prefix or differs in case, nor another tenant's — and after UpdateRuns
// that change statuses and a starter, inside the Update and after it.
func testListRunsByStarter(t *testing.T, s cairn.Store) {
	const tenant = "starters"
	starters := []string{"agent-1", "agent-10", "Agent-1", "agent-2"}
	wfs := []string{"", "wf:starters:a#sha256:1", "wf:starters:b#sha256:2"}
	statuses := []string{cairn.RunRunning, cairn.RunWaitingApproval, cairn.RunSucceeded, cairn.RunFailed}
	runs := make([]*cairn.Run, 48) // in creation order, as the model
	for batch := 0; batch < 4; batch++ {
		update(t, s, func(tx cairn.Tx) error {
			for i := batch * 12; i < batch*12+12; i++ {
				r := wfRun(tenant, "s"+itoa(i), wfs[i%3], statuses[i*7%4], i)
				r.StartedBy = starters[(i+i/5)%len(starters)]
				if err := tx.InsertRun(r); err != nil {
					return err
				}
				runs[i] = r
				// The same starter in another tenant.
				if err := tx.InsertRun(wfRun("other", "s"+itoa(i), wfs[i%3], statuses[i*7%4], i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	expect := func(f cairn.RunFilter) []string {
		out := []string{}
		for i := len(runs) - 1; i >= 0; i-- {
			r := runs[i]
			if r.StartedBy == f.StartedBy && (f.Status == "" || r.Status == f.Status) && (f.WorkflowID == "" || r.WorkflowID == f.WorkflowID) {
				out = append(out, r.RunID)
			}
		}
		return out
	}
	// lists reads every starter's runs, alone and with every status, every
	// workflow and both, in pages of 1, 2, 5 and 100 runs (following each
	// page's last seq), and returns what it got by filter and page size. It
	// reports a problem as an error: inside an Update it must not stop the
	// goroutine.
	type key struct {
		f     cairn.RunFilter
		limit int
	}
	lists := func(tx cairn.ReadTx) (map[key][]string, error) {
		out := map[key][]string{}
		for _, by := range append(starters, "agent") {
			for _, st := range append([]string{""}, statuses...) {
				for _, wf := range wfs {
					for _, limit := range []int{1, 2, 5, 100} {
						f := cairn.RunFilter{StartedBy: by, Status: st, WorkflowID: wf, Page: cairn.Page{Limit: limit}}
						k := key{f, limit}
						out[k] = []string{}
						for n := 0; ; n++ {
							rs, err := tx.ListRuns(tenant, f)
							if err != nil {
								return nil, err
							}
							for i, r := range rs {
								if r.Tenant != tenant || r.StartedBy != by || (i > 0 && r.Seq >= rs[i-1].Seq) || (f.After > 0 && r.Seq >= f.After) {
									return nil, fmt.Errorf("ListRuns(%+v) entry %+v: not the starter's, or not newest first after the cursor", f, r)
								}
							}
							if len(rs) > limit || n > len(runs) {
								return nil, fmt.Errorf("ListRuns(%+v) returned %d runs, page %d", f, len(rs), n)
							}
							out[k] = append(out[k], runIDs(rs)...)
							if len(rs) < limit {
								break
							}
							f.After = rs[len(rs)-1].Seq
						}
					}
				}
			}
		}
		return out, nil
	}
	check := func(what string, got map[key][]string) {
		t.Helper()
		if n := len(expect(cairn.RunFilter{StartedBy: "agent-1"})); n < 8 {
			t.Fatalf("the model gives agent-1 only %d runs", n)
		}
		for k, ids := range got {
			f := k.f
			eqList(t, what+": "+f.StartedBy+"/"+f.Status+"/"+f.WorkflowID+" in pages of "+itoa(k.limit), ids, expect(f))
		}
	}
	var got map[key][]string
	view(t, s, func(tx cairn.ReadTx) (err error) {
		got, err = lists(tx)
		return err
	})
	check("inserted", got)
	// Statuses change, and one run changes starter: the lists follow.
	statuses = append(statuses, cairn.RunCancelled)
	update(t, s, func(tx cairn.Tx) error {
		for _, i := range []int{3, 17, 30, 46} {
			r, err := tx.GetRun(tenant, runs[i].RunID)
			if err != nil {
				return err
			}
			r.Status = cairn.RunCancelled
			if i == 30 {
				r.StartedBy = "agent-2"
			}
			if err := tx.UpdateRun(r); err != nil {
				return err
			}
			runs[i].Status, runs[i].StartedBy = r.Status, r.StartedBy
		}
		var err error
		got, err = lists(tx)
		return err
	})
	check("inside the Update", got)
	view(t, s, func(tx cairn.ReadTx) (err error) {
		got, err = lists(tx)
		return err
	})
	check("updated", got)
}

func indexOf(runID string) int {
	var i int
	for _, c := range strings.TrimPrefix(runID, "r") {
		i = i*10 + int(c-'0')
	}
	return i
}

func testDueRuns(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		rs, err := tx.DueRuns(at(1000), 10)
		if err != nil || len(rs) != 0 {
			t.Fatalf("DueRuns on an empty store = %v, %v", runIDs(rs), err)
		}
		return nil
	})
	wakes := map[string]*time.Time{"w30": ptr(at(30)), "w10": ptr(at(10)), "w20": ptr(at(20)), "never": nil, "future": ptr(at(500)), "w20b": ptr(at(20))}
	order := []string{"w30", "w10", "never", "w20", "future", "w20b"}
	update(t, s, func(tx cairn.Tx) error {
		for i, id := range order {
			tenant := []string{"default", "acme"}[i%2]
			r := wfRun(tenant, id, "wf:"+tenant+":a#sha256:1", cairn.RunRunning, i)
			r.WakeAt = wakes[id]
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	due := func(tx cairn.ReadTx, now time.Time, limit int) []string {
		t.Helper()
		rs, err := tx.DueRuns(now, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Seq == 0 || r.WakeAt == nil || r.WakeAt.After(now) || r.Tenant == "" {
				t.Fatalf("DueRuns entry %+v", r)
			}
		}
		return runIDs(rs)
	}
	view(t, s, func(tx cairn.ReadTx) error {
		eqList(t, "due at 25", due(tx, at(25), 10), []string{"w10", "w20", "w20b"})
		eqList(t, "due at 30 (inclusive)", due(tx, at(30), 10), []string{"w10", "w20", "w20b", "w30"})
		eqList(t, "due at 9", due(tx, at(9), 10), []string{})
		eqList(t, "limit", due(tx, at(1000), 2), []string{"w10", "w20"})
		eqList(t, "all", due(tx, at(1000), 10), []string{"w10", "w20", "w20b", "w30", "future"})
		rs, _ := tx.DueRuns(at(10), 1)
		if len(rs) != 1 || rs[0].Tenant != "acme" {
			t.Fatalf("DueRuns tenant = %+v", rs)
		}
		d, err := tx.NextDeadline()
		if err != nil || !d.Equal(at(10)) {
			t.Fatalf("NextDeadline = %v, %v; want the earliest wake_at %v", d, err, at(10))
		}
		return nil
	})
	// Clearing and moving WakeAt moves the run out of and into DueRuns and
	// NextDeadline, inside the Update already.
	var inTx []string
	var inTxDeadline time.Time
	update(t, s, func(tx cairn.Tx) error {
		r, err := tx.GetRun("acme", "w10")
		if err != nil {
			return err
		}
		r.WakeAt = nil
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		r, err = tx.GetRun("default", "never")
		if err != nil {
			return err
		}
		r.WakeAt = ptr(at(15))
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		inTx = due(tx, at(25), 10)
		inTxDeadline, err = tx.NextDeadline()
		return err
	})
	eqList(t, "due inside the Update", inTx, []string{"never", "w20", "w20b"})
	if !inTxDeadline.Equal(at(15)) {
		t.Fatalf("NextDeadline inside the Update = %v, want %v", inTxDeadline, at(15))
	}
	view(t, s, func(tx cairn.ReadTx) error {
		eqList(t, "due after the update", due(tx, at(25), 10), []string{"never", "w20", "w20b"})
		d, err := tx.NextDeadline()
		if err != nil || !d.Equal(at(15)) {
			t.Fatalf("NextDeadline = %v, %v; want %v", d, err, at(15))
		}
		return nil
	})
	// NextDeadline takes the earliest of runs, leases and approvals.
	update(t, s, func(tx cairn.Tx) error {
		j := job("default", "leased", cairn.StateRunning, 0)
		j.LeaseExpiresAt = ptr(at(12))
		return tx.InsertJob(j)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		d, err := tx.NextDeadline()
		if err != nil || !d.Equal(at(12)) {
			t.Fatalf("NextDeadline with a lease = %v, %v; want %v", d, err, at(12))
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error { return tx.InsertApproval(approval("default", "a", 0, ptr(at(11)))) })
	update(t, s, func(tx cairn.Tx) error {
		r, err := tx.GetRun("acme", "w20")
		if err != nil {
			return err
		}
		r.WakeAt = ptr(at(3))
		return tx.UpdateRun(r)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		d, err := tx.NextDeadline()
		if err != nil || !d.Equal(at(3)) {
			t.Fatalf("NextDeadline = %v, %v; want the run's %v", d, err, at(3))
		}
		return nil
	})
}

// testRunUpdateFails: an Update that fails after UpdateRun leaves no trace
// of it, neither in the database nor in what later Updates read, alone or
// among concurrent Updates that succeed.
func testRunUpdateFails(t *testing.T, s cairn.Store) {
	orig := fullRun("default", "r", 0)
	orig.WakeAt = nil
	update(t, s, func(tx cairn.Tx) error { return tx.InsertRun(orig) })
	breakRun := func(tx cairn.Tx, id string) error {
		r, err := tx.GetRun("default", id)
		if err != nil {
			return err
		}
		r.Status = cairn.RunFailed
		r.Reason = "must not stay"
		r.Steps = append(r.Steps, &cairn.StepState{StepID: "ghost", Status: cairn.StepRunning})
		r.WakeAt = ptr(at(1))
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		got, err := tx.GetRun("default", id)
		if err != nil {
			return err
		}
		if got.Status != cairn.RunFailed || got.Step("ghost") == nil {
			return failure("the Update does not read its own UpdateRun")
		}
		return errBoom
	}
	check := func(what string) {
		t.Helper()
		var inUpdate *cairn.Run
		update(t, s, func(tx cairn.Tx) error {
			var err error
			inUpdate, err = tx.GetRun("default", "r")
			return err
		})
		want := fullRun("default", "r", 0)
		want.WakeAt = nil
		sameJSON(t, what+": GetRun in an Update", inUpdate, want)
		view(t, s, func(tx cairn.ReadTx) error {
			got, err := tx.GetRun("default", "r")
			if err != nil {
				return err
			}
			sameJSON(t, what+": GetRun", got, want)
			rs, err := tx.ListRuns("default", cairn.RunFilter{Status: cairn.RunFailed, Page: cairn.Page{Limit: 10}})
			if err != nil || len(rs) != 0 {
				t.Fatalf("%s: ListRuns(failed) = %v, %v", what, runIDs(rs), err)
			}
			rs, err = tx.DueRuns(at(100000), 10)
			if err != nil || len(rs) != 0 {
				t.Fatalf("%s: DueRuns = %v, %v", what, runIDs(rs), err)
			}
			d, err := tx.NextDeadline()
			if err != nil || !d.IsZero() {
				t.Fatalf("%s: NextDeadline = %v, %v", what, d, err)
			}
			return nil
		})
	}
	err := s.Update(ctx, func(tx cairn.Tx) error { return breakRun(tx, "r") })
	if !isBoom(err) {
		t.Fatalf("failing Update: %v, want boom", err)
	}
	check("after a failed Update")
	// Among concurrent Updates: the failing ones are rolled back alone
	// while the others commit (the stores re-run such batches).
	errs := race([]cairn.Store{s}, 40, func(i int, s cairn.Store) error {
		return s.Update(ctx, func(tx cairn.Tx) error {
			if i%2 == 0 {
				return breakRun(tx, "r")
			}
			r, err := tx.GetRun("default", "r")
			if err != nil {
				return err
			}
			if r.Status != orig.Status || r.Step("ghost") != nil {
				return failure("a concurrent Update read a failed Update's run: " + r.Status)
			}
			return tx.InsertRun(wfRun("default", "ok"+itoa(i), "", cairn.RunRunning, i))
		})
	})
	for i, err := range errs {
		if i%2 == 0 && !isBoom(err) || i%2 == 1 && err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	check("after concurrent failed Updates")
	view(t, s, func(tx cairn.ReadTx) error {
		rs, err := tx.ListRuns("default", cairn.RunFilter{Status: cairn.RunRunning, Page: cairn.Page{Limit: 100}})
		eq(t, "runs of the successful Updates", len(rs), 20)
		return err
	})
}

// failure is an Update's own report of a broken expectation.
type failure string

func (e failure) Error() string { return string(e) }

// testRaceRunSteps: concurrent Updates on every store each read a run,
// append a step and write it back: they serialise, no step is lost.
func testRaceRunSteps(t *testing.T, stores []cairn.Store) {
	const rounds, writers = 4, 8
	for round := 0; round < rounds; round++ {
		id := "run" + itoa(round)
		update(t, stores[round%len(stores)], func(tx cairn.Tx) error {
			return tx.InsertRun(wfRun("default", id, "wf:default:a#sha256:1", cairn.RunRunning, 0))
		})
		errs := race(stores, writers, func(i int, s cairn.Store) error {
			return s.Update(ctx, func(tx cairn.Tx) error {
				r, err := tx.GetRun("default", id)
				if err != nil {
					return err
				}
				r.Steps = append(r.Steps, &cairn.StepState{StepID: "s" + itoa(i), Status: cairn.StepSucceeded, Attempts: len(r.Steps) + 1, Jobs: []string{}})
				r.UpdatedAt = at(i)
				return tx.UpdateRun(r)
			})
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range stores {
			view(t, s, func(tx cairn.ReadTx) error {
				r, err := tx.GetRun("default", id)
				if err != nil {
					return err
				}
				if len(r.Steps) != writers {
					t.Fatalf("%s has %d steps after %d appends: an update was lost", id, len(r.Steps), writers)
				}
				seen := map[string]bool{}
				for k, st := range r.Steps {
					// Each writer appended to what the one before it wrote.
					if seen[st.StepID] || st.Attempts != k+1 {
						t.Fatalf("%s steps: %+v", id, r.Steps)
					}
					seen[st.StepID] = true
				}
				return nil
			})
		}
	}
}

// testRaceRunRollback: on a store that has not seen a run (another store
// created it), an Update overwrites the run without reading it first, reads
// it back and fails, and Updates queued behind it (so that they share its
// batch, where the stores group-commit) read the run: none of them may see
// the failed write, and nothing of it may stay cached for later Updates.
func testRaceRunRollback(t *testing.T, stores []cairn.Store) {
	s := stores[0]
	for round := 0; round < 5; round++ {
		id := "run" + itoa(round)
		orig := wfRun("default", id, "", cairn.RunRunning, round)
		update(t, stores[len(stores)-1], func(tx cairn.Tx) error { return tx.InsertRun(orig) })
		const readers = 6
		errs := make([]error, readers+2)
		var wg sync.WaitGroup
		start := func(i int, fn func(tx cairn.Tx) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Update(ctx, fn)
			}()
			time.Sleep(5 * time.Millisecond) // queue in this order
		}
		// Keeps the writer busy while the others queue up behind it.
		start(0, func(tx cairn.Tx) error {
			time.Sleep(50 * time.Millisecond)
			return tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "", 0))
		})
		start(1, func(tx cairn.Tx) error {
			bad := wfRun("default", id, "", cairn.RunFailed, round)
			bad.Steps = []*cairn.StepState{{StepID: "ghost", Status: cairn.StepRunning}}
			if err := tx.UpdateRun(bad); err != nil {
				return err
			}
			if r, err := tx.GetRun("default", id); err != nil || r.Status != cairn.RunFailed {
				return failure("the Update does not read its own UpdateRun")
			}
			return errBoom
		})
		for i := 2; i < len(errs); i++ {
			start(i, func(tx cairn.Tx) error {
				r, err := tx.GetRun("default", id)
				if err != nil {
					return err
				}
				if r.Status != cairn.RunRunning || r.Step("ghost") != nil {
					return failure("read a failed Update's run: " + r.Status)
				}
				return tx.AppendEvent(event("default", cairn.EventJobSubmitted, id, "", i))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if i == 1 && !isBoom(err) || i != 1 && err != nil {
				t.Fatalf("round %d, op %d: %v", round, i, err)
			}
		}
		var later *cairn.Run
		update(t, s, func(tx cairn.Tx) error {
			var err error
			later, err = tx.GetRun("default", id)
			return err
		})
		eq(t, "status read by a later Update", later.Status, cairn.RunRunning)
		eq(t, "seq read by a later Update", later.Seq, orig.Seq)
	}
}

// RunPages lists the tenant's runs matching f page by page (limit runs a
// page, following each page's last seq) and returns their ids joined with
// commas, for the stores' migration tests. Every run must have f's starter
// when f names one.
func RunPages(t testing.TB, tx cairn.ReadTx, tenant string, f cairn.RunFilter, limit int) string {
	t.Helper()
	var all []string
	f.Limit = limit
	for {
		rs, err := tx.ListRuns(tenant, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if f.StartedBy != "" && r.StartedBy != f.StartedBy {
				t.Fatalf("ListRuns(%+v) returned %s, started by %q", f, r.RunID, r.StartedBy)
			}
			all = append(all, r.RunID)
		}
		if len(rs) < f.Limit {
			return strings.Join(all, ",")
		}
		f.After = rs[len(rs)-1].Seq
	}
}
