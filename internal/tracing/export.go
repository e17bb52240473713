package tracing

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// spanExporter is the OTLP exporter with a cheaper conversion to OTLP
// messages (ADR 0051). It sends through the OTLP exporter's own client
// (otlptracehttp.NewClient or otlptracegrpc.NewClient, which read the
// OTEL_EXPORTER_OTLP_* settings, retry, compress and time out as they
// always do), but builds the request's messages in arrays it keeps from
// one export to the next instead of three allocations per attribute. A
// batch it does not convert (an attribute whose value is a slice or a map)
// goes through the stock exporter, stock, whose client is the same.
type spanExporter struct {
	stock  *otlptrace.Exporter
	client otlptrace.Client
}

// shared is the converter of every exporter in the process (one at a time:
// the messages are reused), so that an exporter set up again (tests,
// benchmarks) starts with arrays already grown. It keeps the messages of
// the largest batch (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512 spans by default:
// about 1 MB).
var shared struct {
	mu   sync.Mutex
	conv converter
}

var _ sdktrace.SpanExporter = (*spanExporter)(nil)

// newExporter starts client and returns the exporter sending through it.
func newExporter(ctx context.Context, client otlptrace.Client) (*spanExporter, error) {
	stock, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, err
	}
	return &spanExporter{stock: stock, client: client}, nil
}

// ExportSpans converts spans to OTLP and uploads them.
func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	rs, ok := shared.conv.convert(spans)
	if !ok {
		return e.stock.ExportSpans(ctx, spans)
	}
	if len(rs) == 0 {
		return nil
	}
	// The client marshals the messages before it returns (and retries
	// with those bytes): the converter may reuse them afterwards.
	err := e.client.UploadTraces(ctx, rs)
	shared.conv.release()
	if err != nil {
		return fmt.Errorf("traces export: %w", err)
	}
	return nil
}

// Shutdown stops the client.
func (e *spanExporter) Shutdown(ctx context.Context) error { return e.stock.Shutdown(ctx) }

// scalar reports whether v is a kind the converter writes itself.
func scalar(v attribute.Value) bool {
	switch v.Type() {
	case attribute.EMPTY, attribute.BOOL, attribute.INT64, attribute.FLOAT64, attribute.STRING:
		return true
	}
	return false
}

func scalars(kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if !scalar(kv.Value) {
			return false
		}
	}
	return true
}

// scopeScalars reports whether the scope's attributes are all scalars.
func scopeScalars(s instrumentation.Scope) bool {
	it := s.Attributes.Iter()
	for it.Next() {
		if !scalar(it.Attribute().Value) {
			return false
		}
	}
	return true
}
