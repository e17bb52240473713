package serve

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const gatewayPolicy = `default: deny
rules:
  - id: no-delete
    match: {actions: ["mcp.*.delete"]}
    decision: DENY
    reason: Deleting is never automated
  - id: tools
    match: {actions: ["mcp.*"]}
    decision: ALLOW
    reason: Other tool calls are allowed
`

// TestRunHostsTheMCPGateway: with MCPGateway, the server answers MCP at
// /mcp on its own listener. Each MCP client's agent key is its identity
// (no key: 401); an allowed call runs upstream and is a SUCCEEDED job
// submitted by that agent and executed under the gateway's key; a denied
// call runs nothing; the API keeps serving beside it.
func TestRunHostsTheMCPGateway(t *testing.T) {
	dir := t.TempDir()
	const admin = "ck_serve_mcp_test_admin_key_01"
	cfg := DefaultConfig()
	cfg.DataDir, cfg.AdminKey, cfg.LogLevel, cfg.Stderr = dir, admin, "error", io.Discard

	// First start: the gateway's key and an agent's, and a policy.
	base, cancel, done := startRun(t, cfg)
	ctx := context.Background()
	adm := client.New(base, admin)
	gwKey, err := adm.CreateKey(ctx, cairn.CreateKeyRequest{Principal: "mcp-gateway", Kind: "service", Roles: []string{"agent", "worker"}})
	if err != nil {
		t.Fatal(err)
	}
	agentKey, err := adm.CreateKey(ctx, cairn.CreateKeyRequest{Principal: "agent-1", Kind: "agent", Roles: []string{"agent"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.PublishPolicy(ctx, cairn.PublishRequest{Bundle: gatewayPolicy, Message: "mcp"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Restart hosting the gateway.
	var ran atomic.Int32
	up := mcp.NewServer(&mcp.Implementation{Name: "files", Version: "1"}, nil)
	for _, name := range []string{"read", "delete"} {
		mcp.AddTool(up, &mcp.Tool{Name: name}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			Path string `json:"path"`
		}) (*mcp.CallToolResult, any, error) {
			ran.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " " + in.Path}}}, nil, nil
		})
	}
	upSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*nethttp.Request) *mcp.Server { return up }, nil))
	defer upSrv.Close()
	keyFile := filepath.Join(t.TempDir(), "gateway.key")
	os.WriteFile(keyFile, []byte(gwKey.Key+"\n"), 0o600)
	cfg.MCPGateway = writeGatewayConfig(t, keyFile, upSrv.URL)
	base, cancel, done = startRun(t, cfg)

	if resp, _ := get(t, base+MCPPath, ""); resp.StatusCode != 401 {
		t.Fatalf("/mcp without a key: %d", resp.StatusCode)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	hc := &nethttp.Client{Transport: bearer(agentKey.Key)}
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + MCPPath, HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "files__read", Arguments: map[string]any{"path": "/a"}})
	if err != nil || res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "read /a" {
		t.Fatalf("allowed call: %v %+v", err, res)
	}
	j, err := client.New(base, admin).GetJob(ctx, res.Meta["cairn/job_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if j.State != cairn.StateSucceeded || j.Action != "mcp.files.read" || j.SubmittedBy != "agent-1" || j.Executor != "mcp-gateway" {
		t.Fatalf("the allowed call's job: %+v", j)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "files__delete", Arguments: map[string]any{"path": "/a"}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "no-delete") || ran.Load() != 1 {
		t.Fatalf("denied call: %v %+v (upstream ran %d calls)", err, res, ran.Load())
	}
	if resp, _ := get(t, base+"/api/v1/policy", admin); resp.StatusCode != 200 {
		t.Fatalf("the API beside /mcp: %d", resp.StatusCode)
	}
	// Stopping with the session still open (its server-to-client stream
	// waiting) does not hang the shutdown.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cs.Close()

	// A key the store does not know: the server refuses to start.
	os.WriteFile(keyFile, []byte("ck_not_a_key_of_this_store_0000"), 0o600)
	if err := Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "--mcp-gateway") {
		t.Fatalf("Run with an unknown gateway key: %v", err)
	}
}

// TestRunRefusesAGatewayConfigWithoutKey: the hosted gateway's key comes
// from the config's key_file; without one the server does not start.
func TestRunRefusesAGatewayConfigWithoutKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.AdminKey, cfg.LogLevel, cfg.Stderr = t.TempDir(), "ck_serve_mcp_test_admin_key_02", "error", io.Discard
	cfg.MCPGateway = writeGatewayConfig(t, "", "http://127.0.0.1:1/mcp")
	if err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Fatalf("Run: %v", err)
	}
}

func writeGatewayConfig(t *testing.T, keyFile, upstream string) string {
	t.Helper()
	text := "upstreams:\n  - name: files\n    url: " + upstream + "\n"
	if keyFile != "" {
		text = "key_file: " + keyFile + "\n" + text
	}
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type bearer string

func (b bearer) RoundTrip(r *nethttp.Request) (*nethttp.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return nethttp.DefaultTransport.RoundTrip(r)
}
