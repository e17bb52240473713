package mcpgw_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/cairnhq/cairn/internal/tracing/otlptest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// seenTrace is what the traced upstream saw of a call's trace context.
type seenTrace struct {
	mu           sync.Mutex
	meta, header string
}

// tracedUpstream serves a "read" tool over streamable HTTP that records
// the traceparent of the call's _meta and of its HTTP request.
func tracedUpstream(t *testing.T, seen *seenTrace) string {
	s := mcp.NewServer(&mcp.Implementation{Name: "traced-upstream", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "read", Description: "reads a file"},
		func(ctx context.Context, req *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			seen.mu.Lock()
			seen.meta, _ = req.Params.Meta["traceparent"].(string)
			seen.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "contents of " + a.Path}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := r.Header.Get("traceparent"); tp != "" && r.Method == "POST" {
			seen.mu.Lock()
			seen.header = tp
			seen.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestToolCallTrace checks the gateway's execute_tool span against the
// GenAI and MCP semantic conventions, as an OTLP/HTTP receiver decoded
// it: a child of the client's _meta traceparent, passed on to the upstream
// in its _meta and its HTTP headers, and to Cairn's API (whose request
// span is its child).
func TestToolCallTrace(t *testing.T) {
	rc := otlptest.New(t, true)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", "cairn-mcp-test")
	shutdown, err := tracing.Setup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	flushed := false
	flush := func() {
		if !flushed {
			flushed = true
			shutdown(context.Background())
		}
	}
	t.Cleanup(flush)
	seen := &seenTrace{}
	f := newFixture(t, "  - name: files\n    url: "+tracedUpstream(t, seen)+"\n")
	cs := f.connectHTTP(f.serveHTTP(), "agent-a", nil)
	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "files__read", Arguments: map[string]any{"path": "/tmp/a"},
		Meta: mcp.Meta{"traceparent": "00-" + traceID + "-" + parentID + "-01"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %q", err, text(res))
	}
	job := f.job(metaJob(t, res))
	if job.TraceID != traceID {
		t.Errorf("job trace_id %q, want the _meta traceparent's %s", job.TraceID, traceID)
	}
	flush()
	if bad := rc.Refused(); len(bad) > 0 {
		t.Fatalf("receiver refused: %v", bad)
	}
	var tool *spanView
	var submits []*spanView
	for _, s := range rc.Spans() {
		if otlptest.HexID(s.TraceId) != traceID {
			continue
		}
		v := &spanView{name: s.Name, id: otlptest.HexID(s.SpanId), parent: otlptest.HexID(s.ParentSpanId), attr: func(k string) any { return otlptest.Attr(s.Attributes, k) }}
		switch s.Name {
		case "execute_tool files__read":
			tool = v
		case "POST /api/v1/jobs":
			submits = append(submits, v)
		}
	}
	if tool == nil {
		t.Fatal("no execute_tool span in the client's trace")
	}
	if tool.parent != parentID {
		t.Errorf("execute_tool parent %s, want the _meta traceparent's %s", tool.parent, parentID)
	}
	for k, want := range map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "files__read", "mcp.method.name": "tools/call", "cairn.job.id": job.JobID} {
		if got := tool.attr(k); got != want {
			t.Errorf("execute_tool %s = %v, want %v", k, got, want)
		}
	}
	if sid, _ := tool.attr("mcp.session.id").(string); sid == "" {
		t.Error("execute_tool has no mcp.session.id")
	}
	if len(submits) != 1 || submits[0].parent != tool.id {
		t.Errorf("Cairn's submit request spans %v are not the execute_tool span's children", submits)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	want := "00-" + traceID + "-" + tool.id + "-01"
	if seen.meta != want {
		t.Errorf("upstream _meta traceparent %q, want %q", seen.meta, want)
	}
	if seen.header != want || !strings.HasPrefix(seen.header, "00-") {
		t.Errorf("upstream HTTP traceparent %q, want %q", seen.header, want)
	}
}

type spanView struct {
	name, id, parent string
	attr             func(string) any
}
