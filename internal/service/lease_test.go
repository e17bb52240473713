package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
	"github.com/cairnhq/cairn/internal/sqlite"
)

const leasePolicy = `default: deny
rules:
  - id: allowed
    match: {actions: ["db.*", "mail.*", "unserved.*"]}
    decision: ALLOW
    reason: test
`

var (
	testAgent  = cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
	testWorker = cairn.Principal{Tenant: "default", ID: "worker", Kind: "service", Roles: []string{"worker"}}
)

func newLeaseService(t *testing.T) *Service {
	t.Helper()
	st, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	ctx := context.Background()
	if _, err := s.Bootstrap(ctx, "cairn_test_admin_key_00000000"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin"}}
	if _, err := s.Publish(ctx, admin, cairn.PublishRequest{Bundle: leasePolicy}); err != nil {
		t.Fatal(err)
	}
	return s
}

func submit(t *testing.T, s *Service, id, action string) { submitFor(t, s, id, action, "") }

// submitFor submits a job bound to executor ("" for none).
func submitFor(t *testing.T, s *Service, id, action, executor string) {
	t.Helper()
	j, _, err := s.Submit(context.Background(), testAgent, cairn.SubmitRequest{JobID: id, Action: action, Input: []byte(`{}`), Executor: executor}, "")
	if err != nil || j.State != cairn.StateQueued {
		t.Fatalf("submit %s: %v %v", id, j, err)
	}
}

func lease(t *testing.T, s *Service, req cairn.LeaseRequest) []string {
	t.Helper()
	js, err := s.Lease(context.Background(), testWorker, req)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range js {
		ids = append(ids, j.JobID)
	}
	return ids
}

// queueUnserved queues n jobs of an action no worker asks for, straight
// through the store.
func queueUnserved(t *testing.T, s *Service, n int) {
	t.Helper()
	now := cairn.Now()
	err := s.Store.Update(context.Background(), func(tx cairn.Tx) error {
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("unserved%d", i)
			if err := tx.InsertJob(&cairn.Job{JobID: id, Tenant: "default", Action: "unserved.task", State: cairn.StateQueued,
				Decision: cairn.Allow, SubmittedBy: "agent", ContextPtr: cairn.ContextPtr(id), CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A backlog of older jobs that no worker serves hides nothing: a lease by
// exact action, prefix or suffix glob finds the job it matches (it used to
// give up after 2,000 queued rows).
func TestLeaseBehindUnservedBacklog(t *testing.T) {
	s := newLeaseService(t)
	queueUnserved(t, s, 2500)
	for i, globs := range [][]string{{"db.read"}, {"db.*"}, {"*.read"}, {"nothing", "d?.r[a-e]ad"}} {
		id := fmt.Sprintf("served%d", i)
		submit(t, s, id, "db.read")
		if got := lease(t, s, cairn.LeaseRequest{Actions: globs}); len(got) != 1 || got[0] != id {
			t.Errorf("lease %q behind 2,500 unserved jobs = %v, want [%s]", globs, got, id)
		}
	}
	if got := lease(t, s, cairn.LeaseRequest{Actions: []string{"db.*", "mail.*"}}); len(got) != 0 {
		t.Errorf("lease with nothing of its actions queued = %v", got)
	}
}

// A lease takes the oldest jobs its globs match, across actions, each once.
func TestLeaseOldestFirstAcrossActions(t *testing.T) {
	s := newLeaseService(t)
	for i, a := range []string{"mail.send", "db.read", "unserved.x", "db.write", "mail.send", "db.read"} {
		submit(t, s, fmt.Sprintf("j%d", i), a)
	}
	if got := fmt.Sprint(lease(t, s, cairn.LeaseRequest{Actions: []string{"db.*", "mail.send"}, Max: 3})); got != "[j0 j1 j3]" {
		t.Errorf("first lease = %s, want [j0 j1 j3]", got)
	}
	if got := fmt.Sprint(lease(t, s, cairn.LeaseRequest{Actions: []string{"*"}, Max: 10})); got != "[j2 j4 j5]" {
		t.Errorf("second lease = %s, want [j2 j4 j5]", got)
	}
}

// Concurrent leases hand out every job exactly once.
func TestLeaseConcurrentEachJobOnce(t *testing.T) {
	s := newLeaseService(t)
	const jobs = 40
	for i := 0; i < jobs; i++ {
		submit(t, s, fmt.Sprintf("j%d", i), []string{"db.read", "mail.send"}[i%2])
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			globs := [][]string{{"*"}, {"db.*", "mail.*"}, {"*.read", "mail.send"}}[w%3]
			for {
				js, err := s.Lease(context.Background(), testWorker, cairn.LeaseRequest{Actions: globs, Max: 3})
				if err != nil {
					t.Error(err)
					return
				}
				if len(js) == 0 {
					return
				}
				mu.Lock()
				for _, j := range js {
					seen[j.JobID]++
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Errorf("%d jobs leased, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s leased %d times", id, n)
		}
	}
}

// A long poll returns the job it waits for when it is submitted, and a job
// of another action does not end it.
func TestLongPollWakesForMatchingJob(t *testing.T) {
	s := newLeaseService(t)
	done := make(chan []string)
	go func() {
		js, err := s.Lease(context.Background(), testWorker, cairn.LeaseRequest{Actions: []string{"mail.*"}, WaitMS: 20_000})
		if err != nil {
			t.Error(err)
		}
		var ids []string
		for _, j := range js {
			ids = append(ids, j.JobID)
		}
		done <- ids
	}()
	for s.waiterCount("default") == 0 {
		time.Sleep(time.Millisecond)
	}
	submit(t, s, "read", "db.read")
	submit(t, s, "mail", "mail.send")
	if got := <-done; len(got) != 1 || got[0] != "mail" {
		t.Errorf("long poll for mail.* = %v, want [mail]", got)
	}
}

func (s *Service) waiterCount(tenant string) int {
	s.waiters.mu.Lock()
	defer s.waiters.mu.Unlock()
	return len(s.waiters.m[tenant])
}

// A queued job wakes only the long polls of its tenant whose globs match
// its action; a job bound to an executor wakes none of them; an empty note
// wakes all.
func TestWakeOnlyMatchingWaiters(t *testing.T) {
	var ws waiters
	mk := func(tenant string, globs ...string) *waiter {
		w := &waiter{tenant: tenant, globs: policy.CompileActionGlobs(globs), ch: make(chan struct{}, 1)}
		ws.add(w)
		return w
	}
	dbA, mailA, anyB := mk("a", "db.*"), mk("a", "mail.*"), mk("b", "*")
	named := mk("a", "db.*")
	named.jobID = "bound"
	woke := func() string {
		var out []string
		for name, w := range map[string]*waiter{"dbA": dbA, "mailA": mailA, "anyB": anyB, "named": named} {
			select {
			case <-w.ch:
				out = append(out, name)
			default:
			}
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		note cairn.QueuedNote
		want string
	}{
		{cairn.QueuedNote{Tenant: "a", Action: "db.read"}, "dbA named"},
		{cairn.QueuedNote{Tenant: "a", Action: "other"}, ""},
		{cairn.QueuedNote{Tenant: "b", Action: "db.read"}, "anyB"},
		{cairn.QueuedNote{Tenant: "c", Action: "db.read"}, ""},
		{cairn.QueuedNote{Tenant: "a", Action: "db.read", JobID: "other"}, ""},
		{cairn.QueuedNote{Tenant: "a", Action: "db.read", JobID: "bound"}, "named"},
		{cairn.QueuedNote{Tenant: "b", Action: "db.read", JobID: "bound"}, ""},
	} {
		ws.wake(c.note)
		if got := woke(); got != c.want {
			t.Errorf("wake(%+v) woke %q, want %q", c.note, got, c.want)
		}
	}
	ws.wake(cairn.QueuedNote{})
	if got := woke(); got != "anyB dbA mailA named" {
		t.Errorf("empty note woke %q, want all four", got)
	}
	ws.remove(dbA)
	ws.wake(cairn.QueuedNote{Tenant: "a", Action: "db.read"})
	if got := woke(); got != "named" {
		t.Errorf("after removing dbA, db.read woke %q, want named", got)
	}
}

// Jobs bound to an executor are never handed out by glob, however many are
// queued; their executor leases each by naming it, and a long poll naming
// one wakes when it is queued.
func TestBoundJobsOnlyByName(t *testing.T) {
	s := newLeaseService(t)
	gateway := cairn.Principal{Tenant: "default", ID: "gateway", Kind: "service", Roles: []string{"worker"}}
	for i := 0; i < 5; i++ {
		submitFor(t, s, fmt.Sprintf("bound%d", i), "db.read", "gateway")
	}
	submit(t, s, "free", "db.read")
	if got := fmt.Sprint(lease(t, s, cairn.LeaseRequest{Actions: []string{"*"}, Max: 10})); got != "[free]" {
		t.Errorf("glob lease = %s, want [free]", got)
	}
	js, err := s.Lease(context.Background(), gateway, cairn.LeaseRequest{Actions: []string{"db.*"}, Max: 10})
	if err != nil || len(js) != 0 {
		t.Errorf("the executor's own glob lease = %v, %v; want nothing", js, err)
	}
	js, err = s.Lease(context.Background(), gateway, cairn.LeaseRequest{JobID: "bound3"})
	if err != nil || len(js) != 1 || js[0].JobID != "bound3" {
		t.Errorf("lease by job_id = %v, %v", js, err)
	}
	// A long poll naming a job not queued yet returns it once it is.
	done := make(chan []*cairn.LeasedJob)
	go func() {
		js, err := s.Lease(context.Background(), gateway, cairn.LeaseRequest{JobID: "later", WaitMS: 20_000})
		if err != nil {
			t.Error(err)
		}
		done <- js
	}()
	for s.waiterCount("default") == 0 {
		time.Sleep(time.Millisecond)
	}
	submitFor(t, s, "other", "db.read", "gateway")
	submitFor(t, s, "later", "db.read", "gateway")
	if js := <-done; len(js) != 1 || js[0].JobID != "later" {
		t.Errorf("long poll by job_id = %v", js)
	}
}
