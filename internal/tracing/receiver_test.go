package tracing_test

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP/HTTP trace receiver: it decodes each export request
// (binary protobuf, as the OTLP specification defines it) with the OTLP
// proto module and keeps the spans.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	spans    []*tracepb.Span
	service  []string // service.name of each resource received
	requests int
	bad      []string
	// keep false: count spans only (benchmarks).
	keep  bool
	count int
}

func newReceiver(t testing.TB, keep bool) *receiver {
	rc := &receiver{keep: keep}
	rc.Server = httptest.NewServer(nethttp.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w nethttp.ResponseWriter, r *nethttp.Request) {
	fail := func(why string) {
		rc.mu.Lock()
		rc.bad = append(rc.bad, why)
		rc.mu.Unlock()
		nethttp.Error(w, why, 400)
	}
	if r.Method != "POST" || r.URL.Path != "/v1/traces" {
		fail(r.Method + " " + r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		fail("content-type " + ct)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			fail("gzip")
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		fail("read")
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		fail("protobuf: " + err.Error())
		return
	}
	rc.mu.Lock()
	rc.requests++
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				rc.service = append(rc.service, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			rc.count += len(ss.Spans)
			if rc.keep {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// received returns the spans received so far.
func (rc *receiver) received() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...)
}

func hexID(b []byte) string { return hex.EncodeToString(b) }

// attr returns a span attribute's value as a string or int (nil if absent).
func attr(kvs []*commonpb.KeyValue, key string) any {
	for _, kv := range kvs {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue
		case *commonpb.AnyValue_IntValue:
			return v.IntValue
		}
		return kv.Value.String()
	}
	return nil
}
