package service

import (
	"sync"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
)

// waiter is a long-polling lease: it wakes for jobs of its tenant whose
// action its globs match and, if it names a job, for that job.
type waiter struct {
	tenant string
	globs  *policy.ActionGlobs
	jobID  string        // the job a lease by job_id waits for
	ch     chan struct{} // capacity 1: a wake-up is never lost, never blocks
}

func (w *waiter) wants(n cairn.QueuedNote) bool {
	switch {
	case n.Tenant == "":
		return true // the notifier lost track: everyone looks
	case n.Tenant != w.tenant:
		return false
	case n.JobID != "":
		// Bound to an executor: only a lease naming it may take it. (A
		// lease by job_id of an unbound job wakes by action below: notes
		// of unbound jobs do not name them.)
		return n.JobID == w.jobID
	}
	return w.globs.Match(n.Action)
}

// waiters are the long polls of this process, by tenant.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[*waiter]struct{}
}

func (ws *waiters) add(w *waiter) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = map[string]map[*waiter]struct{}{}
	}
	t := ws.m[w.tenant]
	if t == nil {
		t = map[*waiter]struct{}{}
		ws.m[w.tenant] = t
	}
	t[w] = struct{}{}
}

func (ws *waiters) remove(w *waiter) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	t := ws.m[w.tenant]
	delete(t, w)
	if len(t) == 0 {
		delete(ws.m, w.tenant)
	}
}

// wake wakes the waiters that want n: those of its tenant whose globs
// match its action (every waiter for an empty note).
func (ws *waiters) wake(n cairn.QueuedNote) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if n.Tenant == "" {
		for _, t := range ws.m {
			for w := range t {
				w.poke()
			}
		}
		return
	}
	for w := range ws.m[n.Tenant] {
		if w.wants(n) {
			w.poke()
		}
	}
}

func (w *waiter) poke() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// announceQueued wakes, once tx is durable, the long polls of this process
// that want j, which became QUEUED in tx. A shared store tells the other
// processes (cairn.Notifier).
func (s *Service) announceQueued(tx cairn.Tx, j *cairn.Job) {
	n := cairn.QueuedNote{Tenant: j.Tenant, Action: j.Action}
	if j.Executor != "" {
		n.JobID = j.JobID
	}
	tx.AfterCommit(func() { s.waiters.wake(n) })
}

// claims are the queued jobs that leases of this process are dispatching:
// a lease skips them rather than queue behind a sibling in the writer only
// to find them taken.
type claims struct {
	mu     sync.Mutex
	jobs   map[string]struct{} // tenant "\x00" job_id
	tenant map[string]int
}

func claimKey(j *cairn.Job) string { return j.Tenant + "\x00" + j.JobID }

// count is how many of the tenant's jobs are being claimed.
func (c *claims) count(tenant string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tenant[tenant]
}

// take claims up to max of cands that no other lease of this process is
// claiming, and returns them.
func (c *claims) take(tenant string, cands []candidate, max int) []candidate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jobs == nil {
		c.jobs, c.tenant = map[string]struct{}{}, map[string]int{}
	}
	var out []candidate
	for _, cd := range cands {
		if len(out) == max {
			break
		}
		k := claimKey(cd.job)
		if _, taken := c.jobs[k]; taken {
			continue
		}
		c.jobs[k] = struct{}{}
		out = append(out, cd)
	}
	c.tenant[tenant] += len(out)
	return out
}

func (c *claims) release(tenant string, cands []candidate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cd := range cands {
		delete(c.jobs, claimKey(cd.job))
	}
	if c.tenant[tenant] -= len(cands); c.tenant[tenant] <= 0 {
		delete(c.tenant, tenant)
	}
}
