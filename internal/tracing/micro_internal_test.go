package tracing

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkSubmitSpans is the tracing work of one submit (request span,
// stamping its three events, recording the spans), without the store or
// the exporter's transport: with the sampler on and off.
//
//	go test -run '^$' -bench BenchmarkSubmitSpans ./internal/tracing/
func BenchmarkSubmitSpans(b *testing.B) {
	for _, sampler := range []struct {
		name string
		s    sdktrace.Sampler
	}{{"sampled", sdktrace.ParentBased(sdktrace.AlwaysSample())}, {"unsampled", sdktrace.NeverSample()}} {
		b.Run(sampler.name, func(b *testing.B) {
			bsp := sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter())
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(bsp), sdktrace.WithSampler(sampler.s), sdktrace.WithIDGenerator(idGenerator{}))
			install(tp, sampler.s, bsp, resource.Default())
			defer func() { install(nil, nil, nil, nil); tp.Shutdown(context.Background()) }()
			r := httptest.NewRequest("POST", "/api/v1/jobs", nil)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				ctx, end := StartRequest(context.Background(), r, "POST /api/v1/jobs")
				evs := []*cairn.Event{
					{Tenant: "default", Type: cairn.EventJobSubmitted, JobID: "job_0123456789", JobHash: "h", State: cairn.StateQueued},
					{Tenant: "default", Type: cairn.EventPolicyDecided, JobID: "job_0123456789", Decision: "ALLOW", Data: map[string]any{"phase": "submit"}},
				}
				Stamp(ctx, time.Now(), "4bf92f3577b34da6a3ce929d0e0e4736", evs...)
				sc := scopeFrom(ctx)
				for j, e := range evs {
					e.Ledger = &cairn.LedgerRef{Index: uint64(j), LeafHash: "ab"}
					sc.committed(time.Now(), e)
				}
				end(201)
			}
		})
	}
}
