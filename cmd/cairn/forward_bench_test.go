package main

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/forward"
)

// BenchmarkForwardWebhook measures `cairn forward` (the built binary)
// delivering a ledger of 30,000 entries from a Cairn server to a webhook
// receiver, both on loopback in the benchmark's process (the receiver
// checks each batch's signature and counts its lines). It reports
// events/s: entries delivered and acknowledged per second, from the
// forwarder's start to the last entry's acknowledgement.
func BenchmarkForwardWebhook(b *testing.B) {
	e := newForwardEnv(b)
	n := e.fill(b, 30000)
	secret := []byte("bench-secret")
	var mu sync.Mutex
	var got int
	var last []byte
	done := make(chan struct{}, 1)
	lastLine := []byte(fmt.Sprintf(`{"index":%d,`, n-1))
	hook := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get("X-Cairn-Signature")), []byte(forward.Signature(secret, body))) {
			w.WriteHeader(401)
			return
		}
		mu.Lock()
		got += bytes.Count(body, []byte("\n"))
		last = body
		mu.Unlock()
		w.WriteHeader(204)
		if bytes.Contains(body, lastLine) {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}))
	defer hook.Close()
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "secret"), string(secret))
	batch := 1000
	if v, err := strconv.Atoi(os.Getenv("CAIRN_BENCH_FORWARD_BATCH")); err == nil {
		batch = v
	}
	config := filepath.Join(dir, "forward.yaml")
	writeFile(b, config, fmt.Sprintf("batch_size: %d\nsinks:\n  - name: hook\n    type: webhook\n    url: %s\n    secret_file: %s\n", batch, hook.URL, filepath.Join(dir, "secret")))
	b.ResetTimer()
	var elapsed, fwCPU time.Duration
	selfCPU := -processCPU()
	for i := 0; i < b.N; i++ {
		state := filepath.Join(dir, fmt.Sprintf("state-%d", i))
		start := time.Now()
		fw := startForwarder(b, e, config, state)
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("not done: %s", fw.stderr.String())
		}
		elapsed += time.Since(start)
		fw.stop()
		fwCPU += fw.cmd.ProcessState.UserTime() + fw.cmd.ProcessState.SystemTime()
	}
	b.StopTimer()
	selfCPU += processCPU()
	_ = last
	events := float64(n) * float64(b.N)
	b.ReportMetric(events/elapsed.Seconds(), "events/s")
	// CPU per event, which the machine's load disturbs less than the rate:
	// the forwarder's own, and the server's and receiver's (this process).
	b.ReportMetric(float64(fwCPU.Microseconds())/events, "fwd-cpu-µs/event")
	b.ReportMetric(float64(selfCPU.Microseconds())/events, "server+receiver-cpu-µs/event")
	b.ReportMetric(float64(batch), "batch")
}

// processCPU is this process's CPU time so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
