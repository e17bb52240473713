package mcpgw

import (
	"context"
	"strings"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/tracing"
	"go.opentelemetry.io/otel/trace"
)

// upstreamTrace is the trace context an upstream continues: the call's
// (its execute_tool span, or the client's _meta traceparent), else the
// job's dispatch from the lease answer. It returns the context to call
// the upstream with (HTTP upstreams get it in their headers) and the
// request _meta carrying it.
func upstreamTrace(ctx context.Context, meta map[string]any, leased *cairn.LeasedJob) (context.Context, map[string]any) {
	if !trace.SpanContextFromContext(ctx).IsValid() && leased != nil && leased.Traceparent != "" {
		ctx = tracing.ContextWithTraceparent(ctx, leased.Traceparent, leased.Tracestate)
	}
	return ctx, tracing.InjectMeta(ctx, meta)
}

// sessionID is the MCP session id of s ("" before it is known).
func (s *session) sessionID() string { return strings.TrimPrefix(s.runID(), "mcp-") }

// jobID is the id of the call's job ("" when none was recorded).
func (c *call) jobID() string {
	if c.job == nil {
		return ""
	}
	return c.job.JobID
}
