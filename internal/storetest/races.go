package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

func isBoom(err error) bool { return errors.Is(err, errBoom) }

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }

// race runs fn on n goroutines at once, spread over the stores.
func race(stores []cairn.Store, n int, fn func(i int, s cairn.Store) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = fn(i, stores[i%len(stores)])
		}(i)
	}
	close(start)
	wg.Wait()
	return errs
}

// countEvents counts the tenant's ledger events of a type per job.
func countEvents(t *testing.T, s cairn.Store, tenant, typ string) map[string]int {
	t.Helper()
	out := map[string]int{}
	view(t, s, func(tx cairn.ReadTx) error {
		n, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		for from := uint64(0); from < n; from += 1000 {
			es, err := tx.LedgerEntries(tenant, from, 1000)
			if err != nil {
				return err
			}
			for _, e := range es {
				body := string(e.Body)
				if !strings.Contains(body, `"type":"`+typ+`"`) {
					continue
				}
				key := ""
				if i := strings.Index(body, `"job_id":"`); i >= 0 {
					key, _, _ = strings.Cut(body[i+len(`"job_id":"`):], `"`)
				}
				if i := strings.Index(body, `"run_id":"`); key == "" && i >= 0 {
					key, _, _ = strings.Cut(body[i+len(`"run_id":"`):], `"`)
				}
				out[key]++
			}
		}
		return nil
	})
	return out
}

// testRaceJob: several writers complete the same running job at once; the
// one that reads it first wins and the others see it no longer running.
func testRaceJob(t *testing.T, stores []cairn.Store) {
	s := stores[0]
	for round := 0; round < 5; round++ {
		id := "j" + itoa(round)
		update(t, s, func(tx cairn.Tx) error {
			j := job("default", id, cairn.StateRunning, 0)
			j.LeaseID = "lease"
			return tx.InsertJob(j)
		})
		errs := race(stores, 8, func(i int, s cairn.Store) error {
			return s.Update(ctx, func(tx cairn.Tx) error {
				j, err := tx.GetJob("default", id)
				if err != nil {
					return err
				}
				if j.State != cairn.StateRunning {
					return cairn.Conflict(cairn.CodeLeaseInvalid, "not running")
				}
				j.State = cairn.StateSucceeded
				j.Error = cairn.Opt("by " + itoa(i))
				if err := tx.UpdateJob(j); err != nil {
					return err
				}
				return tx.AppendEvent(event("default", cairn.EventJobCompleted, "", id, i))
			})
		})
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if cairn.ErrorCode(err) != cairn.CodeLeaseInvalid {
				t.Fatalf("loser: %v", err)
			}
		}
		eq(t, "writers that completed "+id, ok, 1)
	}
	for id, n := range countEvents(t, s, "default", cairn.EventJobCompleted) {
		eq(t, "job_completed events of "+id, n, 1)
	}
	CheckLedger(t, s, "default", 5)
}

// testRaceLease: workers on every store lease queued jobs concurrently, as
// the service does: LeasableJobs in a read view, then, in an Update, each
// job that GetJob still shows QUEUED goes to RUNNING (compare-and-set);
// every job is leased exactly once.
func testRaceLease(t *testing.T, stores []cairn.Store) {
	const jobs = 60
	update(t, stores[0], func(tx cairn.Tx) error {
		for i := 0; i < jobs; i++ {
			if err := tx.InsertJob(job("default", fmt.Sprintf("j%02d", i), cairn.StateQueued, i)); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	leasedBy := map[string][]int{}
	errs := race(stores, 8, func(w int, s cairn.Store) error {
		for {
			var found []*cairn.Job
			if err := s.View(ctx, func(tx cairn.ReadTx) error {
				var err error
				found, err = tx.LeasableJobs("default", []string{"db.read"}, 2)
				return err
			}); err != nil {
				return err
			}
			if len(found) == 0 {
				return nil
			}
			var got []string
			err := s.Update(ctx, func(tx cairn.Tx) error {
				got = got[:0]
				for _, f := range found {
					j, err := tx.GetJob("default", f.JobID)
					if err != nil {
						return err
					}
					if j.State != cairn.StateQueued {
						continue // another worker took it
					}
					j.State = cairn.StateRunning
					j.LeaseID = cairn.Opt(fmt.Sprintf("lease-%d", w))
					j.LeaseExpiresAt = ptr(at(600))
					if err := tx.UpdateJob(j); err != nil {
						return err
					}
					if err := tx.AppendEvent(event("default", cairn.EventJobDispatched, "", j.JobID, w)); err != nil {
						return err
					}
					got = append(got, j.JobID)
				}
				return nil
			})
			if err != nil {
				return err
			}
			mu.Lock()
			for _, id := range got {
				leasedBy[id] = append(leasedBy[id], w)
			}
			mu.Unlock()
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "jobs leased", len(leasedBy), jobs)
	for id, ws := range leasedBy {
		if len(ws) != 1 {
			t.Fatalf("job %s leased %d times (workers %v)", id, len(ws), ws)
		}
	}
	for id, n := range countEvents(t, stores[0], "default", cairn.EventJobDispatched) {
		eq(t, "job_dispatched events of "+id, n, 1)
	}
	view(t, stores[0], func(tx cairn.ReadTx) error {
		js, err := tx.LeasableJobs("default", nil, 100)
		if err != nil || len(js) != 0 {
			t.Fatalf("queued after leasing everything: %d, %v", len(js), err)
		}
		return nil
	})
	CheckLedger(t, stores[0], "default", jobs)
}

// testRaceApproval: several approvers resolve the same approval at once;
// exactly one resolution is recorded.
func testRaceApproval(t *testing.T, stores []cairn.Store) {
	for round := 0; round < 5; round++ {
		id := "j" + itoa(round)
		update(t, stores[0], func(tx cairn.Tx) error {
			if err := tx.InsertJob(job("default", id, cairn.StatePendingApproval, 0)); err != nil {
				return err
			}
			return tx.InsertApproval(approval("default", id, 0, nil))
		})
		errs := race(stores, 8, func(i int, s cairn.Store) error {
			return s.Update(ctx, func(tx cairn.Tx) error {
				a, err := tx.GetApproval("default", id)
				if err != nil {
					return err
				}
				if a.Status != cairn.ApprovalPending {
					return cairn.Conflict(cairn.CodeApprovalAlreadyResolved, "already resolved by %s", a.ResolvedBy)
				}
				a.Status = cairn.ApprovalResolved
				a.Resolution = cairn.ResolutionApproved
				a.ResolvedBy = cairn.Opt("approver-" + itoa(i))
				if err := tx.AppendEvent(event("default", cairn.EventApprovalResolved, "", id, i)); err != nil {
					return err
				}
				if err := tx.ResolveApproval(a); err != nil {
					return err
				}
				j, err := tx.GetJob("default", id)
				if err != nil {
					return err
				}
				j.State = cairn.StateQueued
				return tx.UpdateJob(j)
			})
		})
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if cairn.ErrorCode(err) != cairn.CodeApprovalAlreadyResolved {
				t.Fatalf("loser: %v", err)
			}
		}
		eq(t, "approvers that resolved "+id, ok, 1)
	}
	for id, n := range countEvents(t, stores[0], "default", cairn.EventApprovalResolved) {
		eq(t, "approval_resolved events of "+id, n, 1)
	}
	CheckLedger(t, stores[0], "default", 5)
}

// testRaceRunCompletion: the last two jobs of a run finish at once on
// different stores; the run is completed exactly once (as the service's
// maybeCompleteRun does it: OpenRunJobs, then GetRun and UpdateRun).
func testRaceRunCompletion(t *testing.T, stores []cairn.Store) {
	const runs = 20
	update(t, stores[0], func(tx cairn.Tx) error {
		for r := 0; r < runs; r++ {
			run := "run" + itoa(r)
			if err := tx.InsertRun(&cairn.Run{RunID: run, Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-1", CreatedAt: at(0), UpdatedAt: at(0)}); err != nil {
				return err
			}
			for k := 0; k < 2; k++ {
				j := job("default", run+"-"+itoa(k), cairn.StateRunning, 0)
				j.RunID = cairn.Opt(run)
				if err := tx.InsertJob(j); err != nil {
					return err
				}
			}
		}
		return nil
	})
	errs := race(stores, 2*runs, func(i int, s cairn.Store) error {
		run := "run" + itoa(i/2)
		id := run + "-" + itoa(i%2)
		return s.Update(ctx, func(tx cairn.Tx) error {
			j, err := tx.GetJob("default", id)
			if err != nil {
				return err
			}
			j.State = cairn.StateSucceeded
			if err := tx.UpdateJob(j); err != nil {
				return err
			}
			if err := tx.AppendEvent(event("default", cairn.EventJobCompleted, run, id, i)); err != nil {
				return err
			}
			open, err := tx.OpenRunJobs("default", run)
			if err != nil || open > 0 {
				return err
			}
			r, err := tx.GetRun("default", run)
			if err != nil || r.Status == cairn.RunCompleted {
				return err
			}
			r.Status = cairn.RunCompleted
			if err := tx.UpdateRun(r); err != nil {
				return err
			}
			e := event("default", cairn.EventRunCompleted, run, "", i)
			return tx.AppendEvent(e)
		})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	completed := countEvents(t, stores[0], "default", cairn.EventRunCompleted)
	view(t, stores[0], func(tx cairn.ReadTx) error {
		for r := 0; r < runs; r++ {
			run := "run" + itoa(r)
			got, err := tx.GetRun("default", run)
			if err != nil {
				return err
			}
			if got.Status != cairn.RunCompleted || completed[run] != 1 {
				t.Fatalf("%s: status %s, %d run_completed events; want completed once", run, got.Status, completed[run])
			}
		}
		return nil
	})
	CheckLedger(t, stores[0], "default", 3*runs)
}

// testRaceRunStart: the first jobs of a new run arrive at once on different
// stores; the run is started once and every job joins it (the service's
// joinRun: GetRun, and InsertRun when it is missing).
func testRaceRunStart(t *testing.T, stores []cairn.Store) {
	const runs, perRun = 5, 6
	errs := race(stores, runs*perRun, func(i int, s cairn.Store) error {
		run := "run" + itoa(i%runs)
		id := "j" + itoa(i)
		return s.Update(ctx, func(tx cairn.Tx) error {
			j := job("default", id, cairn.StateQueued, i)
			j.RunID = cairn.Opt(run)
			if err := tx.InsertJob(j); err != nil {
				return err
			}
			if _, err := tx.GetRun("default", run); cairn.IsNotFound(err) {
				if err := tx.InsertRun(&cairn.Run{RunID: run, Tenant: "default", Status: cairn.RunRunning, StartedBy: "agent-1", CreatedAt: at(i), UpdatedAt: at(i)}); err != nil {
					return err
				}
				if err := tx.AppendEvent(event("default", cairn.EventRunStarted, run, "", i)); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			return tx.AppendEvent(event("default", cairn.EventJobSubmitted, run, id, i))
		})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	started := countEvents(t, stores[0], "default", cairn.EventRunStarted)
	for r := 0; r < runs; r++ {
		eq(t, "run_started events of run"+itoa(r), started["run"+itoa(r)], 1)
	}
	view(t, stores[0], func(tx cairn.ReadTx) error {
		for r := 0; r < runs; r++ {
			js, err := tx.ListRunJobs("default", "run"+itoa(r), 10000)
			if err != nil || len(js) != perRun {
				t.Fatalf("run%d has %d jobs, %v", r, len(js), err)
			}
		}
		return nil
	})
	CheckLedger(t, stores[0], "default", runs*perRun+runs)
}

// testRaceLedger: many goroutines on every store append to two tenants and
// several runs, some Updates failing after appending; each ledger stays
// gap-free, chained, with gap-free timelines and a matching Merkle tree.
func testRaceLedger(t *testing.T, stores []cairn.Store) {
	var committed [2]atomic.Int64
	tenants := []string{"default", "acme"}
	errs := race(stores, 24, func(g int, s cairn.Store) error {
		for i := 0; i < 15; i++ {
			var n [2]int64
			err := s.Update(ctx, func(tx cairn.Tx) error {
				n = [2]int64{}
				for k := 0; k <= (g+i)%3; k++ {
					ti := (g + k) % 2
					if err := tx.AppendEvent(event(tenants[ti], cairn.EventJobSubmitted, "r"+itoa((g+i+k)%4), "", i)); err != nil {
						return err
					}
					n[ti]++
				}
				if (g+i)%5 == 0 {
					return errBoom
				}
				return nil
			})
			switch {
			case err == nil:
				committed[0].Add(n[0])
				committed[1].Add(n[1])
			case !isBoom(err):
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, tenant := range tenants {
		CheckLedger(t, stores[len(stores)-1], tenant, int(committed[i].Load()))
	}
}

// testNotifier: a store shared by several processes tells the others which
// jobs became QUEUED (cairn.Notifier): tenant and action, and the job id of
// no job that is not bound to an executor.
func testNotifier(t *testing.T, stores []cairn.Store) {
	n, ok := stores[1].(cairn.Notifier)
	if !ok || stores[0] == stores[1] {
		t.Skip("the store is not shared between processes")
	}
	notes := make(chan cairn.QueuedNote, 1000)
	n.OnQueued(func(q cairn.QueuedNote) {
		select {
		case notes <- q:
		default:
		}
	})
	// The listener connects in the background; wait for a first note.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		got := map[string]bool{}
		update(t, stores[0], func(tx cairn.Tx) error {
			j := job("acme", "q"+itoa(i), cairn.StateQueued, i)
			j.Action = "mail.send"
			if err := tx.InsertJob(j); err != nil {
				return err
			}
			// Bound to an executor: the note names it.
			b := job("acme", "b"+itoa(i), cairn.StateQueued, i)
			b.Action, b.Executor = "tool.call", "gateway"
			if err := tx.InsertJob(b); err != nil {
				return err
			}
			// Not queued: no note.
			return tx.InsertJob(job("acme", "r"+itoa(i), cairn.StateRunning, i))
		})
		wait := time.After(500 * time.Millisecond)
	read:
		for {
			select {
			case q := <-notes:
				if q.Tenant == "" {
					continue // (re)connected: wake everyone
				}
				// Notes of an earlier round may arrive late.
				switch {
				case q == cairn.QueuedNote{Tenant: "acme", Action: "mail.send"}:
					got["unbound"] = true
				case q.Tenant == "acme" && q.Action == "tool.call" && strings.HasPrefix(q.JobID, "b"):
					got["bound"] = true
				default:
					t.Fatalf("note %+v: want tenant acme and mail.send, or tool.call with its job id", q)
				}
				if got["unbound"] && got["bound"] {
					return
				}
			case <-wait:
				break read
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no note on another store after queuing jobs")
		}
	}
}
