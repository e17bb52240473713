package tracing

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// cairnScope is the instrumentation scope of Cairn's spans.
var cairnScope = instrumentation.Scope{Name: ScopeName}

// finished is a span of evidence as the span processor gets it (ADR 0056):
// complete when it is recorded, with nothing dropped and no children
// counted. It holds only what the exporter reads, without the copy
// tracetest's snapshot makes of every field.
type finished struct {
	// ReadOnlySpan's unexported method (never called) comes from the
	// embedded interface, as the SDK's own test snapshots do.
	sdktrace.ReadOnlySpan

	name       string
	sc, parent trace.SpanContext
	kind       trace.SpanKind
	start, end time.Time
	attrs      []attribute.KeyValue
	events     []sdktrace.Event
	links      []sdktrace.Link
	failed     bool
	res        *resource.Resource
}

// Name returns the span's name.
func (f *finished) Name() string { return f.name }

// SpanContext returns the span's ids, flags and trace state.
func (f *finished) SpanContext() trace.SpanContext { return f.sc }

// Parent returns the parent's span context (invalid for a root).
func (f *finished) Parent() trace.SpanContext { return f.parent }

// SpanKind returns the span's kind.
func (f *finished) SpanKind() trace.SpanKind { return f.kind }

// StartTime returns when the span began.
func (f *finished) StartTime() time.Time { return f.start }

// EndTime returns when the span ended.
func (f *finished) EndTime() time.Time { return f.end }

// Attributes returns the span's attributes, one per key.
func (f *finished) Attributes() []attribute.KeyValue { return f.attrs }

// Links returns the span's links.
func (f *finished) Links() []sdktrace.Link { return f.links }

// Events returns the span's events.
func (f *finished) Events() []sdktrace.Event { return f.events }

// Status is Error for a request that answered 5xx, otherwise unset.
func (f *finished) Status() sdktrace.Status {
	if f.failed {
		return sdktrace.Status{Code: codes.Error}
	}
	return sdktrace.Status{}
}

// InstrumentationScope returns Cairn's scope.
func (f *finished) InstrumentationScope() instrumentation.Scope { return cairnScope }

// InstrumentationLibrary returns Cairn's scope under its old name.
//
//lint:ignore SA1019 sdktrace.ReadOnlySpan still requires the method.
func (f *finished) InstrumentationLibrary() instrumentation.Library { return cairnScope }

// Resource returns the provider's resource.
func (f *finished) Resource() *resource.Resource { return f.res }

// DroppedAttributes is 0: nothing is dropped.
func (f *finished) DroppedAttributes() int { return 0 }

// DroppedLinks is 0: nothing is dropped.
func (f *finished) DroppedLinks() int { return 0 }

// DroppedEvents is 0: nothing is dropped.
func (f *finished) DroppedEvents() int { return 0 }

// ChildSpanCount is 0: the span's children are recorded on their own.
func (f *finished) ChildSpanCount() int { return 0 }
