package tracing

import (
	"context"
	nethttp "net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// propagator reads and writes W3C traceparent and tracestate.
var propagator = propagation.TraceContext{}

// noFinish is StartRequest's answer while tracing is off.
func noFinish(int) {}

// StartRequest starts the span of one API request, a child of the
// request's W3C traceparent (and tracestate) when it has one, named after
// its route ("POST /api/v1/jobs"). finish records the spans of the
// evidence the request wrote and ends the request's span with its status.
// While tracing is off it returns ctx and a no-op.
func StartRequest(ctx context.Context, r *nethttp.Request, route string) (context.Context, func(status int)) {
	if !Enabled() {
		return ctx, noFinish
	}
	ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	// route is the mux pattern: "POST /api/v1/jobs", or "unmatched".
	path := route
	if _, p, ok := strings.Cut(route, " "); ok {
		path = p
	}
	name := r.Method + " " + path
	if route == "" || route == "unmatched" {
		name, path = r.Method, ""
	}
	ctx, span := tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.HTTPRoute(path),
		semconv.URLPath(r.URL.Path),
	))
	sc := newScope(span)
	ctx = context.WithValue(ctx, scopeKey{}, sc)
	return ctx, func(status int) {
		sc.finish()
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
			span.SetAttributes(attribute.String("error.type", itoa(status)))
		}
		span.End()
	}
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
