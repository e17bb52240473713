package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// BenchmarkAuditQueries seeds jobs through the service (every 10th needs
// approval, runs of 20 jobs) and measures the five audit queries over HTTP
// on loopback, reporting p50/p99 per query.
//
//	go test -run '^$' -bench BenchmarkAuditQueries -benchtime 1000x ./http/ (CAIRN_BENCH_JOBS=100000 for 100k)
func BenchmarkAuditQueries(b *testing.B) {
	e := newEnvB(b)
	n := 20000
	if v := getenvInt("CAIRN_BENCH_JOBS"); v > 0 {
		n = v
	}
	agent := cairn.Principal{Tenant: "default", ID: "agent-1", Kind: "agent", Roles: []string{"agent"}}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				action, labels := "db.read", map[string]string(nil)
				if i%10 == 0 {
					action, labels = "db.write", map[string]string{"env": "prod"}
				}
				if _, _, err := e.Svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", i), RunID: fmt.Sprintf("r%d", i/20), Action: action, Labels: labels, Input: json.RawMessage(`{"n":1}`)}, ""); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	queries := []struct{ name, path string }{
		{"1-job", fmt.Sprintf("/api/v1/jobs/j%d", n/2)},
		{"2-decisions", fmt.Sprintf("/api/v1/jobs/j%d/decisions", n/2)},
		{"3-approvals", "/api/v1/approvals?include_resolved=false"},
		{"4-timeline", fmt.Sprintf("/api/v1/workflow-runs/r%d/timeline?limit=200", n/40)},
		{"5-policy-audit", "/api/v1/policy/audit"},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			req, _ := nethttp.NewRequest("GET", e.URL+q.path, nil)
			req.Header.Set("Authorization", "Bearer "+e.Keys["auditor-1"])
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				resp, err := nethttp.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", q.path, resp.StatusCode)
				}
				lat = append(lat, time.Since(t0))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
