package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/cairnhq/cairn/internal/tracing/otlptest"
)

// BenchmarkSubmitTracing measures durable ALLOW submits over HTTP on
// loopback, 32 clients, with tracing off and on (spans exported over
// OTLP/HTTP to a receiver on loopback that decodes every request). One
// server runs both, in alternating segments (rounds of off then on), so
// that the load of a shared machine falls on both alike. It reports
// submits/s and the process's CPU time per submit for each, their ratios,
// and the spans the receiver got per traced submit (the receiver runs in
// the same process: its decoding is counted in the CPU of "on").
//
//	go test -run '^$' -bench BenchmarkSubmitTracing -benchtime 24000x ./internal/tracing/
func BenchmarkSubmitTracing(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		// As cairn serve runs (serve.DefaultGCPercent).
		defer debug.SetGCPercent(debug.SetGCPercent(200))
	}
	rc := otlptest.New(b, false)
	// The store wrapper is installed while tracing is on (as cairn serve
	// does when it traces) and stays inactive while it is off.
	e := apitest.New(b, apitest.Options{AdminKey: "admin-key-0123456789", WrapStore: func(st cairn.Store) cairn.Store {
		stop := startTracing(b, rc)
		defer stop()
		return tracing.WrapStore(st)
	}})
	e.Key("agent-1", "agent", "agent")
	e.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: apitest.ApprovalPolicy, Message: "bench"}, 201, nil)
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: 64}}
	key := e.Keys["agent-1"]
	var seq atomic.Int64
	// segment submits n jobs with 32 clients and returns the wall and CPU time.
	var allocsOff, allocsOn, bytesOff, bytesOn uint64
	var ms runtime.MemStats
	mem := func() (uint64, uint64) { runtime.ReadMemStats(&ms); return ms.Mallocs, ms.TotalAlloc }
	segment := func(n int) (wall, cpu time.Duration) {
		const clients = 32
		var done, failed atomic.Int64
		var wg sync.WaitGroup
		c0 := cpuTime()
		t0 := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for done.Add(1) <= int64(n) {
					body, _ := json.Marshal(cairn.SubmitRequest{JobID: fmt.Sprintf("b-%d", seq.Add(1)), Action: "db.read", Input: json.RawMessage(`{"n":1}`)})
					req, _ := nethttp.NewRequest("POST", e.URL+"/api/v1/jobs", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 201 {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		wall, cpu = time.Since(t0), cpuTime()-c0
		if failed.Load() > 0 {
			b.Fatalf("%d submits failed", failed.Load())
		}
		return wall, cpu
	}
	const rounds = 20
	per := b.N / (2 * rounds)
	if per < 100 {
		per = 100
	}
	segment(per) // warm up
	var wallOff, wallOn, cpuOff, cpuOn time.Duration
	spans0 := 0
	b.ResetTimer()
	offSeg := func() {
		a0, b0 := mem()
		w, c := segment(per)
		a1, b1 := mem()
		allocsOff, bytesOff = allocsOff+a1-a0, bytesOff+b1-b0
		wallOff, cpuOff = wallOff+w, cpuOff+c
	}
	onSeg := func() {
		stop := func() {}
		if os.Getenv("CAIRN_BENCH_AA") == "" {
			stop = startTracing(b, rc)
		} // else an A/A run: both segments off, to see the method's bias
		before := rc.Count()
		a0, b0 := mem()
		w, c := segment(per)
		a1, b1 := mem()
		allocsOn, bytesOn = allocsOn+a1-a0, bytesOn+b1-b0
		c0 := cpuTime()
		stop() // flush what is still queued: its CPU counts for "on"
		c += cpuTime() - c0
		wallOn, cpuOn = wallOn+w, cpuOn+c
		spans0 += rc.Count() - before
	}
	only := os.Getenv("CAIRN_BENCH_ONLY") // off or on: one kind of segment only (to profile it)
	for r := 0; r < rounds; r++ {
		if only != "on" {
			offSeg()
		}
		if only != "off" {
			onSeg()
		}
	}
	b.StopTimer()
	n := float64(per * rounds)
	off, on := n/wallOff.Seconds(), n/wallOn.Seconds()
	b.ReportMetric(off, "off-submits/s")
	b.ReportMetric(on, "on-submits/s")
	b.ReportMetric(on/off, "on/off-throughput")
	b.ReportMetric(float64(cpuOff.Microseconds())/n, "off-cpu-µs/submit")
	b.ReportMetric(float64(cpuOn.Microseconds())/n, "on-cpu-µs/submit")
	b.ReportMetric(float64(spans0)/n, "spans/submit")
	b.ReportMetric(float64(allocsOff)/n, "off-allocs/submit")
	b.ReportMetric(float64(allocsOn)/n, "on-allocs/submit")
	b.ReportMetric(float64(bytesOff)/n, "off-B/submit")
	b.ReportMetric(float64(bytesOn)/n, "on-B/submit")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOffPath is the cost tracing adds to a request and a submit
// while it is off: the request hook, stamping and propagation.
//
//	go test -run '^$' -bench BenchmarkOffPath ./internal/tracing/
func BenchmarkOffPath(b *testing.B) {
	if tracing.Enabled() {
		b.Skip("tracing is on")
	}
	r := httptest.NewRequest("POST", "/api/v1/jobs", nil)
	ev := &cairn.Event{Type: cairn.EventJobSubmitted}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, end := tracing.StartRequest(ctx, r, "POST /api/v1/jobs")
		tracing.Stamp(c, time.Time{}, "", ev, ev)
		tracing.Propagate(c, ev)
		_ = tracing.TraceID(c)
		end(201)
	}
}
