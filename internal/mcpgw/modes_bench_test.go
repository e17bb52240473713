package mcpgw_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/mcpgw"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkGatewayModes: the same ALLOW tools/call, call by call in turn,
// to the upstream directly, through a gateway reaching Cairn over loopback
// HTTP (`cairn mcp gateway --listen`) and through a gateway calling Cairn's
// API handler in-process (`cairn serve --mcp-gateway`, ADR 0049); both
// gateways served over streamable HTTP to the agent's key, against one
// Cairn (embedded store) and one upstream. Taking turns puts the modes
// under the same load, so their difference means something on a noisy
// machine. Reports each mode's added p50/p99 over the direct call.
func BenchmarkGatewayModes(b *testing.B) {
	f := newBenchFixture(b)
	inproc, err := mcpgw.New(context.Background(), f.cfg, mcpgw.Options{Server: f.api.URL, Key: f.api.Keys["gateway"],
		Log: slog.New(slog.NewTextHandler(testWriter{b}, nil)), HTTPClient: &http.Client{Transport: mcpgw.InProcess(f.api.Handler)}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(inproc.Handler())
	b.Cleanup(srv.Close)
	modes := []struct {
		name string
		cs   *mcp.ClientSession
		tool string
	}{
		{"direct", connectPlain(b, f.upstreamURL), "read"},
		{"loopback", f.connectHTTP(f.serveHTTP(), "agent-a", nil), "files__read"},
		{"in-process", f.connectHTTP(srv.URL, "agent-a", nil), "files__read"},
	}
	args := map[string]any{"path": "/bench"}
	took := make([][]time.Duration, len(modes))
	for i := 0; i < b.N+20; i++ { // the first 20 rounds warm up
		for m, mode := range modes {
			t0 := time.Now()
			res, err := mode.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: mode.tool, Arguments: args})
			if err != nil || res.IsError {
				b.Fatal(mode.name, err, res)
			}
			if i >= 20 {
				took[m] = append(took[m], time.Since(t0))
			}
		}
	}
	dp50, dp99 := pct(took[0])
	for m, mode := range modes[1:] {
		p50, p99 := pct(took[m+1])
		b.ReportMetric(ms(p50-dp50), mode.name+"-added-p50-ms")
		b.ReportMetric(ms(p99-dp99), mode.name+"-added-p99-ms")
	}
	b.ReportMetric(ms(dp50), "direct-p50-ms")
	if testing.Verbose() {
		fmt.Printf("direct p50/p99 %v/%v\n", dp50, dp99)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
