package mcpgw_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// oddUpstream offers tools whose names are hostile: "__" inside, unicode,
// path characters.
func oddUpstream(t *testing.T) string {
	s := mcp.NewServer(&mcp.Implementation{Name: "odd", Version: "1"}, nil)
	for _, name := range []string{"a__b", "é", "../etc", "sp ace"} {
		s.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + name}}}, nil
		})
	}
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHostileInput: odd tool names, oversized, deep and invalid arguments,
// a JSON-RPC batch and unknown methods each get a clear error, nothing
// unrecorded runs, and the gateway keeps serving.
func TestHostileInput(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n  - name: odd\n    url: "+oddUpstream(t)+"\n")
	url := f.serveHTTP()
	cs := f.connectHTTP(url, "agent-a", nil)
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	got := strings.Join(names, " ")
	if !strings.Contains(got, "odd__a__b") || strings.Contains(got, "é") || strings.Contains(got, "..") || strings.Contains(got, "sp ace") {
		t.Fatalf("tools: %s", got)
	}
	if res := call(t, cs, "odd__a__b", map[string]any{}); res.IsError || text(res) != "ran a__b" || f.job(metaJob(t, res)).Action != "mcp.odd.a__b" {
		t.Fatalf("a__b: %q", text(res))
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "odd__../etc", Arguments: map[string]any{}}); err == nil {
		t.Fatal("a tool left out of the list could be called")
	}

	before := upstreamCalls.Load()
	var jobs cairn.List[*cairn.Job]
	f.api.MustDo("auditor-1", "GET", "/api/v1/jobs?limit=1000", nil, 200, &jobs)
	jobsBefore := len(jobs.Items)
	// 2 MB of arguments: Cairn refuses the job, so nothing runs.
	res := call(t, cs, "files__read", map[string]any{"path": strings.Repeat("a", 2<<20)})
	if !res.IsError || !strings.Contains(text(res), "nothing was run") || !strings.Contains(text(res), "body_too_large") {
		t.Fatalf("2 MB: %q", text(res))
	}
	// Deep nesting.
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	status, body := raw(t, url, f.api.Keys["agent-a"], cs.ID(), `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"files__read","arguments":`+deep+`}}`)
	if status >= 500 || status < 400 && !strings.Contains(body, `"isError":true`) && !strings.Contains(body, `"error"`) {
		t.Fatalf("deep: %d %.300s", status, body)
	}
	// Invalid UTF-8.
	status, body = raw(t, url, f.api.Keys["agent-a"], cs.ID(), "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":\"files__read\",\"arguments\":{\"path\":\"\xff\xfe\"}}}")
	if status >= 500 || status < 400 && !strings.Contains(body, `"isError":true`) && !strings.Contains(body, `"error"`) {
		t.Fatalf("invalid UTF-8: %d %.300s", status, body)
	}
	// A JSON-RPC batch, and an unknown method.
	status, body = raw(t, url, f.api.Keys["agent-a"], cs.ID(), `[{"jsonrpc":"2.0","id":9,"method":"tools/list"},{"jsonrpc":"2.0","id":10,"method":"tools/list"}]`)
	if status < 400 && !strings.Contains(body, `"error"`) {
		t.Fatalf("batch: %d %.300s", status, body)
	}
	status, body = raw(t, url, f.api.Keys["agent-a"], cs.ID(), `{"jsonrpc":"2.0","id":11,"method":"tools/destroy","params":{}}`)
	if status >= 500 || status < 400 && !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown method: %d %.300s", status, body)
	}
	if upstreamCalls.Load() != before {
		t.Fatal("hostile input ran upstream")
	}
	f.api.MustDo("auditor-1", "GET", "/api/v1/jobs?limit=1000", nil, 200, &jobs)
	for _, j := range jobs.Items[:len(jobs.Items)-jobsBefore] {
		if j.State == cairn.StateSucceeded {
			t.Fatalf("hostile input produced a succeeded job: %+v", j)
		}
	}
	// Still serving.
	if res := call(t, cs, "files__read", map[string]any{"path": "/ok"}); res.IsError {
		t.Fatalf("after hostile input: %q", text(res))
	}
	f.verifyLedger()
}

// raw posts one JSON-RPC message on an existing session.
func raw(t *testing.T, url, key, session, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
