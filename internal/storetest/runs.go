package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// Runs in the conformance suite: due runs, failed updates and racing
// writers of one run, and paging through runs.

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
