package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
)

// benchWorkers runs n instant workers against the server until ctx ends:
// each long-polls for jobs and completes them at once. done is called
// with each completed job id.
func benchWorkers(ctx context.Context, b *testing.B, e *env, n, max int, done func(jobID string)) *sync.WaitGroup {
	return benchWorkersTimed(ctx, b, e, n, max, done, nil)
}

// benchWorkersTimed is benchWorkers that also reports each complete call's latency.
func benchWorkersTimed(ctx context.Context, b *testing.B, e *env, n, max int, done func(jobID string), completed func(time.Duration)) *sync.WaitGroup {
	c := client.New(e.URL, e.Keys["worker-1"])
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				lr, err := c.Lease(ctx, cairn.LeaseRequest{WorkerID: fmt.Sprintf("bw%d", w), Actions: []string{"tool.*"}, Max: max, WaitMS: 500})
				if err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				for _, j := range lr.Jobs {
					t0 := time.Now()
					if _, err := c.CompleteJob(ctx, j.JobID, cairn.CompleteRequest{LeaseID: j.LeaseID, Status: "succeeded", Result: json.RawMessage(`{"ok":true}`)}); err != nil {
						if ctx.Err() == nil {
							b.Error(err)
						}
						return
					}
					if completed != nil {
						completed(time.Since(t0))
					}
					done(j.JobID)
				}
			}
		}(w)
	}
	return &wg
}

func linearDefinition(name string, steps int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: %s\nsteps:\n", name)
	for i := 1; i <= steps; i++ {
		fmt.Fprintf(&sb, "  - id: s%d\n    action: tool.step\n    input: {n: %d}\n", i, i)
		if i > 1 {
			fmt.Fprintf(&sb, "    depends_on: [s%d]\n", i-1)
		}
	}
	return sb.String()
}

// BenchmarkWorkflowLinear10 runs a 10-step linear workflow end to end with
// an instant worker, one run at a time, over HTTP on loopback: from the
// start request to the completion of the last step (the run succeeds in
// that same transaction). Reports p50/p99 per run.
//
//	go test -run '^$' -bench BenchmarkWorkflowLinear10 -benchtime 200x ./http/
func BenchmarkWorkflowLinear10(b *testing.B) {
	e := newEnvB(b)
	e.publish(seedPolicy)
	w := e.register(linearDefinition("linear10", 10))
	agent := client.New(e.URL, e.Keys["agent-1"])
	finished := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	var completeTotal time.Duration
	var completes int
	wg := benchWorkersTimed(ctx, b, e, 1, 1, func(id string) {
		if strings.HasSuffix(id, ".s10.1") {
			finished <- strings.TrimSuffix(id, ".s10.1")
		}
	}, func(d time.Duration) { completeTotal += d; completes++ })
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runID := fmt.Sprintf("lin-%d", i)
		t0 := time.Now()
		if _, err := agent.StartRun(ctx, cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: runID}); err != nil {
			b.Fatal(err)
		}
		if got := <-finished; got != runID {
			b.Fatalf("finished %s, want %s", got, runID)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	if r := e.Run(fmt.Sprintf("lin-%d", b.N-1)); r.Status != cairn.RunSucceeded {
		b.Fatalf("last run is %s", r.Status)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms/run")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms/run")
	b.ReportMetric(float64(completeTotal.Microseconds())/float64(completes)/1000, "ms/complete")
}

// BenchmarkWorkflowConcurrent starts CAIRN_BENCH_RUNS (default 1000) runs
// of a 3-step linear workflow at once from 32 clients, with 8 instant
// workers leasing up to 20 jobs each, and reports runs and steps per
// second until every run succeeded.
//
//	go test -run '^$' -bench BenchmarkWorkflowConcurrent -benchtime 1x ./http/
func BenchmarkWorkflowConcurrent(b *testing.B) {
	runs := 1000
	if v := getenvInt("CAIRN_BENCH_RUNS"); v > 0 {
		runs = v
	}
	for i := 0; i < b.N; i++ {
		e := newEnvB(b)
		e.publish(seedPolicy)
		w := e.register(linearDefinition("three", 3))
		agent := client.New(e.URL, e.Keys["agent-1"])
		var left atomic.Int64
		left.Store(int64(runs))
		all := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		t0 := time.Now()
		wg := benchWorkers(ctx, b, e, 8, 20, func(id string) {
			if strings.HasSuffix(id, ".s3.1") && left.Add(-1) == 0 {
				close(all)
			}
		})
		var starters sync.WaitGroup
		for c := 0; c < 32; c++ {
			starters.Add(1)
			go func(c int) {
				defer starters.Done()
				for r := c; r < runs; r += 32 {
					if _, err := agent.StartRun(ctx, cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: fmt.Sprintf("c-%d", r)}); err != nil {
						b.Error(err)
						return
					}
				}
			}(c)
		}
		starters.Wait()
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d runs still open after 5 minutes", left.Load())
		}
		elapsed := time.Since(t0)
		cancel()
		wg.Wait()
		var l cairn.List[*cairn.Run]
		e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs?status=succeeded&limit=1000", nil, 200, &l)
		if len(l.Items) != min(runs, 1000) {
			b.Fatalf("%d runs succeeded, want %d", len(l.Items), min(runs, 1000))
		}
		b.ReportMetric(float64(runs)/elapsed.Seconds(), "runs/s")
		b.ReportMetric(float64(3*runs)/elapsed.Seconds(), "steps/s")
		b.ReportMetric(elapsed.Seconds(), "s-total")
	}
}
