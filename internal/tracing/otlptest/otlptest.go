// Package otlptest is an OTLP/HTTP trace receiver for tests: it decodes
// each export request (binary protobuf, as the OTLP specification defines
// it) with the OTLP proto module and keeps the spans.
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver is an OTLP/HTTP trace receiver on loopback.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string // service.name of each resource received
	requests int
	bad      []string
	// keep false: count spans only (benchmarks).
	keep  bool
	count int
}

// New starts a receiver, stopped when the test ends. With keep false it
// only counts the spans (for benchmarks).
func New(t testing.TB, keep bool) *Receiver {
	rc := &Receiver{keep: keep}
	rc.Server = httptest.NewServer(nethttp.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *Receiver) serve(w nethttp.ResponseWriter, r *nethttp.Request) {
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
				rc.services = append(rc.services, kv.GetValue().GetStringValue())
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

// Spans returns the spans received so far.
func (rc *Receiver) Spans() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...)
}

// Count is the number of spans received so far.
func (rc *Receiver) Count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.count
}

// Refused lists the requests the receiver could not decode.
func (rc *Receiver) Refused() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bad...)
}

// Services lists the service.name of every resource received.
func (rc *Receiver) Services() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.services...)
}

// WaitCount waits up to d for at least n spans; it reports whether they came.
func (rc *Receiver) WaitCount(n int, d time.Duration) bool {
	end := time.Now().Add(d)
	for rc.Count() < n {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// HexID is a trace or span id in hex.
func HexID(b []byte) string { return hex.EncodeToString(b) }

// Attr returns a span attribute's value as a string or int (nil if absent).
func Attr(kvs []*commonpb.KeyValue, key string) any {
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
