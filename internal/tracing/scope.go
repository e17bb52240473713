package tracing

import (
	"context"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// A scope collects the spans that write evidence during one request (or
// one background store update). A span is recorded only once the evidence
// it names is durable: its ids are chosen when the evidence is stamped (the
// ids go into the ledger), and the span is created, with its start time,
// when the scope finishes (finish), after the commit. A span whose evidence
// never committed (a failed transaction, an idempotent replay that wrote
// nothing) is not recorded at all.
type scope struct {
	mu sync.Mutex
	// req is the request's span (nil outside a request), recorded by
	// StartRequest's finish after the others.
	req *op
	// order is the ops in the order they were opened; byKey indexes them
	// once there are many (a lease of many jobs).
	order []*op
	byKey map[string]*op
}

// op is one span to record.
type op struct {
	key     string
	name    string
	primary string // the event type whose ledger position the span carries
	sc      trace.SpanContext
	parent  trace.SpanContext
	links   []trace.Link
	start   time.Time
	end     time.Time // of its last commit
	attrs   []attribute.KeyValue
	events  []*cairn.Event // stamped
	at      []time.Time    // when each event became durable (zero: not durable)
	// extra are span events the op carries besides its own evidence (the
	// approval request an approval wait began with).
	extra []trace.EventOption
	// onReq marks the request span itself (recorded by the middleware);
	// own is its own id, sc the job anchor's when it became one.
	onReq bool
	own   trace.SpanContext
}

type scopeKey struct{}

func scopeFrom(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

func newScope() *scope { return &scope{} }

// find returns the op of key, or nil.
func (s *scope) find(key string) *op {
	if s.byKey != nil {
		return s.byKey[key]
	}
	for _, o := range s.order {
		if o.key == key {
			return o
		}
	}
	return nil
}

// open returns the op of key, creating it with mk when new. An op opened
// again (its next event, or a transaction retried, a decision remade)
// keeps its ids; only the events that became durable are recorded.
func (s *scope) open(key string, mk func() *op) *op {
	if o := s.find(key); o != nil {
		return o
	}
	o := mk()
	o.key = key
	s.order = append(s.order, o)
	if s.byKey != nil {
		s.byKey[key] = o
	} else if len(s.order) > 8 {
		s.byKey = make(map[string]*op, 16)
		for _, o := range s.order {
			s.byKey[o.key] = o
		}
	}
	return o
}

// add stamps ev with o's ids.
func (s *scope) add(o *op, ev *cairn.Event) {
	ev.Trace = &cairn.TraceRef{TraceID: o.sc.TraceID().String(), SpanID: o.sc.SpanID().String()}
	o.events = append(o.events, ev)
	o.at = append(o.at, time.Time{})
}

// opOf returns the op that stamped ev, or nil.
func (s *scope) opOf(ev *cairn.Event) (*op, int) {
	if o := s.req; o != nil {
		for j, e := range o.events {
			if e == ev {
				return o, j
			}
		}
	}
	for i := len(s.order) - 1; i >= 0; i-- {
		o := s.order[i]
		for j, e := range o.events {
			if e == ev {
				return o, j
			}
		}
	}
	return nil, 0
}

// committed marks ev durable (called after its transaction committed).
func (s *scope) committed(ev *cairn.Event, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, j := s.opOf(ev); o != nil {
		o.at[j] = at
		if at.After(o.end) {
			o.end = at
		}
	}
}

// finish records every op whose evidence is durable.
func (s *scope) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.order {
		if o.end.IsZero() {
			continue // nothing it stamped became durable
		}
		if o.sc.IsSampled() {
			o.record(trace.SpanKindInternal, false)
		}
	}
	s.order, s.byKey = nil, nil
}

// record creates and ends o's span with the ids chosen when it was stamped.
func (o *op) record(kind trace.SpanKind, failed bool) {
	ctx := context.Background()
	if o.parent.IsValid() {
		if o.parent.IsRemote() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, o.parent)
		} else {
			ctx = trace.ContextWithSpanContext(ctx, o.parent)
		}
	}
	ctx = withForcedIDs(ctx, o.sc.TraceID(), o.sc.SpanID())
	pick := o.pick()
	attrs := appendLedgerAttrs(make([]attribute.KeyValue, 0, len(o.attrs)+2), pick)
	attrs = append(attrs, o.attrs...)
	// Attributes are set on the span, not passed as a start option: the
	// option is one more copy, and the sampler decided at stamping.
	_, span := tracer().Start(ctx, o.name, trace.WithSpanKind(kind), trace.WithTimestamp(o.start), trace.WithLinks(o.links...))
	span.SetAttributes(attrs...)
	if failed {
		span.SetStatus(codes.Error, "")
	}
	for _, ev := range o.extra {
		span.AddEvent(EventLedgerAppend, ev)
	}
	o.otherEvents(pick, span)
	end := o.end
	if end.Before(o.start) {
		end = o.start
	}
	span.End(trace.WithTimestamp(end))
}

// otherEvents adds a cairn.ledger.append span event for every durable
// entry of o but pick (whose position the span's attributes carry).
func (o *op) otherEvents(pick *cairn.Event, span trace.Span) {
	for j, e := range o.events {
		if e != pick && !o.at[j].IsZero() {
			span.AddEvent(EventLedgerAppend, trace.WithTimestamp(o.at[j]), trace.WithAttributes(entryAttrs(e)...))
		}
	}
}

// pick is the op's main durable entry: the first of its primary type, else
// its first.
func (o *op) pick() *cairn.Event {
	var pick *cairn.Event
	for j, e := range o.events {
		if o.at[j].IsZero() || e.Ledger == nil {
			continue
		}
		if pick == nil || (e.Type == o.primary && pick.Type != o.primary) {
			pick = e
		}
	}
	return pick
}

// appendLedgerAttrs appends cairn.ledger.index and leaf_hash of e (nothing
// for nil) to dst.
func appendLedgerAttrs(dst []attribute.KeyValue, e *cairn.Event) []attribute.KeyValue {
	if e == nil {
		return dst
	}
	return append(dst, AttrLedgerIndex.Int64(int64(e.Ledger.Index)), AttrLedgerLeafHash.String(e.Ledger.LeafHash))
}

// entryAttrs describe one ledger entry (a cairn.ledger.append span event).
func entryAttrs(e *cairn.Event) []attribute.KeyValue {
	out := []attribute.KeyValue{AttrLedgerEventType.String(e.Type)}
	if e.Ledger != nil {
		out = append(out, AttrLedgerIndex.Int64(int64(e.Ledger.Index)), AttrLedgerLeafHash.String(e.Ledger.LeafHash))
	}
	return out
}
