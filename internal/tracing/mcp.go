package tracing

import (
	"context"
	nethttp "net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// The MCP gateway's spans follow the GenAI and MCP semantic conventions
// (semconv v1.41.0, the newest release of the Go module that defines the
// mcp.* attributes): an "execute_tool {tool}" span per tools/call with
// gen_ai.operation.name execute_tool, gen_ai.tool.name, mcp.method.name
// tools/call and mcp.session.id. The W3C trace context travels in the MCP
// request's params._meta (traceparent, tracestate), as the MCP conventions
// say, and in HTTP headers to HTTP upstreams and to Cairn's API.

// metaCarrier reads and writes trace context in an MCP _meta object.
type metaCarrier map[string]any

func (m metaCarrier) Get(key string) string { s, _ := m[key].(string); return s }
func (m metaCarrier) Set(key, value string) { m[key] = value }
func (m metaCarrier) Keys() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// StartTool starts the execute_tool span of one MCP tools/call, a child of
// the trace context in the request's _meta. While tracing is off it only
// carries that context (so HTTP calls made with the returned context pass
// it on). end records the outcome (isError: the tool result is an error)
// and the Cairn job that governed it.
func StartTool(ctx context.Context, meta map[string]any, tool, sessionID, upstream string) (context.Context, func(isError bool, jobID string)) {
	ctx = propagator.Extract(ctx, metaCarrier(meta))
	if !Enabled() {
		return ctx, func(bool, string) {}
	}
	attrs := []attribute.KeyValue{
		semconv.GenAIOperationNameExecuteTool,
		semconv.GenAIToolName(tool),
		semconv.McpMethodNameToolsCall,
		attribute.String("cairn.mcp.upstream", upstream),
	}
	if sessionID != "" {
		attrs = append(attrs, semconv.McpSessionID(sessionID))
	}
	ctx, span := tracer().Start(ctx, "execute_tool "+tool, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	return ctx, func(isError bool, jobID string) {
		if jobID != "" {
			span.SetAttributes(AttrJobID.String(jobID))
		}
		if isError {
			span.SetStatus(codes.Error, "the tool call was refused or failed")
			span.SetAttributes(attribute.String("error.type", "tool_error"))
		}
		span.End()
	}
}

// InjectMeta returns a copy of meta whose traceparent and tracestate are
// ctx's span context (meta itself when ctx has none): what an MCP
// upstream continues the trace with.
func InjectMeta(ctx context.Context, meta map[string]any) map[string]any {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return meta
	}
	out := make(map[string]any, len(meta)+2)
	for k, v := range meta {
		out[k] = v
	}
	delete(out, "tracestate") // replaced, or dropped with the context it belonged to
	propagator.Inject(ctx, metaCarrier(out))
	return out
}

// Transport passes the trace context of each request's context on in its
// W3C traceparent and tracestate headers (nothing when it has none).
func Transport(base nethttp.RoundTripper) nethttp.RoundTripper {
	if base == nil {
		base = nethttp.DefaultTransport
	}
	return &transport{base: base}
}

type transport struct{ base nethttp.RoundTripper }

func (t *transport) RoundTrip(r *nethttp.Request) (*nethttp.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context()) // a RoundTripper must not modify its request
	propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.base.RoundTrip(r)
}

// ContextWithTraceparent returns ctx carrying the remote span context a
// W3C traceparent (and tracestate) names; ctx when it names none.
func ContextWithTraceparent(ctx context.Context, traceparent, tracestate string) context.Context {
	c := metaCarrier{"traceparent": traceparent}
	if tracestate != "" {
		c["tracestate"] = tracestate
	}
	return propagator.Extract(ctx, c)
}
