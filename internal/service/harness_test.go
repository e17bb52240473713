package service

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// t0 is when every fake clock starts.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// clockPolicy allows tool.* and db.read, asks an approver (within an hour)
// for db.write, and denies the rest.
const clockPolicy = `default: deny
rules:
  - id: writes-need-approval
    match: {actions: ["db.write"]}
    decision: REQUIRE_APPROVAL
    reason: writes need approval
    approval: {approver_roles: [approver], expires_in: 1h}
  - id: tools
    match: {actions: ["tool.*", "db.read"]}
    decision: ALLOW
    reason: test
`

var (
	hAgent    = cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{cairn.RoleAgent}}
	hWorker   = cairn.Principal{Tenant: "default", ID: "worker", Kind: "service", Roles: []string{cairn.RoleWorker}}
	hApprover = cairn.Principal{Tenant: "default", ID: "manager", Kind: "human", Roles: []string{cairn.RoleApprover}}
	hAdmin    = cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{cairn.RoleAdmin, cairn.RolePolicyAdmin}}
)

// harness is a Service on a fresh SQLite store with a fake clock and no
// background loops: a test moves time with advance and does the expiry
// loop's work with sweep.
type harness struct {
	t     *testing.T
	s     *Service
	clock *fakeClock
	ctx   context.Context
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, clock: &fakeClock{t: t0}, ctx: context.Background()}
	h.s = New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	h.s.SetClock(h.clock.Now)
	if _, err := h.s.Bootstrap(h.ctx, "cairn_test_admin_key_00000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Publish(h.ctx, hAdmin, cairn.PublishRequest{Bundle: clockPolicy}); err != nil {
		t.Fatal(err)
	}
	return h
}

// advance moves the fake clock.
func (h *harness) advance(d time.Duration) { h.clock.Advance(d) }

// sweep does what the expiry loop does when it wakes: expires what is due
// and returns the next deadline.
func (h *harness) sweep() time.Time { return h.s.expireDue() }

func (h *harness) job(id string) *cairn.Job {
	h.t.Helper()
	var j *cairn.Job
	if err := h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
		var err error
		j, err = tx.GetJob("default", id)
		return err
	}); err != nil {
		h.t.Fatalf("job %s: %v", id, err)
	}
	return j
}

func (h *harness) run(id string) *cairn.Run {
	h.t.Helper()
	var r *cairn.Run
	if err := h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
		var err error
		r, err = tx.GetRun("default", id)
		return err
	}); err != nil {
		h.t.Fatalf("run %s: %v", id, err)
	}
	return r
}

// events lists the types of the events about a job, or a run, in order.
func (h *harness) events(f cairn.EventFilter) string {
	h.t.Helper()
	var evs []*cairn.Event
	f.Limit = 1000
	if err := h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
		var err error
		evs, err = tx.ListEvents("default", f)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return strings.Join(types, " ")
}

// lease leases the queued jobs of action (at most 10), without waiting.
func (h *harness) lease(action string) []*cairn.LeasedJob {
	h.t.Helper()
	js, err := h.s.Lease(h.ctx, hWorker, cairn.LeaseRequest{Actions: []string{action}, Max: 10})
	if err != nil {
		h.t.Fatalf("lease %s: %v", action, err)
	}
	return js
}

// errCode is err's code: "" for none, the cairn code otherwise.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	return cairn.ErrorCode(err)
}
