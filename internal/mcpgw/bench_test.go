package mcpgw_test

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkGatewayOverhead: one ALLOW tools/call through the gateway
// (embedded store) against the same upstream called directly, alternating,
// in one run. Reports p50/p99 of each and the difference. Every transport
// makes two durable writes a call (ADR 0023: the submit with its lease, the
// completion): over stdio the gateway's key is the agent; over HTTP the
// agent's own key submits and the gateway's key takes the lease; and
// http-in-process is HTTP with the gateway calling Cairn's API handler in
// its own process, as `cairn serve --mcp-gateway` does (ADR 0049).
func BenchmarkGatewayOverhead(b *testing.B) {
	b.Run("transport=stdio", func(b *testing.B) {
		f := newBenchFixture(b)
		benchOverhead(b, f, f.connectStdio(nil))
	})
	b.Run("transport=http-agent-key", func(b *testing.B) {
		f := newBenchFixture(b)
		benchOverhead(b, f, f.connectHTTP(f.serveHTTP(), "agent-a", nil))
	})
	b.Run("transport=http-in-process", func(b *testing.B) {
		f := newBenchFixtureWith(b, true)
		benchOverhead(b, f, f.connectHTTP(f.serveHTTP(), "agent-a", nil))
	})
}

func benchOverhead(b *testing.B, f *benchFixture, via *mcp.ClientSession) {
	direct := connectPlain(b, f.upstreamURL)
	args := map[string]any{"path": "/bench"}
	var d, g []time.Duration
	for i := 0; i < 20; i++ { // warm up both paths
		direct.CallTool(context.Background(), &mcp.CallToolParams{Name: "read", Arguments: args})
		via.CallTool(context.Background(), &mcp.CallToolParams{Name: "files__read", Arguments: args})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := direct.CallTool(context.Background(), &mcp.CallToolParams{Name: "read", Arguments: args}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := via.CallTool(context.Background(), &mcp.CallToolParams{Name: "files__read", Arguments: args})
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
		t2 := time.Now()
		d = append(d, t1.Sub(t0))
		g = append(g, t2.Sub(t1))
	}
	b.StopTimer()
	dp50, dp99 := pct(d)
	gp50, gp99 := pct(g)
	b.ReportMetric(float64(dp50.Microseconds())/1000, "direct-p50-ms")
	b.ReportMetric(float64(dp99.Microseconds())/1000, "direct-p99-ms")
	b.ReportMetric(float64(gp50.Microseconds())/1000, "gateway-p50-ms")
	b.ReportMetric(float64(gp99.Microseconds())/1000, "gateway-p99-ms")
	b.ReportMetric(float64((gp50-dp50).Microseconds())/1000, "added-p50-ms")
	b.ReportMetric(float64((gp99-dp99).Microseconds())/1000, "added-p99-ms")
}

// BenchmarkGatewayThroughput: ALLOW tools/calls through one gateway from
// 16 concurrent sessions, over stdio (the gateway's key is the agent) and
// over HTTP with two agents' keys.
func BenchmarkGatewayThroughput(b *testing.B) {
	b.Run("transport=stdio", func(b *testing.B) {
		f := newBenchFixture(b)
		benchThroughput(b, func(int) *mcp.ClientSession { return f.connectStdio(nil) })
	})
	b.Run("transport=http-agent-key", func(b *testing.B) {
		f := newBenchFixture(b)
		url := f.serveHTTP()
		benchThroughput(b, func(i int) *mcp.ClientSession { return f.connectHTTP(url, []string{"agent-a", "agent-b"}[i%2], nil) })
	})
	b.Run("transport=http-in-process", func(b *testing.B) {
		f := newBenchFixtureWith(b, true)
		url := f.serveHTTP()
		benchThroughput(b, func(i int) *mcp.ClientSession { return f.connectHTTP(url, []string{"agent-a", "agent-b"}[i%2], nil) })
	})
}

func benchThroughput(b *testing.B, connect func(i int) *mcp.ClientSession) {
	const sessions = 16
	var cs []*mcp.ClientSession
	for i := 0; i < sessions; i++ {
		cs = append(cs, connect(i))
		cs[i].CallTool(context.Background(), &mcp.CallToolParams{Name: "files__read", Arguments: map[string]any{"path": "/warm"}})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				res, err := cs[i].CallTool(context.Background(), &mcp.CallToolParams{Name: "files__read", Arguments: map[string]any{"path": "/t"}})
				if err != nil || res.IsError {
					b.Error(err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

type benchFixture struct {
	*fixture
	upstreamURL string
}

func newBenchFixture(b *testing.B) *benchFixture { return newBenchFixtureWith(b, false) }

// newBenchFixtureWith: inProcess, the gateway calls Cairn's API handler
// in-process, as `cairn serve --mcp-gateway` does (ADR 0049).
func newBenchFixtureWith(b *testing.B, inProcess bool) *benchFixture {
	up := httpUpstream(b)
	return &benchFixture{fixture: newFixtureWith(b, "  - name: files\n    url: "+up+"\n", inProcess), upstreamURL: up}
}

func connectPlain(b *testing.B, url string) *mcp.ClientSession {
	c := mcp.NewClient(&mcp.Implementation{Name: "direct", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{}, MaxRetries: -1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close() })
	return cs
}

func pct(ds []time.Duration) (p50, p99 time.Duration) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}
