package tracing

import (
	"context"
	nethttp "net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// propagator reads and writes W3C traceparent and tracestate.
var propagator = propagation.TraceContext{}

// requestAttrs is how many attributes every request span starts with.
const requestAttrs = 3

// noFinish is StartRequest's answer while tracing is off.
func noFinish(int) {}

// StartRequest begins the span of one API request, a child of the
// request's W3C traceparent (and tracestate) when it has one, named after
// its route ("POST /api/v1/jobs"). The span is recorded when the request
// ends (finish), with the time it began: a submit's span takes the id
// derived from the job it created (the job's anchor, docs/evidence.md
// §2.6), which is known only once the body is read, so that the job's
// later spans are its children. finish records the spans of the evidence
// the request wrote, then the request's own, with its status. While
// tracing is off it returns ctx and a no-op.
func StartRequest(ctx context.Context, r *nethttp.Request, route string) (context.Context, func(status int)) {
	st := current.Load()
	if st == nil {
		return ctx, noFinish
	}
	start := time.Now()
	if len(r.Header["Traceparent"]) > 0 {
		ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	name, path := spanName(r.Method, route)
	parent := trace.SpanContextFromContext(ctx)
	var tid trace.TraceID
	if parent.IsValid() {
		tid = parent.TraceID()
	} else {
		tid, _ = idGenerator{}.NewIDs(context.Background())
	}
	res := st.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: tid, Name: name, Kind: trace.SpanKindServer})
	var flags trace.TraceFlags
	if res.Decision == sdktrace.RecordAndSample {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: randomSpanID(), TraceFlags: flags, TraceState: parent.TraceState()})
	scope := newScope()
	scope.reqOp = op{name: name, onReq: true, sc: sc, own: sc, parent: parent, start: start}
	scope.req = &scope.reqOp
	if sc.IsSampled() {
		// Room for the job a submit names, the status (and error type) and
		// the ledger's two, without growing.
		attrs := make([]attribute.KeyValue, requestAttrs, requestAttrs+7)
		attrs[0], attrs[1], attrs[2] = semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(path), semconv.URLPath(r.URL.Path)
		scope.req.attrs = attrs
	}
	ctx = trace.ContextWithSpanContext(ctx, sc)
	ctx = context.WithValue(ctx, scopeKey{}, scope)
	return ctx, scope.finishRequest
}

// spanName names a request's span after its route, the mux pattern
// ("POST /api/v1/jobs", or "unmatched"), and returns the route's path.
func spanName(method, route string) (name, path string) {
	path = route
	if _, p, ok := strings.Cut(route, " "); ok {
		path = p
	}
	name = route // "METHOD /path" already
	if len(route) <= len(method) || route[:len(method)] != method || route[len(method)] != ' ' {
		name = method + " " + path
	}
	if route == "" || route == "unmatched" {
		name, path = method, ""
	}
	return name, path
}

// finishRequest records the spans of the evidence the request wrote, then
// the request's own with its status.
func (s *scope) finishRequest(status int) {
	s.finish()
	o := s.req
	if !o.sc.IsSampled() {
		return
	}
	if o.end.IsZero() && o.sc.SpanID() != o.own.SpanID() {
		// The job it would have been the anchor of was not written (an
		// idempotent replay, a failed transaction).
		o.sc, o.attrs = o.own, o.attrs[:requestAttrs]
	}
	o.end = time.Now()
	o.attrs = append(o.attrs, semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		o.attrs = append(o.attrs, attribute.String("error.type", itoa(status)))
	}
	o.record(trace.SpanKindServer, status >= 500)
}

// TraceID is the trace id of ctx's span, when tracing records it ("" otherwise).
func TraceID(ctx context.Context) string {
	if !Enabled() {
		return ""
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// TraceState is the W3C tracestate of ctx's span when tracing is on and
// that span belongs to trace traceID ("" otherwise), so that a job keeps
// the trace state of the request whose trace it joined.
func TraceState(ctx context.Context, traceID string) string {
	if !Enabled() {
		return ""
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.TraceID().String() == traceID {
		return sc.TraceState().String()
	}
	return ""
}

func itoa(n int) string {
	if n <= 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
