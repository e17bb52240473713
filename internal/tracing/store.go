package tracing

import (
	"context"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// WrapStore returns st with every evidence event it appends stamped with
// the span that writes it, and that span recorded once the event is
// durable. Without tracing it returns st itself: nothing is wrapped, so
// nothing is paid. A store that is a cairn.Notifier stays one.
func WrapStore(st cairn.Store) cairn.Store {
	if !Enabled() {
		return st
	}
	w := &store{Store: st}
	if n, ok := st.(cairn.Notifier); ok {
		return &notifierStore{store: w, n: n}
	}
	return w
}

type store struct{ cairn.Store }

type notifierStore struct {
	*store
	n cairn.Notifier
}

// OnQueued passes the registration on to the wrapped store.
func (s *notifierStore) OnQueued(fn func(cairn.QueuedNote)) { s.n.OnQueued(fn) }

// Unwrap returns the wrapped store.
func (s *store) Unwrap() cairn.Store { return s.Store }

// Update runs fn with a transaction that stamps the events it appends.
// Outside a traced request the update is its own scope, finished (its
// spans recorded) when it returns.
func (s *store) Update(ctx context.Context, fn func(cairn.Tx) error) error {
	if !Enabled() {
		return s.Store.Update(ctx, fn)
	}
	sc := scopeFrom(ctx)
	own := sc == nil
	if own {
		sc = newScope()
		ctx = context.WithValue(ctx, scopeKey{}, sc)
	}
	err := s.Store.Update(ctx, func(tx cairn.Tx) error {
		return fn(&stampingTx{Tx: tx, ctx: ctx, sc: sc})
	})
	if own {
		sc.finish()
	}
	return err
}

// stampingTx stamps each appended event that is not stamped yet.
type stampingTx struct {
	cairn.Tx
	ctx  context.Context
	sc   *scope
	jobs map[string]string // tenant\x00job_id -> trace_id
	// appended are the events appended so far, marked durable together by
	// one AfterCommit function.
	appended []*cairn.Event
}

// AppendEvent stamps ev (canonicalising it again if it was canonicalised
// unstamped), appends it, and marks it durable once the transaction commits.
func (t *stampingTx) AppendEvent(ev *cairn.Event) error {
	if ev.Trace == nil {
		if err := t.stamp(ev); err != nil {
			return err
		}
	}
	if err := t.Tx.AppendEvent(ev); err != nil {
		return err
	}
	if len(t.appended) == 0 {
		t.Tx.AfterCommit(t.committed)
	}
	t.appended = append(t.appended, ev)
	return nil
}

// committed marks the transaction's events durable.
func (t *stampingTx) committed() { t.sc.committed(time.Now(), t.appended...) }

func (t *stampingTx) stamp(ev *cairn.Event) error {
	var jobTrace string
	var approval *cairn.Approval
	if id := string(ev.JobID); id != "" {
		key := ev.Tenant + "\x00" + id
		tr, ok := t.jobs[key]
		if !ok {
			j, err := t.Tx.GetJob(ev.Tenant, id)
			if err != nil && !cairn.IsNotFound(err) {
				return err
			}
			if j != nil {
				tr = j.TraceID
			}
			if t.jobs == nil {
				t.jobs = map[string]string{}
			}
			t.jobs[key] = tr
		}
		jobTrace = tr
		if ev.Type == cairn.EventApprovalResolved {
			a, err := t.Tx.GetApproval(ev.Tenant, id)
			if err != nil && !cairn.IsNotFound(err) {
				return err
			}
			approval = a
		}
	}
	t.sc.mu.Lock()
	t.sc.stamp(t.ctx, ev, time.Now(), jobTrace, approval)
	t.sc.mu.Unlock()
	if ev.Canon != nil && ev.Trace != nil {
		canon, err := ledger.Canonical(ev)
		if err != nil {
			return err
		}
		ev.Canon = canon
	}
	return nil
}
