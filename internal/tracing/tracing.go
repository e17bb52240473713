// Package tracing makes Cairn's work visible as OpenTelemetry traces: one
// span per API request, and spans for the steps that write evidence
// (cairn.job.submit, cairn.policy.evaluate, cairn.approval.wait,
// cairn.job.dispatch, cairn.job.complete). Every evidence event written
// while tracing records the trace and span ids of the span that wrote it
// (the event's "trace" member), and that span carries the event's ledger
// index and leaf hash, so an auditor can go from a trace to the evidence
// and back (docs/evidence.md §2.6, ADR 0036).
//
// Tracing is off unless an OTLP endpoint is configured (Setup); while it is
// off every function here returns at its first check.
package tracing

import (
	"sync/atomic"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of Cairn's spans.
const ScopeName = "github.com/cairnhq/cairn"

// state is the installed tracer (nil while tracing is off). The spans of
// evidence, whose every field is known when they are recorded, go to the
// provider's span processor as finished spans (op.record, ADR 0056); the
// gateway's live spans are started with tracer.
type state struct {
	tracer    trace.Tracer
	sampler   sdktrace.Sampler
	processor sdktrace.SpanProcessor
	resource  *resource.Resource
}

var current atomic.Pointer[state]

// Enabled reports whether tracing is on.
func Enabled() bool { return current.Load() != nil }

// tracer returns the installed tracer, or a no-op one.
func tracer() trace.Tracer {
	if st := current.Load(); st != nil {
		return st.tracer
	}
	return noop.NewTracerProvider().Tracer(ScopeName)
}

// install makes tp the provider of Cairn's spans (nil: tracing off); sp is
// the span processor registered with tp and res its resource.
func install(tp trace.TracerProvider, sampler sdktrace.Sampler, sp sdktrace.SpanProcessor, res *resource.Resource) {
	if tp == nil {
		current.Store(nil)
		return
	}
	current.Store(&state{tracer: tp.Tracer(ScopeName), sampler: sampler, processor: sp, resource: res})
}
