package service

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
)

// Limits of the event feed (GET /api/v1/events).
const (
	DefaultEventsLimit = 1000
	MaxEventsLimit     = 10000
	// MaxEventsBytes bounds the bodies of one answer (about; at least one
	// entry is always served).
	MaxEventsBytes = 8 << 20
	// eventsChunk is how many entries the feed reads from the store at once.
	eventsChunk = 500
	// FeedRecheck is how often a waiting feed request looks at the ledger
	// again without being woken: appends by other processes sharing the
	// store (PostgreSQL replicas) wake no one here.
	FeedRecheck = 250 * time.Millisecond
)

// EventsRequest asks for the ledger entries after a position.
type EventsRequest struct {
	// After is the last index the caller has; the feed starts at After+1.
	// HasAfter false starts it at the first entry (index 0).
	After    uint64
	HasAfter bool
	Limit    int
	// Wait, when positive, is how long to wait for an entry when there is
	// none after the position yet (a long poll, at most MaxWait).
	Wait time.Duration
}

// EventsPage is an answer of the feed: entries in ledger order, and the
// tenant's ledger size when they were read.
type EventsPage struct {
	Entries []*cairn.LedgerEntry
	Size    uint64
}

// ParseEventsRequest validates the feed's query parameters (raw strings,
// "" when absent), naming the field that is wrong.
func ParseEventsRequest(after, limit, waitMS string) (EventsRequest, error) {
	req := EventsRequest{Limit: DefaultEventsLimit}
	if after != "" {
		n, err := strconv.ParseUint(after, 10, 63)
		if err != nil {
			return req, cairn.Invalid("after", "must be a non-negative integer (a ledger index)")
		}
		req.After, req.HasAfter = n, true
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxEventsLimit {
			return req, cairn.Invalid("limit", "must be an integer from 1 to %d", MaxEventsLimit)
		}
		req.Limit = n
	}
	if waitMS != "" {
		n, err := strconv.Atoi(waitMS)
		if err != nil || n < 0 || n > int(MaxWait.Milliseconds()) {
			return req, cairn.Invalid("wait_ms", "must be an integer from 0 to %d", MaxWait.Milliseconds())
		}
		req.Wait = time.Duration(n) * time.Millisecond
	}
	return req, nil
}

// Events reads the caller's tenant's ledger after req.After (auditor or
// admin). With req.Wait it waits until an entry exists there, the wait is
// over or ctx ends; an empty page is not an error.
func (s *Service) Events(ctx context.Context, p cairn.Principal, req EventsRequest) (*EventsPage, error) {
	if err := validEvents(p, req); err != nil {
		return nil, err
	}
	from := uint64(0)
	if req.HasAfter {
		from = req.After + 1
	}
	var wake <-chan struct{}
	if req.Wait > 0 {
		// Registered before the first look: an append committed after the
		// look's snapshot fires it.
		release := s.feed.add(p.Tenant)
		defer release()
		wake = s.feed.wait(p.Tenant)
	}
	deadline := time.Now().Add(req.Wait)
	for {
		var page *EventsPage
		err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			var err error
			page, err = readEventsPage(tx, p.Tenant, from, req.Limit)
			return err
		})
		if err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if len(page.Entries) > 0 || req.Wait <= 0 || left <= 0 {
			return page, nil
		}
		t := time.NewTimer(min(left, FeedRecheck))
		select {
		case <-ctx.Done():
			t.Stop()
			return page, nil
		case <-wake:
			wake = s.feed.wait(p.Tenant)
		case <-t.C:
		}
		t.Stop()
	}
}

// validEvents checks the caller's role and the request's limit and wait.
func validEvents(p cairn.Principal, req EventsRequest) error {
	if !p.Has(cairn.RoleAuditor) {
		return cairn.Forbidden(cairn.EForbidden, "the event feed needs the auditor or admin role")
	}
	if req.Limit <= 0 || req.Limit > MaxEventsLimit {
		return cairn.Invalid("limit", "must be an integer from 1 to %d", MaxEventsLimit)
	}
	if req.Wait < 0 || req.Wait > MaxWait {
		return cairn.Invalid("wait_ms", "must be an integer from 0 to %d", MaxWait.Milliseconds())
	}
	return nil
}

// readEventsPage reads the tenant's entries from index from in chunks, up
// to limit or about MaxEventsBytes of bodies (at least one entry), so a
// page of large entries stays small, and the ledger's size.
func readEventsPage(tx cairn.ReadTx, tenant string, from uint64, limit int) (*EventsPage, error) {
	page := &EventsPage{}
	next, bytes := from, 0
	for len(page.Entries) < limit && bytes < MaxEventsBytes {
		chunk := min(eventsChunk, limit-len(page.Entries))
		es, err := tx.LedgerEntries(tenant, next, chunk)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if len(page.Entries) > 0 && bytes+len(e.Body) > MaxEventsBytes {
				bytes = MaxEventsBytes
				break
			}
			page.Entries = append(page.Entries, e)
			bytes += len(e.Body)
			next = e.Index + 1
		}
		if len(es) < chunk {
			break
		}
	}
	var err error
	page.Size, err = tx.LedgerSize(tenant)
	return page, err
}

// feedWake wakes the feed requests of this process waiting on a tenant's
// ledger when an append to it commits.
type feedWake struct {
	mu sync.Mutex
	m  map[string]*feedWaiters
}

type feedWaiters struct {
	n  int
	ch chan struct{} // closed (and replaced) at each append
}

// add registers a waiter of tenant; release unregisters it.
func (f *feedWake) add(tenant string) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*feedWaiters{}
	}
	w := f.m[tenant]
	if w == nil {
		w = &feedWaiters{ch: make(chan struct{})}
		f.m[tenant] = w
	}
	w.n++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if w.n--; w.n == 0 {
			delete(f.m, tenant)
		}
	}
}

// wait returns a channel closed at the tenant's next append (nil, which
// never fires, when no waiter of the tenant is registered).
func (f *feedWake) wait(tenant string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w := f.m[tenant]; w != nil {
		return w.ch
	}
	return nil
}

// fire wakes the waiters of tenant.
func (f *feedWake) fire(tenant string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w := f.m[tenant]; w != nil {
		close(w.ch)
		w.ch = make(chan struct{})
	}
}

// update runs fn in a write transaction of the store whose ledger appends
// wake the feed's waiters of their tenant once the transaction is durable.
func (s *Service) update(ctx context.Context, fn func(cairn.Tx) error) error {
	return s.Store.Update(ctx, func(tx cairn.Tx) error {
		return fn(&feedTx{Tx: tx, s: s})
	})
}

// feedTx is a write transaction that tells the feed of its appends.
type feedTx struct {
	cairn.Tx
	s     *Service
	wakes map[string]bool
}

// AppendEvent appends ev and, at commit, wakes the feed waiters of its
// tenant (once per tenant and transaction).
func (t *feedTx) AppendEvent(ev *cairn.Event) error {
	if err := t.Tx.AppendEvent(ev); err != nil {
		return err
	}
	if !t.wakes[ev.Tenant] {
		if t.wakes == nil {
			t.wakes = map[string]bool{}
		}
		t.wakes[ev.Tenant] = true
		tenant := ev.Tenant
		t.Tx.AfterCommit(func() { t.s.feed.fire(tenant) })
	}
	return nil
}
