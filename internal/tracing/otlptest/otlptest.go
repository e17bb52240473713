// Package otlptest is an OTLP/HTTP trace receiver for tests: it decodes
// each export request (binary protobuf, as the OTLP specification defines
// it) with the OTLP proto module and keeps the spans.
package otlptest

import (
	"bytes"
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
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// bufs holds request bodies' buffers between requests.
var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

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
// only counts the spans, walking the protobuf wire format (for benchmarks).
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
	buf := bufs.Get().(*bytes.Buffer)
	defer bufs.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		fail("read")
		return
	}
	raw := buf.Bytes()
	if !rc.keep {
		// Benchmarks: count the spans by walking the wire format (a valid
		// ExportTraceServiceRequest or a refusal) without building the
		// messages, so that the receiver's own decoding, which a collector
		// does in another process, weighs little on the measurement.
		n, err := countSpans(raw)
		if err != nil {
			fail("protobuf: " + err.Error())
			return
		}
		rc.mu.Lock()
		rc.requests++
		rc.count += n
		rc.mu.Unlock()
		rc.ok(w)
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
	rc.ok(w)
}

// ok answers an export with an empty ExportTraceServiceResponse.
func (rc *Receiver) ok(w nethttp.ResponseWriter) {
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// countSpans counts the spans of an ExportTraceServiceRequest in its wire
// form: field 1 resource_spans, in it field 2 scope_spans, in it field 2
// spans (opentelemetry/proto/collector/trace/v1, trace/v1).
func countSpans(b []byte) (int, error) {
	n := 0
	err := eachField(b, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// eachField calls fn with the bytes of every length-delimited field num of
// message b, checking the whole message is well-formed.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		f, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if f == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(f, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
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
