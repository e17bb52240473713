package tracing

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps a copy of every request.
type captureClient struct {
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func (c *captureClient) Start(context.Context) error { return nil }
func (c *captureClient) Stop(context.Context) error  { return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Marshal now, as the real clients do before they return: the
	// converter reuses its messages afterwards.
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return err
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return err
	}
	c.reqs = append(c.reqs, &req)
	return nil
}

// testBatch builds n spans of every shape the converter handles: parents
// local and remote, links, span events, status, trace state, attributes
// of each scalar kind, two instrumentation scopes, and with extra an
// attribute whose value is a slice (the stock conversion's case).
func testBatch(t *testing.T, res *resource.Resource, n int, extra bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	ts, err := trace.ParseTraceState("vendor=x,other=y")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 123)
	var out []sdktrace.ReadOnlySpan
	for i := 0; i < n; i++ {
		tid := trace.TraceID{1, byte(i), 3}
		cfg := trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{9, byte(i)}, TraceFlags: trace.FlagsSampled}
		if i%4 == 1 {
			cfg.TraceState = ts // a request's tracestate
		}
		sc := trace.NewSpanContext(cfg)
		stub := tracetest.SpanStub{
			Name: fmt.Sprintf("span %d", i), SpanContext: sc, SpanKind: trace.SpanKind(i % 6),
			StartTime: t0.Add(time.Duration(i) * time.Millisecond), EndTime: t0.Add(time.Duration(i+3) * time.Millisecond),
			Attributes: []attribute.KeyValue{AttrJobID.String(fmt.Sprint("job-", i)), AttrLedgerIndex.Int64(int64(i)),
				attribute.Bool("b", i%2 == 0), attribute.Float64("f", float64(i)/3), {Key: "empty"}},
			Resource:             res,
			InstrumentationScope: instrumentation.Scope{Name: ScopeName},
			DroppedAttributes:    i % 2,
		}
		switch i % 4 {
		case 1:
			stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{7}, Remote: true})
			stub.Links = []sdktrace.Link{{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{5}, SpanID: trace.SpanID{6}, Remote: true, TraceState: ts}),
				Attributes: []attribute.KeyValue{attribute.String("l", "v")}, DroppedAttributeCount: 1}}
			stub.Status = sdktrace.Status{Code: codes.Error, Description: "boom"}
		case 2:
			stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{8}})
			stub.Events = []sdktrace.Event{{Name: EventLedgerAppend, Time: t0, Attributes: []attribute.KeyValue{AttrLedgerLeafHash.String("ab")}},
				{Name: "bare", Time: t0.Add(time.Second), DroppedAttributeCount: 2}}
			stub.Status = sdktrace.Status{Code: codes.Ok}
			stub.DroppedEvents, stub.DroppedLinks = 1, 2
		case 3:
			stub.InstrumentationScope = instrumentation.Scope{Name: "other", Version: "1.2", SchemaURL: "https://example.com/s"}
			stub.Attributes = nil
		}
		if extra && i == n-1 {
			stub.Attributes = append(stub.Attributes, attribute.StringSlice("list", []string{"a", "b"}))
		}
		out = append(out, stub.Snapshot())
	}
	return out
}

// TestConverterMatchesStock sends the same batches through the OTLP
// exporter's own conversion and through Cairn's, and requires the same
// requests: batches of growing and shrinking size (the converter reuses
// its arrays), and one with a slice attribute (handed to the stock path).
func TestConverterMatchesStock(t *testing.T) {
	ctx := context.Background()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "cairn-test"), attribute.Int("n", 2))
	stockClient, ourClient := &captureClient{}, &captureClient{}
	stock, err := otlptrace.New(ctx, stockClient)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := newExporter(ctx, ourClient)
	if err != nil {
		t.Fatal(err)
	}
	batches := [][]sdktrace.ReadOnlySpan{
		testBatch(t, res, 3, false), testBatch(t, res, 40, false), testBatch(t, res, 5, false),
		testBatch(t, res, 9, true), testBatch(t, nil, 4, false), {},
	}
	for i, b := range batches {
		if err := stock.ExportSpans(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := ours.ExportSpans(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(stockClient.reqs) != len(ourClient.reqs) {
			t.Fatalf("batch %d: %d requests from the stock conversion, %d from ours", i, len(stockClient.reqs), len(ourClient.reqs))
		}
	}
	if len(ourClient.reqs) != 5 {
		t.Fatalf("%d requests, want 5 (an empty batch sends none)", len(ourClient.reqs))
	}
	for i := range stockClient.reqs {
		if !proto.Equal(stockClient.reqs[i], ourClient.reqs[i]) {
			t.Errorf("batch %d differs:\nstock %v\nours  %v", i, stockClient.reqs[i], ourClient.reqs[i])
		}
	}
	if n := len(ourClient.reqs[1].ResourceSpans[0].ScopeSpans); n != 2 {
		t.Errorf("%d scopes in the second batch, want 2", n)
	}
	if err := ours.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConverterReuses checks that after the first batch a conversion of
// the same size allocates only its groups, and that the bytes are the
// same each time (the messages are rebuilt in place).
func TestConverterReuses(t *testing.T) {
	res := resource.NewWithAttributes("", attribute.String("service.name", "cairn-test"))
	batch := testBatch(t, res, 64, false)
	var c converter
	marshal := func() []byte {
		rs, ok := c.convert(batch)
		if !ok {
			t.Fatal("a scalar batch was not converted")
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
		if err != nil {
			t.Fatal(err)
		}
		c.release()
		return b
	}
	first := marshal()
	if string(marshal()) != string(first) {
		t.Fatal("a second conversion of the same batch gave other bytes")
	}
	if _, _, n := protowire.ConsumeField(first); n <= 0 {
		t.Fatal("the request does not parse")
	}
	allocs := testing.AllocsPerRun(20, func() {
		rs, _ := c.convert(batch)
		_ = rs
		c.release()
	})
	// One ResourceSpans, two ScopeSpans, their span lists and the group
	// bookkeeping: a handful whatever the batch's size (64 spans, 256
	// attributes), plus the text of each of the 16 non-empty trace states.
	if allocs > 16+8 {
		t.Errorf("a conversion of 64 spans allocates %.0f times, want at most 24", allocs)
	}
}
