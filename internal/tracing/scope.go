package tracing

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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
	// reqOp holds req (one allocation for the scope and its request).
	reqOp op
	// order is the ops in the order they were opened; byKey indexes them
	// once there are many (a lease of many jobs).
	order []*op
	byKey map[string]*op
	// anchor is the last job anchor stamping worked out (scope.jobAnchor).
	anchor anchorMemo
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
	// firstEvent and firstAt hold events and at while the op has stamped
	// one event (most ops stamp one): no allocation for them.
	firstEvent [1]*cairn.Event
	firstAt    [1]time.Time
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
	ev.Trace = traceRef(o.sc.TraceID(), o.sc.SpanID())
	if o.events == nil {
		o.events, o.at = o.firstEvent[:0], o.firstAt[:0]
	}
	o.events = append(o.events, ev)
	o.at = append(o.at, time.Time{})
}

// traceRef is an event's "trace" member: both ids in hex, cut from one
// string.
func traceRef(t trace.TraceID, sid trace.SpanID) *cairn.TraceRef {
	var buf [2 * (len(trace.TraceID{}) + len(trace.SpanID{}))]byte
	n := hex.Encode(buf[:], t[:])
	hex.Encode(buf[n:], sid[:])
	ids := string(buf[:])
	return &cairn.TraceRef{TraceID: ids[:n], SpanID: ids[n:]}
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

// committed marks evs durable (called after their transaction committed).
func (s *scope) committed(at time.Time, evs ...*cairn.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		if o, j := s.opOf(ev); o != nil {
			o.at[j] = at
			if at.After(o.end) {
				o.end = at
			}
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

// record hands o's span, with the ids chosen when it was stamped, to the
// span processor as a finished span (ADR 0056). Every field of it is known
// by now, so it does not go through the SDK's live span (Start, SetAttributes,
// End and its snapshot): the processor gets the one record it exports. Its
// trace state is its parent's, as the SDK's samplers give a child; whether
// it is sampled was decided when it was stamped.
func (o *op) record(kind trace.SpanKind, failed bool) {
	st := current.Load()
	if st == nil {
		return
	}
	pick := o.pick()
	end := o.end
	if end.Before(o.start) {
		end = o.start
	}
	sc := o.sc
	if o.parent.IsValid() {
		sc = sc.WithTraceState(o.parent.TraceState())
	}
	st.processor.OnEnd(&finished{
		name: o.name, sc: sc, parent: o.parent, kind: kind, start: o.start, end: end,
		// o is done with: its attributes take the ledger's in place.
		attrs:  dedupeAttrs(appendLedgerAttrs(o.attrs, pick)),
		events: o.spanEvents(pick),
		links:  spanLinks(o.links),
		failed: failed,
		res:    st.resource,
	})
}

// spanEvents are o's span events: the extra ones, then a
// cairn.ledger.append for every durable entry of o but pick (whose
// position the span's attributes carry).
func (o *op) spanEvents(pick *cairn.Event) []sdktrace.Event {
	var out []sdktrace.Event
	for _, opts := range o.extra {
		cfg := trace.NewEventConfig(opts)
		out = append(out, sdktrace.Event{Name: EventLedgerAppend, Attributes: cfg.Attributes(), Time: cfg.Timestamp()})
	}
	for j, e := range o.events {
		if e != pick && !o.at[j].IsZero() {
			out = append(out, sdktrace.Event{Name: EventLedgerAppend, Attributes: entryAttrs(e), Time: o.at[j]})
		}
	}
	return out
}

// spanLinks converts links to the SDK's form.
func spanLinks(links []trace.Link) []sdktrace.Link {
	if len(links) == 0 {
		return nil
	}
	out := make([]sdktrace.Link, len(links))
	for i, l := range links {
		out[i] = sdktrace.Link{SpanContext: l.SpanContext, Attributes: l.Attributes}
	}
	return out
}

// dedupeAttrs keeps one attribute per key, in the place of its first
// occurrence with the value of its last, as the SDK's span does (an op
// that wrote two entries may have set a key twice).
func dedupeAttrs(attrs []attribute.KeyValue) []attribute.KeyValue {
	out := attrs[:0]
next:
	for _, a := range attrs {
		for i := range out {
			if out[i].Key == a.Key {
				out[i] = a
				continue next
			}
		}
		out = append(out, a)
	}
	return out
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
