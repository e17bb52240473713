package service

import (
	"context"
	"sort"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
)

// Lease hands up to req.Max queued jobs matching req.Actions to a worker,
// re-deciding each against the active policy (phase dispatch). With
// wait_ms it waits for work to arrive.
//
// Leases find their jobs outside the write transaction, by index (a
// backlog of other actions costs them nothing), and claim them in it by
// compare-and-set: a job still QUEUED is dispatched, one that another lease
// took meanwhile is skipped. A waiting lease wakes only for jobs of its
// tenant that its globs match (ADR 0014).
func (s *Service) Lease(ctx context.Context, p cairn.Principal, req cairn.LeaseRequest) ([]*cairn.LeasedJob, error) {
	if err := validLease(p, &req); err != nil {
		return nil, err
	}
	leaseFor := DefaultLease
	if req.LeaseMS != 0 {
		leaseFor = time.Duration(req.LeaseMS) * time.Millisecond
	}
	q := &leaseQuery{tenant: p.Tenant, globs: policy.CompileActionGlobs(req.Actions)}
	q.plan = q.globs.Plan()
	var w *waiter
	var waited <-chan time.Time // fires when wait_ms is over; nil without a wait
	if req.WaitMS > 0 {
		// Registered before the first look: a job queued after the look's
		// snapshot wakes it.
		w = &waiter{tenant: p.Tenant, globs: q.globs, jobID: req.JobID, ch: make(chan struct{}, 1)}
		s.waiters.add(w)
		defer s.waiters.remove(w)
		// The wait is real time, whatever the service's clock says: it
		// decides only when to stop looking (ADR 0043).
		t := time.NewTimer(time.Duration(req.WaitMS) * time.Millisecond)
		defer t.Stop()
		waited = t.C
	}
	timedOut := false
	for {
		var jobs []*cairn.LeasedJob
		var err error
		if req.JobID != "" {
			jobs, err = s.leaseNamed(ctx, p, req, req.Actions, leaseFor)
		} else {
			jobs, err = s.leaseOnce(ctx, p, req, q, leaseFor)
		}
		if err != nil {
			return nil, err
		}
		if len(jobs) > 0 {
			// No log, no run: each job carries its signed dispatch receipt.
			for _, j := range jobs {
				if err := s.receipt(ctx, p.Tenant, j.Receipt); err != nil {
					return nil, err
				}
			}
			return jobs, nil
		}
		if w == nil || timedOut {
			return []*cairn.LeasedJob{}, nil
		}
		select {
		case <-ctx.Done():
			return []*cairn.LeasedJob{}, nil
		case <-w.ch:
		case <-waited:
			timedOut = true // one last look, then the empty answer
		}
	}
}

// validLease checks a lease request and fills in its defaults.
func validLease(p cairn.Principal, req *cairn.LeaseRequest) error {
	if !p.Has(cairn.RoleWorker) {
		return cairn.Forbidden(cairn.EForbidden, "leasing needs the worker role")
	}
	if req.WorkerID == "" {
		req.WorkerID = p.ID
	}
	if err := validID("worker_id", req.WorkerID); err != nil {
		return err
	}
	if req.JobID != "" {
		if err := validID("job_id", req.JobID); err != nil {
			return err
		}
	}
	if len(req.Actions) == 0 {
		req.Actions = []string{"*"}
	}
	if err := validLeaseActions(req.Actions); err != nil {
		return err
	}
	if req.Max == 0 {
		req.Max = 1
	}
	return validLeaseBounds(req)
}

// validLeaseActions checks a lease's action globs: at most 64, none empty.
func validLeaseActions(actions []string) error {
	if len(actions) > 64 {
		return cairn.Invalid("actions", "at most 64 globs")
	}
	for i, a := range actions {
		if err := validText("actions["+itoa(i)+"]", a, MaxIDBytes); err != nil {
			return err
		}
		if a == "" {
			return cairn.Invalid("actions["+itoa(i)+"]", "must not be empty")
		}
	}
	return nil
}

// validLeaseBounds checks a lease's max, wait_ms and lease_ms.
func validLeaseBounds(req *cairn.LeaseRequest) error {
	if req.Max < 0 || req.Max > MaxLeaseBatch {
		return cairn.Invalid("max", "must be from 1 to %d", MaxLeaseBatch)
	}
	if req.WaitMS < 0 || req.WaitMS > int(MaxWait.Milliseconds()) {
		return cairn.Invalid("wait_ms", "must be from 0 to %d", MaxWait.Milliseconds())
	}
	if req.LeaseMS != 0 && (req.LeaseMS < 1000 || req.LeaseMS > int(MaxLease.Milliseconds())) {
		return cairn.Invalid("lease_ms", "must be from 1000 to %d", MaxLease.Milliseconds())
	}
	return nil
}

// leaseQuery is what a lease looks for: a tenant's jobs whose action its
// globs match.
type leaseQuery struct {
	tenant string
	globs  *policy.ActionGlobs
	plan   policy.ScanPlan
}

// candidate is a queued job found outside the writer, with its context.
type candidate struct {
	job     *cairn.Job
	payload *cairn.Payload
}

// maxLeaseLooks bounds how often one look for work starts again after
// every job it found was taken by other leases meanwhile (each time, they
// made progress).
const maxLeaseLooks = 4

// leaseOnce finds up to req.Max jobs and dispatches those still QUEUED.
func (s *Service) leaseOnce(ctx context.Context, p cairn.Principal, req cairn.LeaseRequest, q *leaseQuery, leaseFor time.Duration) ([]*cairn.LeasedJob, error) {
	for look := 0; ; look++ {
		// Jobs that leases of this process are claiming are skipped, so
		// look past as many of them.
		var cands []candidate
		err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			var err error
			cands, err = s.findQueued(tx, q, req.Max+s.claims.count(q.tenant))
			return err
		})
		if err != nil {
			return nil, err
		}
		cands = s.claims.take(q.tenant, cands, req.Max)
		if len(cands) == 0 {
			return nil, nil
		}
		out, lost, err := s.claimQueued(ctx, p, req.WorkerID, cands, leaseFor)
		s.claims.release(q.tenant, cands)
		if err != nil || len(out) > 0 || lost == 0 {
			// A lease that failed leaves its jobs QUEUED: other waiters may
			// have slept while they were claimed.
			if err != nil {
				for _, c := range cands {
					s.waiters.wake(cairn.QueuedNote{Tenant: c.job.Tenant, Action: c.job.Action})
				}
			}
			return out, err
		}
		if look+1 == maxLeaseLooks {
			return nil, nil
		}
	}
}

// claimQueued dispatches the candidates that are still QUEUED, in one
// write transaction; lost counts those another lease took first.
func (s *Service) claimQueued(ctx context.Context, p cairn.Principal, workerID string, cands []candidate, leaseFor time.Duration) ([]*cairn.LeasedJob, int, error) {
	var out []*cairn.LeasedJob
	lost := 0
	err := s.update(ctx, func(tx cairn.Tx) error {
		out, lost = out[:0], 0
		now := s.now()
		pol, err := s.inForce(tx)
		if err != nil {
			return err
		}
		for _, c := range cands {
			j, err := tx.GetJob(c.job.Tenant, c.job.JobID)
			if err != nil {
				return err
			}
			if !leasableByGlob(j) {
				lost++
				continue
			}
			lj, err := s.dispatch(ctx, tx, pol, p, workerID, j, c.payload, leaseFor, now)
			if err != nil {
				return err
			}
			if lj != nil {
				out = append(out, lj)
			}
		}
		return nil
	})
	return out, lost, err
}

// leasableByGlob reports whether a lease by action globs may take j now:
// QUEUED and bound to no executor (such a job is leased only by a request
// naming it).
func leasableByGlob(j *cairn.Job) bool {
	return j.State == cairn.StateQueued && j.Executor == ""
}

// findQueued returns up to limit of the tenant's oldest queued jobs that q
// matches, oldest first, with their contexts. Its cost follows the distinct
// queued actions in the globs' prefix ranges, not the jobs queued.
func (s *Service) findQueued(tx cairn.ReadTx, q *leaseQuery, limit int) ([]candidate, error) {
	var jobs []*cairn.Job
	var err error
	if q.plan.All {
		jobs, err = tx.LeasableJobs(q.tenant, nil, limit)
	} else {
		var actions []string
		if actions, err = matchingActions(tx, q); err == nil && len(actions) > 0 {
			jobs, err = tx.LeasableJobs(q.tenant, actions, limit)
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]candidate, 0, len(jobs))
	for _, j := range jobs {
		if j.Executor != "" || !q.globs.Match(j.Action) {
			continue // a store returning more than asked must not widen a lease
		}
		pl, err := tx.GetPayload(j.Tenant, j.ContextPtr)
		if err != nil {
			return nil, err
		}
		out = append(out, candidate{job: j, payload: pl})
	}
	return out, nil
}

// actionPage is how many distinct actions one QueuedActions call returns.
const actionPage = 256

// matchingActions lists the distinct queued actions that q's globs match:
// its exact actions, and those in its prefixes' ranges that a glob matches.
func matchingActions(tx cairn.ReadTx, q *leaseQuery) ([]string, error) {
	actions := append([]string(nil), q.plan.Exact...)
	for _, pre := range q.plan.Prefixes {
		from, first := pre, true
		for {
			page, err := tx.QueuedActions(q.tenant, from, actionPage)
			if err != nil {
				return nil, err
			}
			done := len(page) < actionPage
			if !first && len(page) > 0 && page[0] == from {
				page = page[1:] // from is inclusive: the previous page's last
			}
			for _, a := range page {
				if len(a) < len(pre) || a[:len(pre)] != pre {
					done = true // past the prefix's range (actions are in byte order)
					break
				}
				if q.globs.Match(a) {
					actions = append(actions, a)
				}
			}
			if done || len(page) == 0 {
				break
			}
			from, first = page[len(page)-1], false
		}
	}
	sort.Strings(actions)
	return actions, nil
}
