package mcpgw_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/mcpgw"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUpstreamFaults: an upstream that crashes, hangs or answers garbage
// fails its job with the reason; the client gets isError; the gateway
// keeps serving the other upstream and restarts the dead one.
func TestUpstreamFaults(t *testing.T) {
	f := newFixture(t, stdioUpstream("fragile")+stdioUpstream("steady"))
	cs := f.connectStdio(nil)
	for _, c := range []struct{ tool, reason string }{
		{"fragile__crash", "upstream \"fragile\""},
		{"fragile__slow", "did not answer within call_timeout"},
		{"fragile__garbage", "upstream \"fragile\""},
	} {
		res := call(t, cs, c.tool, map[string]any{"path": "x"})
		if !res.IsError || !strings.Contains(text(res), "the upstream failed") || !strings.Contains(text(res), c.reason) {
			t.Fatalf("%s: %q", c.tool, text(res))
		}
		j := f.job(metaJob(t, res))
		if j.State != cairn.StateFailed || !strings.Contains(string(j.Error), c.reason) {
			t.Fatalf("%s job: %s %q", c.tool, j.State, j.Error)
		}
		// The other upstream still serves, and the failed one restarts.
		if res := call(t, cs, "steady__read", map[string]any{"path": "s"}); res.IsError {
			t.Fatalf("steady after %s: %q", c.tool, text(res))
		}
		if res := call(t, cs, "fragile__read", map[string]any{"path": "f"}); res.IsError || text(res) != "contents of f" {
			t.Fatalf("fragile did not restart after %s: %q", c.tool, text(res))
		}
	}
	f.verifyLedger()
}

// TestClientCancels: notifications/cancelled while the upstream runs, or
// while the call waits for approval, cancels the job, and the evidence
// says so.
func TestClientCancels(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
	cs := f.connectHTTP(f.serveHTTP(), "agent-a", nil)
	for _, c := range []struct{ tool, path, state, wait string }{
		{"files__slow", "/tmp/slow", cairn.StateRunning, "the MCP client cancelled the call"},
		{"files__write", "/prod/cancel-me", cairn.StatePendingApproval, "the MCP client cancelled the call while it waited for approval"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: map[string]any{"path": c.path}})
			errc <- err
		}()
		id := f.jobIn(strings.Replace(strings.Replace(c.tool, "__", ".", 1), "files.", "mcp.files.", 1), c.state)
		cancel()
		if err := <-errc; err == nil {
			t.Fatalf("%s: the cancelled call returned no error", c.tool)
		}
		j := f.waitState(id, cairn.StateCancelled)
		var tl cairn.List[*cairn.Event]
		f.api.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/"+string(j.RunID)+"/timeline?limit=1000", nil, 200, &tl)
		found := false
		for _, ev := range tl.Items {
			if string(ev.JobID) == id && strings.Contains(fmt.Sprint(ev.DataMap()["reason"], ev.DataMap()["comment"]), c.wait) {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: no evidence that the client cancelled", c.tool)
		}
	}
	f.verifyLedger()
}

func (f *fixture) jobIn(action, state string) string {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var l cairn.List[*cairn.Job]
		f.api.MustDo("auditor-1", "GET", "/api/v1/jobs?action="+action+"&state="+state, nil, 200, &l)
		if len(l.Items) > 0 {
			return l.Items[0].JobID
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("no %s job in %s", action, state)
	return ""
}

// TestControlPlaneDown: with Cairn unreachable every call is refused and
// nothing runs upstream.
func TestControlPlaneDown(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
	cs := f.connectStdio(nil)
	if res := call(t, cs, "files__read", map[string]any{"path": "a"}); res.IsError {
		t.Fatalf("before: %q", text(res))
	}
	f.api.Close()
	before := upstreamCalls.Load()
	res := call(t, cs, "files__read", map[string]any{"path": "b"})
	if !res.IsError || !strings.Contains(text(res), "the control plane is unreachable; nothing was run") {
		t.Fatalf("down: %q", text(res))
	}
	if upstreamCalls.Load() != before {
		t.Fatal("a call ran upstream while Cairn was down")
	}
}

// TestHTTPAuth: no key or a bad key is 401 and nothing runs; a session
// cannot be used with another principal's key. The same with the gateway
// calling Cairn in-process.
func TestHTTPAuth(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		t.Run(fmt.Sprintf("in-process=%v", inProcess), func(t *testing.T) { testHTTPAuth(t, inProcess) })
	}
}

func testHTTPAuth(t *testing.T, inProcess bool) {
	f := newFixtureWith(t, "  - name: files\n    url: "+httpUpstream(t)+"\n", inProcess)
	url := f.serveHTTP()
	for _, key := range []string{"", "cairn_not_a_key_000000000000000000", f.api.Keys["worker-x"]} {
		c := mcp.NewClient(&mcp.Implementation{Name: "x", Version: "1"}, nil)
		hc := &http.Client{Transport: bearer{key: key, next: http.DefaultTransport}}
		if _, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil); err == nil {
			t.Fatalf("key %q: connected", key[:min(len(key), 10)])
		}
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("key %q: status %d", key[:min(len(key), 10)], resp.StatusCode)
		}
	}
	// Session hijack: agent-b's key on agent-a's session is refused.
	cs := f.connectHTTP(url, "agent-a", nil)
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"files__read","arguments":{"path":"x"}}}`))
	req.Header.Set("Authorization", "Bearer "+f.api.Keys["agent-b"])
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("another principal used agent-a's session: %d", resp.StatusCode)
	}
}

// TestConcurrentSessions: 50 concurrent calls across 5 sessions are 50
// jobs, one per call, and every session's timeline is gap-free.
func TestConcurrentSessions(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
	url := f.serveHTTP()
	var sessions []*mcp.ClientSession
	for i := 0; i < 5; i++ {
		sessions = append(sessions, f.connectHTTP(url, []string{"agent-a", "agent-b"}[i%2], nil))
	}
	var wg sync.WaitGroup
	ids := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := sessions[i%5].CallTool(context.Background(), &mcp.CallToolParams{Name: "files__read", Arguments: map[string]any{"path": fmt.Sprint("/c/", i)}})
			if err != nil || res.IsError {
				t.Errorf("call %d: %v %v", i, err, res)
				return
			}
			ids <- res.Meta["cairn/job_id"].(string)
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	runs := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("job %s answered two calls", id)
		}
		seen[id] = true
		runs[string(f.job(id).RunID)] = true
	}
	var all cairn.List[*cairn.Job]
	f.api.MustDo("auditor-1", "GET", "/api/v1/jobs?action=mcp.files.read&limit=1000", nil, 200, &all)
	if len(seen) != 50 || len(all.Items) != 50 || len(runs) != 5 {
		t.Fatalf("%d answers, %d jobs, %d runs", len(seen), len(all.Items), len(runs))
	}
	for run := range runs {
		var tl cairn.List[*cairn.Event]
		f.api.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/"+run+"/timeline?limit=1000", nil, 200, &tl)
		for i, ev := range tl.Items {
			if ev.Seq != int64(i+1) {
				t.Fatalf("run %s: gap at %d", run, i)
			}
		}
	}
	f.verifyLedger()
}

// TestConfigErrors: a bad config names its line.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"upstreams:\n  - name: a\n    comand: [x]\n", "gateway.yaml:3: field comand not found"},
		{"upstreams:\n  - name: A\n    command: [x]\n", "gateway.yaml:2: upstreams[0]: name \"A\""},
		{"upstreams:\n  - name: a__b\n    command: [x]\n", "must not contain \"__\""},
		{"upstreams:\n  - name: a\n    command: [x]\n  - name: a\n    url: http://x\n", "gateway.yaml:4: upstreams[1]: name \"a\" is used twice"},
		{"upstreams:\n  - name: a\n", "needs command (stdio) or url"},
		{"upstreams:\n  - name: a\n    command: [x]\n    url: http://x\n", "has both command and url"},
		{"upstreams:\n  - name: a\n    url: file:///etc/passwd\n", "url must start with http"},
		{"approval_wait: forever\nupstreams: []\n", "gateway.yaml:1:"},
		{"approval_wait: 2h\nupstreams:\n  - name: a\n    command: [x]\n", "approval_wait must be"},
		{"upstreams: []\n", "at least one upstream"},
		{"x: &a [1]\ny: *a\n", "anchors and aliases"},
		{"upstreams:\n\t- name: a\n", "tabs are not allowed"},
		{"upstreams:\n  - name: a\n    command: [x]\n    resource: '{{ .path'\n", "resource:"},
		{"", "is empty"},
	} {
		_, err := mcpgw.ParseConfig("gateway.yaml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}
