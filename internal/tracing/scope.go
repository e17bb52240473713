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
	mu  sync.Mutex
	req trace.Span // the request's span, or nil
	ops map[string]*op
	// order is the ops in the order they were opened.
	order []*op
	// byEvent finds the op that stamped an event.
	byEvent map[*cairn.Event]*op
}

// op is one span to record.
type op struct {
	name    string
	primary string // the event type whose ledger position the span carries
	sc      trace.SpanContext
	parent  trace.SpanContext
	links   []trace.Link
	start   time.Time
	end     time.Time // of its last commit (or explicit)
	attrs   []attribute.KeyValue
	events  []*cairn.Event // stamped
	durable map[*cairn.Event]time.Time
	// extra are span events the op carries besides its own evidence (the
	// approval request an approval wait began with).
	extra []trace.EventOption
	// onReq marks the request span itself (recorded by the middleware).
	onReq bool
}

type scopeKey struct{}

func scopeFrom(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

func newScope(req trace.Span) *scope {
	return &scope{req: req, ops: map[string]*op{}, byEvent: map[*cairn.Event]*op{}}
}

// open returns the op of key, creating it with mk when new. An op opened
// again (its next event, or a transaction retried, a decision remade)
// keeps its ids; only the events that became durable are recorded.
func (s *scope) open(key string, mk func() *op) *op {
	if o, ok := s.ops[key]; ok {
		return o
	}
	o := mk()
	o.durable = map[*cairn.Event]time.Time{}
	s.ops[key] = o
	s.order = append(s.order, o)
	return o
}

// add stamps ev with o's ids.
func (s *scope) add(o *op, ev *cairn.Event) {
	ev.Trace = &cairn.TraceRef{TraceID: o.sc.TraceID().String(), SpanID: o.sc.SpanID().String()}
	o.events = append(o.events, ev)
	s.byEvent[ev] = o
}

// committed marks ev durable (called after its transaction committed).
func (s *scope) committed(ev *cairn.Event, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.byEvent[ev]; o != nil {
		o.durable[ev] = at
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
		if len(o.durable) == 0 {
			continue
		}
		if o.onReq {
			if s.req != nil {
				s.req.SetAttributes(o.ledgerAttrs()...)
				for _, e := range o.events {
					if at, ok := o.durable[e]; ok {
						s.req.AddEvent(EventLedgerAppend, trace.WithTimestamp(at), trace.WithAttributes(entryAttrs(e)...))
					}
				}
			}
			continue
		}
		o.record()
	}
	s.ops, s.order, s.byEvent = map[string]*op{}, nil, map[*cairn.Event]*op{}
}

// record creates and ends o's span with the ids chosen when it was stamped.
func (o *op) record() {
	ctx := context.Background()
	if o.parent.IsValid() {
		if o.parent.IsRemote() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, o.parent)
		} else {
			ctx = trace.ContextWithSpanContext(ctx, o.parent)
		}
	}
	ctx = withForcedIDs(ctx, o.sc.TraceID(), o.sc.SpanID())
	attrs := append(o.attrs, o.ledgerAttrs()...)
	_, span := tracer().Start(ctx, o.name, trace.WithTimestamp(o.start), trace.WithLinks(o.links...), trace.WithAttributes(attrs...))
	for _, ev := range o.extra {
		span.AddEvent(EventLedgerAppend, ev)
	}
	for _, e := range o.events {
		if at, ok := o.durable[e]; ok {
			span.AddEvent(EventLedgerAppend, trace.WithTimestamp(at), trace.WithAttributes(entryAttrs(e)...))
		}
	}
	span.SetStatus(codes.Ok, "")
	end := o.end
	if end.Before(o.start) {
		end = o.start
	}
	span.End(trace.WithTimestamp(end))
}

// ledgerAttrs are cairn.ledger.index and leaf_hash of the op's primary
// durable entry (its first when none is of the primary type).
func (o *op) ledgerAttrs() []attribute.KeyValue {
	var pick *cairn.Event
	for _, e := range o.events {
		if _, ok := o.durable[e]; !ok || e.Ledger == nil {
			continue
		}
		if pick == nil || (e.Type == o.primary && pick.Type != o.primary) {
			pick = e
		}
	}
	if pick == nil {
		return nil
	}
	return []attribute.KeyValue{AttrLedgerIndex.Int64(int64(pick.Ledger.Index)), AttrLedgerLeafHash.String(pick.Ledger.LeafHash)}
}

// entryAttrs describe one ledger entry (a cairn.ledger.append span event).
func entryAttrs(e *cairn.Event) []attribute.KeyValue {
	out := []attribute.KeyValue{AttrLedgerEventType.String(e.Type)}
	if e.Ledger != nil {
		out = append(out, AttrLedgerIndex.Int64(int64(e.Ledger.Index)), AttrLedgerLeafHash.String(e.Ledger.LeafHash))
	}
	return out
}
