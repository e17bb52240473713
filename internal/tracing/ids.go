package tracing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// idGenerator makes random trace and span ids (math/rand/v2, as the SDK's
// own generator does, without its lock). The spans of evidence do not need
// it to take their chosen ids: they are handed to the span processor whole
// (op.record, ADR 0056).
type idGenerator struct{}

var _ sdktrace.IDGenerator = idGenerator{}

func (idGenerator) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	var t trace.TraceID
	for !t.IsValid() {
		binary.NativeEndian.PutUint64(t[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t, randomSpanID()
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var s trace.SpanID
	for !s.IsValid() {
		binary.NativeEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

// JobTraceID is the OpenTelemetry trace of a job whose trace_id is id: id
// itself when it is a W3C trace id (32 lowercase hex digits, not all zero),
// which it is whenever Cairn chose it or took it from a traceparent;
// otherwise the first 16 bytes of SHA-256("cairn.trace_id" || 0x00 || id),
// so that every replica puts the job's spans in the same trace.
func JobTraceID(id string) trace.TraceID {
	if t, ok := w3cTraceID(id); ok {
		return t
	}
	h := sha256.Sum256([]byte("cairn.trace_id\x00" + id))
	var t trace.TraceID
	copy(t[:], h[:16])
	if !t.IsValid() {
		t[15] = 1
	}
	return t
}

func w3cTraceID(id string) (trace.TraceID, bool) {
	var t trace.TraceID
	if len(id) != 32 || !isLowerHex(id) {
		return t, false
	}
	hex.Decode(t[:], []byte(id))
	return t, t.IsValid()
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// derivedSpanID is the first 8 bytes of SHA-256(kind || 0x00 || tenant ||
// 0x00 || id): a span id any replica computes alike.
func derivedSpanID(kind, tenant, id string) trace.SpanID {
	var buf [160]byte // the usual input fits: no allocation
	in := append(append(append(append(append(buf[:0], kind...), 0), tenant...), 0), id...)
	h := sha256.Sum256(in)
	var s trace.SpanID
	copy(s[:], h[:8])
	if !s.IsValid() {
		s[7] = 1
	}
	return s
}

// jobSpanID is the id of a job's cairn.job.submit span, the parent of the
// job's later spans (dispatch, completion, approval wait).
func jobSpanID(tenant, jobID string) trace.SpanID {
	return derivedSpanID(SpanJobSubmit, tenant, jobID)
}

// waitSpanID is the id of the cairn.approval.wait span of an approval.
func waitSpanID(tenant, approvalID string) trace.SpanID {
	return derivedSpanID(SpanApprovalWait, tenant, approvalID)
}

// sampled asks the installed sampler whether a trace that starts with a
// span named name is sampled: for a job's spans recorded in a later request
// the decision is the sampler's for the job's trace (a ratio sampler
// decides by trace id, so every replica decides alike).
func sampled(t trace.TraceID, name string) bool {
	st := current.Load()
	if st == nil {
		return false
	}
	r := st.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: t, Name: name, Kind: trace.SpanKindInternal})
	return r.Decision == sdktrace.RecordAndSample
}

// jobAnchor is the span context of a job's submit span, as a remote parent.
func jobAnchor(tenant, jobID, traceID string) trace.SpanContext {
	t := JobTraceID(traceID)
	var flags trace.TraceFlags
	if sampled(t, SpanJobSubmit) {
		flags = trace.FlagsSampled
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: t, SpanID: jobSpanID(tenant, jobID), TraceFlags: flags, Remote: true})
}
