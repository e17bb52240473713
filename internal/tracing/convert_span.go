package tracing

import (
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// span converts one span.
func (c *converter) span(sd sdktrace.ReadOnlySpan) *tracepb.Span {
	sc := sd.SpanContext()
	st := sd.Status()
	p := &c.status[c.nSpan]
	*p = tracepb.Status{Code: statusCode(st.Code), Message: st.Description}
	s := &c.spans[c.nSpan]
	c.nSpan++
	*s = tracepb.Span{
		TraceId:                c.traceID(sc.TraceID()),
		SpanId:                 c.spanID(sc.SpanID()),
		TraceState:             sc.TraceState().String(),
		Name:                   sd.Name(),
		Kind:                   tracepb.Span_SpanKind(spanKindOf(sd.SpanKind())),
		StartTimeUnixNano:      unixNano(sd.StartTime().UnixNano()),
		EndTimeUnixNano:        unixNano(sd.EndTime().UnixNano()),
		Attributes:             c.keyValues(sd.Attributes()),
		DroppedAttributesCount: clamp32(sd.DroppedAttributes()),
		Events:                 c.spanEvents(sd.Events()),
		DroppedEventsCount:     clamp32(sd.DroppedEvents()),
		Links:                  c.spanLinks(sd.Links()),
		DroppedLinksCount:      clamp32(sd.DroppedLinks()),
		Status:                 p,
	}
	parent := sd.Parent()
	if sid := parent.SpanID(); sid.IsValid() {
		s.ParentSpanId = c.spanID(sid)
	}
	s.Flags = spanFlags(sc.TraceFlags(), parent)
	return s
}

func (c *converter) traceID(t trace.TraceID) []byte {
	b := c.ids[c.nID : c.nID+len(t) : c.nID+len(t)]
	c.nID += copy(b, t[:])
	return b
}

func (c *converter) spanID(s trace.SpanID) []byte {
	b := c.ids[c.nID : c.nID+len(s) : c.nID+len(s)]
	c.nID += copy(b, s[:])
	return b
}

// spanFlags are the W3C trace flags and whether the parent is remote, as
// OTLP's Span.flags and Link.flags carry them.
func spanFlags(f trace.TraceFlags, parent trace.SpanContext) uint32 {
	flags := uint32(f) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if parent.IsRemote() {
		flags |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	return flags
}

func (c *converter) spanEvents(evs []sdktrace.Event) []*tracepb.Span_Event {
	if len(evs) == 0 {
		return nil
	}
	out := c.eventPtrs[c.nEvent : c.nEvent+len(evs) : c.nEvent+len(evs)]
	for i, ev := range evs {
		e := &c.events[c.nEvent]
		c.nEvent++
		*e = tracepb.Span_Event{Name: ev.Name, TimeUnixNano: unixNano(ev.Time.UnixNano()),
			Attributes: c.keyValues(ev.Attributes), DroppedAttributesCount: clamp32(ev.DroppedAttributeCount)}
		out[i] = e
	}
	return out
}

func (c *converter) spanLinks(links []sdktrace.Link) []*tracepb.Span_Link {
	if len(links) == 0 {
		return nil
	}
	out := c.linkPtrs[c.nLink : c.nLink+len(links) : c.nLink+len(links)]
	for i, ln := range links {
		l := &c.links[c.nLink]
		c.nLink++
		*l = tracepb.Span_Link{TraceId: c.traceID(ln.SpanContext.TraceID()), SpanId: c.spanID(ln.SpanContext.SpanID()),
			Attributes: c.keyValues(ln.Attributes), DroppedAttributesCount: clamp32(ln.DroppedAttributeCount),
			Flags: spanFlags(ln.SpanContext.TraceFlags(), ln.SpanContext)}
		out[i] = l
	}
	return out
}

// keyValues converts scalar attributes (convert checked that they are).
func (c *converter) keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := c.kvPtrs[c.nKV : c.nKV+len(attrs) : c.nKV+len(attrs)]
	for i, a := range attrs {
		v := &c.vals[c.nKV]
		*v = commonpb.AnyValue{}
		switch a.Value.Type() {
		case attribute.STRING:
			x := &c.strs[c.nStr]
			c.nStr++
			x.StringValue = a.Value.AsString()
			v.Value = x
		case attribute.INT64:
			x := &c.ints[c.nInt]
			c.nInt++
			x.IntValue = a.Value.AsInt64()
			v.Value = x
		case attribute.BOOL:
			x := &c.bools[c.nBool]
			c.nBool++
			x.BoolValue = a.Value.AsBool()
			v.Value = x
		case attribute.FLOAT64:
			x := &c.dbls[c.nDbl]
			c.nDbl++
			x.DoubleValue = a.Value.AsFloat64()
			v.Value = x
		}
		kv := &c.kvs[c.nKV]
		c.nKV++
		*kv = commonpb.KeyValue{Key: string(a.Key), Value: v}
		out[i] = kv
	}
	return out
}

func statusCode(c codes.Code) tracepb.Status_StatusCode {
	switch c {
	case codes.Ok:
		return tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		return tracepb.Status_STATUS_CODE_ERROR
	}
	return tracepb.Status_STATUS_CODE_UNSET
}

// spanKindOf is the OTLP number of k (both follow the same order; an
// unknown kind is unspecified).
func spanKindOf(k trace.SpanKind) int32 {
	if k < trace.SpanKindInternal || k > trace.SpanKindConsumer {
		return int32(tracepb.Span_SPAN_KIND_UNSPECIFIED)
	}
	return int32(k)
}

func unixNano(n int64) uint64 { return uint64(max(0, n)) }

func clamp32(n int) uint32 {
	if n < 0 {
		return 0
	}
	return uint32(min(int64(n), math.MaxUint32))
}
