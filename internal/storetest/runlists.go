package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// Listing runs in the conformance suite: filters, order and paging, and
// the list by starter.

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
