package mcpgw_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/mcpgw"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMain(m *testing.M) {
	if os.Getenv("MCPGW_TEST_UPSTREAM") == "1" {
		runStdioUpstream()
	}
	os.Exit(m.Run())
}

const adminKey = "cairn_gateway_test_admin_key_0001"

const testPolicy = `default: deny
rules:
  - id: no-delete
    match: {actions: ["mcp.*.delete"]}
    decision: DENY
    reason: Deleting files is never automated
  - id: writes-need-approval
    match: {actions: ["mcp.*.write*"]}
    when: 'input.path.startsWith("/prod/")'
    decision: REQUIRE_APPROVAL
    reason: Writes under /prod need a human
    approval: {approver_roles: [approver], expires_in: 1h}
  - id: quick-approval
    match: {actions: ["mcp.*.write"]}
    when: 'input.path.startsWith("/quick/")'
    decision: REQUIRE_APPROVAL
    reason: Quick approvals expire fast
    approval: {approver_roles: [approver], expires_in: 1s}
  - id: tools-allowed
    match: {actions: ["mcp.*"]}
    decision: ALLOW
    reason: Other tool calls are allowed
output_rules:
  - id: out-secrets
    actions: ["mcp.*"]
    scanners: [secrets]
    decision: QUARANTINE
  - id: out-pii
    actions: ["mcp.*"]
    scanners: [pii]
    decision: REDACT
`

// fixture is a Cairn server, keys, the test upstream and a gateway.
type fixture struct {
	t   testing.TB
	api *apitest.Env
	gw  *mcpgw.Gateway
	cfg *mcpgw.Config
}

func newFixture(t *testing.T, upstreams string) *fixture { return newFixtureTB(t, upstreams) }

func newFixtureTB(t testing.TB, upstreams string) *fixture {
	return newFixtureWith(t, upstreams, false)
}

// newFixtureWith is newFixtureTB; inProcess: the gateway reaches Cairn's
// API handler in-process (mcpgw.InProcess), as under cairn serve
// --mcp-gateway.
func newFixtureWith(t testing.TB, upstreams string, inProcess bool) *fixture {
	t.Helper()
	api := apitest.New(t, apitest.Options{AdminKey: adminKey, LedgerKey: true})
	api.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: testPolicy, Message: "gateway tests"}, 201, nil)
	api.Key("gateway", "service", "agent", "worker")
	api.Key("agent-a", "agent", "agent")
	api.Key("agent-b", "agent", "agent")
	api.Key("approver-1", "human", "approver")
	api.Key("auditor-1", "human", "auditor")
	api.Key("worker-x", "service", "worker")
	cfg, err := mcpgw.ParseConfig("gateway.yaml", []byte("approval_wait: 2s\ncall_timeout: 3s\nupstreams:\n"+upstreams))
	if err != nil {
		t.Fatal(err)
	}
	o := mcpgw.Options{Server: api.URL, Key: api.Keys["gateway"], Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	if inProcess {
		o.HTTPClient = &http.Client{Transport: mcpgw.InProcess(api.Handler)}
	}
	gw, err := mcpgw.New(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, api: api, gw: gw, cfg: cfg}
}

// httpUpstream serves the test upstream over streamable HTTP.
func httpUpstream(t testing.TB) string {
	up := newTestUpstream(false)
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stdioUpstream is the config line of the test upstream as a child process.
func stdioUpstream(name string) string {
	exe, _ := os.Executable()
	b, _ := json.Marshal([]string{exe, "-test.run=^$"})
	return "  - name: " + name + "\n    command: " + string(b) + "\n    env: {MCPGW_TEST_UPSTREAM: \"1\"}\n    labels: {env: test}\n"
}

// serveHTTP runs the gateway over streamable HTTP.
func (f *fixture) serveHTTP() string {
	srv := httptest.NewServer(f.gw.Handler())
	f.t.Cleanup(srv.Close)
	return srv.URL
}

type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.key != "" {
		r.Header.Set("Authorization", "Bearer "+b.key)
	}
	return b.next.RoundTrip(r)
}

// connectHTTP opens an MCP client session to the gateway as principal.
func (f *fixture) connectHTTP(url, principal string, opts *mcp.ClientOptions) *mcp.ClientSession {
	f.t.Helper()
	return f.connectHTTPWith(mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts), url, principal)
}

// connectHTTPWith connects client c to the gateway as principal.
func (f *fixture) connectHTTPWith(c *mcp.Client, url, principal string) *mcp.ClientSession {
	f.t.Helper()
	hc := &http.Client{Transport: bearer{key: f.api.Keys[principal], next: http.DefaultTransport}}
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		f.t.Fatalf("connect as %s: %v", principal, err)
	}
	f.t.Cleanup(func() { cs.Close() })
	return cs
}

// connectStdio runs the gateway over a pipe pair, as a client would.
func (f *fixture) connectStdio(opts *mcp.ClientOptions) *mcp.ClientSession {
	f.t.Helper()
	return f.connectStdioWith(mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts))
}

// connectStdioWith is connectStdio for client c.
func (f *fixture) connectStdioWith(c *mcp.Client) *mcp.ClientSession {
	f.t.Helper()
	cr, gw := io.Pipe()
	gr, cw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.gw.ServeStdio(ctx, gr, gw)
	}()
	cs, err := c.Connect(context.Background(), &mcp.IOTransport{Reader: cr, Writer: cw}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		cs.Close()
		cancel()
		cw.Close()
		<-done
	})
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func metaJob(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	id, _ := res.Meta["cairn/job_id"].(string)
	if id == "" {
		t.Fatalf("result has no cairn/job_id: %+v %q", res.Meta, text(res))
	}
	return id
}

func (f *fixture) job(id string) *cairn.Job {
	var j cairn.Job
	f.api.MustDo("auditor-1", "GET", "/api/v1/jobs/"+id, nil, 200, &j)
	return &j
}

func (f *fixture) verifyLedger() {
	f.t.Helper()
	var v struct {
		OK bool `json:"ok"`
	}
	f.api.MustDo("auditor-1", "GET", "/api/v1/ledger/verify", nil, 200, &v)
	if !v.OK {
		f.t.Fatal("the ledger does not verify")
	}
}

// waitState polls a job until it has the state.
func (f *fixture) waitState(id, state string) *cairn.Job {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := f.job(id)
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %s is %s, want %s", id, j.State, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testWriter sends the gateway's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
