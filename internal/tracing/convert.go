package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// converter turns finished spans into the OTLP messages of one export
// request, the same messages the OTLP exporter's own conversion builds
// (TestConverterMatchesStock), from arrays it keeps: after the first
// batches an export allocates only its few groups, not three objects per
// attribute and six per span. A converter is used by one export at a time.
type converter struct {
	spans  []tracepb.Span
	status []tracepb.Status
	events []tracepb.Span_Event
	links  []tracepb.Span_Link
	kvs    []commonpb.KeyValue
	vals   []commonpb.AnyValue
	strs   []commonpb.AnyValue_StringValue
	ints   []commonpb.AnyValue_IntValue
	bools  []commonpb.AnyValue_BoolValue
	dbls   []commonpb.AnyValue_DoubleValue
	// Pointer arrays the messages' repeated fields are cut from.
	spanPtrs  []*tracepb.Span
	eventPtrs []*tracepb.Span_Event
	linkPtrs  []*tracepb.Span_Link
	kvPtrs    []*commonpb.KeyValue
	ids       []byte
	// Resources and scopes, converted once.
	resources []convResource
	scopes    []convScope
	// The groups of the current conversion and each span's group.
	groups  []convGroup
	outKeys []attribute.Distinct
	gidx    []int
	// Fill positions during a conversion.
	nSpan, nEvent, nLink, nKV, nStr, nInt, nBool, nDbl, nID int
}

type convResource struct {
	key attribute.Distinct
	pb  *resourcepb.Resource
}

type convScope struct {
	scope instrumentation.Scope
	pb    *commonpb.InstrumentationScope
}

// grow returns s with length n, reallocated only when it is too short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// convert returns the messages of spans, grouped by resource and then by
// instrumentation scope in the order they first occur, or false when a
// span has an attribute the converter does not write (a slice or map
// value; the caller then uses the stock conversion).
func (c *converter) convert(spans []sdktrace.ReadOnlySpan) ([]*tracepb.ResourceSpans, bool) {
	var nSpans, nEvents, nLinks, nAttrs, nIDs int
	for _, sd := range spans {
		if sd == nil {
			continue
		}
		attrs := sd.Attributes()
		if !scalars(attrs) || !scopeScalars(sd.InstrumentationScope()) || !resourceScalars(sd.Resource()) {
			return nil, false
		}
		nSpans++
		nAttrs += len(attrs)
		nIDs += 2*len(trace.SpanID{}) + len(trace.TraceID{})
		for _, ev := range sd.Events() {
			if !scalars(ev.Attributes) {
				return nil, false
			}
			nEvents++
			nAttrs += len(ev.Attributes)
		}
		for _, l := range sd.Links() {
			if !scalars(l.Attributes) {
				return nil, false
			}
			nLinks++
			nAttrs += len(l.Attributes)
			nIDs += len(trace.SpanID{}) + len(trace.TraceID{})
		}
	}
	if nSpans == 0 {
		return nil, true
	}
	c.spans, c.status, c.spanPtrs = grow(c.spans, nSpans), grow(c.status, nSpans), grow(c.spanPtrs, nSpans)
	c.events, c.eventPtrs = grow(c.events, nEvents), grow(c.eventPtrs, nEvents)
	c.links, c.linkPtrs = grow(c.links, nLinks), grow(c.linkPtrs, nLinks)
	c.kvs, c.vals, c.kvPtrs = grow(c.kvs, nAttrs), grow(c.vals, nAttrs), grow(c.kvPtrs, nAttrs)
	c.strs, c.ints = grow(c.strs, nAttrs), grow(c.ints, nAttrs)
	c.bools, c.dbls = grow(c.bools, nAttrs), grow(c.dbls, nAttrs)
	c.ids = grow(c.ids, nIDs)
	c.nSpan, c.nEvent, c.nLink, c.nKV, c.nStr, c.nInt, c.nBool, c.nDbl, c.nID = 0, 0, 0, 0, 0, 0, 0, 0, 0

	// Group the spans, then cut each group's list of spans from spanPtrs.
	c.groups, c.outKeys, c.gidx = c.groups[:0], c.outKeys[:0], c.gidx[:0]
	var out []*tracepb.ResourceSpans
	for _, sd := range spans {
		if sd == nil {
			continue
		}
		c.gidx = append(c.gidx, c.group(&out, sd))
	}
	off := 0
	for i := range c.groups {
		g := &c.groups[i]
		g.ss.Spans = c.spanPtrs[off : off : off+g.n]
		off += g.n
	}
	i := 0
	for _, sd := range spans {
		if sd == nil {
			continue
		}
		ss := c.groups[c.gidx[i]].ss
		ss.Spans = append(ss.Spans, c.span(sd))
		i++
	}
	return out, true
}

// convGroup is the spans of one resource and instrumentation scope.
type convGroup struct {
	res   int
	scope instrumentation.Scope
	ss    *tracepb.ScopeSpans
	n     int
}

// group returns the index of sd's group, adding it (and its resource's
// message to out) when it is the first of its kind.
func (c *converter) group(out *[]*tracepb.ResourceSpans, sd sdktrace.ReadOnlySpan) int {
	res := sd.Resource()
	rkey := res.Equivalent()
	ri := -1
	for i, k := range c.outKeys {
		if k == rkey {
			ri = i
			break
		}
	}
	if ri < 0 {
		ri = len(*out)
		c.outKeys = append(c.outKeys, rkey)
		*out = append(*out, &tracepb.ResourceSpans{Resource: c.resource(res, rkey), SchemaUrl: res.SchemaURL()})
	}
	scope := sd.InstrumentationScope()
	for i := range c.groups {
		if g := &c.groups[i]; g.res == ri && g.scope == scope {
			g.n++
			return i
		}
	}
	ss := &tracepb.ScopeSpans{Scope: c.scope(scope), SchemaUrl: scope.SchemaURL}
	c.groups = append(c.groups, convGroup{res: ri, scope: scope, ss: ss, n: 1})
	(*out)[ri].ScopeSpans = append((*out)[ri].ScopeSpans, ss)
	return len(c.groups) - 1
}

// release drops the converted messages' references to the spans' data.
func (c *converter) release() {
	clear(c.strs[:c.nStr])
	clear(c.kvs[:c.nKV])
	clear(c.spans[:c.nSpan])
	clear(c.events[:c.nEvent])
	clear(c.links[:c.nLink])
	clear(c.status[:c.nSpan])
	clear(c.groups)
}

func resourceScalars(r *resource.Resource) bool {
	if r == nil {
		return true
	}
	it := r.Iter()
	for it.Next() {
		if !scalar(it.Attribute().Value) {
			return false
		}
	}
	return true
}

// resource returns the message of r, converted once per exporter.
func (c *converter) resource(r *resource.Resource, key attribute.Distinct) *resourcepb.Resource {
	if r == nil {
		return nil
	}
	for _, cr := range c.resources {
		if cr.key == key {
			return cr.pb
		}
	}
	pb := &resourcepb.Resource{Attributes: iterKVs(r.Iter())}
	if len(c.resources) >= 8 {
		c.resources = c.resources[:0]
	}
	c.resources = append(c.resources, convResource{key: key, pb: pb})
	return pb
}

// scope returns the message of s, converted once per exporter.
func (c *converter) scope(s instrumentation.Scope) *commonpb.InstrumentationScope {
	if s == (instrumentation.Scope{}) {
		return nil
	}
	for _, cs := range c.scopes {
		if cs.scope == s {
			return cs.pb
		}
	}
	pb := &commonpb.InstrumentationScope{Name: s.Name, Version: s.Version, Attributes: iterKVs(s.Attributes.Iter())}
	if len(c.scopes) >= 8 {
		c.scopes = c.scopes[:0]
	}
	c.scopes = append(c.scopes, convScope{scope: s, pb: pb})
	return pb
}

// iterKVs converts the attributes of a resource or scope into messages of
// their own (they are kept, not reused).
func iterKVs(it attribute.Iterator) []*commonpb.KeyValue {
	if it.Len() == 0 {
		return nil
	}
	var tmp converter
	n := it.Len()
	tmp.kvs, tmp.vals, tmp.kvPtrs = make([]commonpb.KeyValue, n), make([]commonpb.AnyValue, n), make([]*commonpb.KeyValue, n)
	tmp.strs, tmp.ints = make([]commonpb.AnyValue_StringValue, n), make([]commonpb.AnyValue_IntValue, n)
	tmp.bools, tmp.dbls = make([]commonpb.AnyValue_BoolValue, n), make([]commonpb.AnyValue_DoubleValue, n)
	attrs := make([]attribute.KeyValue, 0, n)
	for it.Next() {
		attrs = append(attrs, it.Attribute())
	}
	return tmp.keyValues(attrs)
}
