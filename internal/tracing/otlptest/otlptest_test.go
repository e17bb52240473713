package otlptest

import (
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestCountSpans: the wire-format count agrees with a full decode, and
// malformed input is refused.
func TestCountSpans(t *testing.T) {
	req := &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "a"}, {Name: "b"}}}, {Spans: []*tracepb.Span{{Name: "c"}}}}},
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "d", TraceId: make([]byte, 16)}}}}},
	}}
	raw, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := countSpans(raw); err != nil || n != 4 {
		t.Fatalf("countSpans = %d, %v; want 4", n, err)
	}
	if _, err := countSpans(raw[:len(raw)-3]); err == nil {
		t.Fatal("a truncated request was counted")
	}
}
