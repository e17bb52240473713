package verify_test

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	ledgerbundle "github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

const benchEntries = 100_000

// benchData is built once: a 100,000-entry ledger exported complete, a
// selective export of every 10th entry, and the complete export's JSON.
// The ledger itself is dropped, so that, as in `cairn verify`, the live
// heap is the bundle being verified.
type benchData struct {
	vkey      string
	complete  *ledgerbundle.Bundle
	selective *ledgerbundle.Bundle
	encoded   []byte
}

var (
	benchOnce sync.Once
	bench     *benchData
)

func benchSetup(b *testing.B) *benchData {
	benchOnce.Do(func() {
		l := bigLog(b, benchEntries)
		d := &benchData{vkey: l.vkey, complete: l.bundle(nil)}
		d.selective = l.bundle(func(e ledgerbundle.Entry) bool { return e.Index%10 == 3 })
		var buf bytes.Buffer
		if err := ledgerbundle.EncodeBundle(&buf, d.complete); err != nil {
			b.Fatal(err)
		}
		d.encoded = buf.Bytes()
		bench = d
		runtime.GC()
	})
	return bench
}

type clock struct {
	wall time.Time
	cpu  time.Duration
}

func startClock() clock { return clock{time.Now(), cpuTime()} }

// reportRate reports entries per wall-clock second and per CPU-second
// (CPU time summed over all threads, GC included): entries/cpu-s is what one
// core achieves, unaffected by other load on the machine; with P idle cores
// the wall rate of the parallel verification approaches P × entries/cpu-s.
func reportRate(b *testing.B, entries int, c clock) {
	n := float64(entries) * float64(b.N)
	b.ReportMetric(n/time.Since(c.wall).Seconds(), "entries/s")
	if cpu := cpuTime() - c.cpu; cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), "entries/cpu-s")
	}
}

// BenchmarkVerify verifies a complete export of a 100,000-entry ledger:
// every leaf hash, body, prev_hash link, job_hash, payload and job row, and
// the root recomputed from all leaves (no per-entry proofs).
func BenchmarkVerify(b *testing.B) {
	d := benchSetup(b)
	opts := verify.Options{TrustedKey: d.vkey}
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		rep, err := verify.Bundle(d.complete, opts)
		if err != nil || rep.Mode != "complete" {
			b.Fatal(err)
		}
	}
	reportRate(b, len(d.complete.Entries), start)
}

// BenchmarkVerifySerial is BenchmarkVerify hashing and parsing on one
// goroutine.
func BenchmarkVerifySerial(b *testing.B) {
	d := benchSetup(b)
	opts := verify.Options{TrustedKey: d.vkey, Workers: 1}
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		if _, err := verify.Bundle(d.complete, opts); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, len(d.complete.Entries), start)
}

// BenchmarkVerifyProofs verifies a selective export of every 10th entry of
// the 100,000-entry ledger, each with its own inclusion proof.
func BenchmarkVerifyProofs(b *testing.B) {
	d := benchSetup(b)
	opts := verify.Options{TrustedKey: d.vkey}
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		rep, _ := verify.Bundle(d.selective, opts)
		if rep.Mode != "proofs" {
			b.Fatal(rep.Mode)
		}
	}
	reportRate(b, len(d.selective.Entries), start)
}

// BenchmarkDecodeAndVerify includes reading the bundle's JSON (what
// `cairn verify bundle.json` does).
func BenchmarkDecodeAndVerify(b *testing.B) {
	d := benchSetup(b)
	b.SetBytes(int64(len(d.encoded)))
	opts := verify.Options{TrustedKey: d.vkey}
	b.ResetTimer()
	start := startClock()
	for i := 0; i < b.N; i++ {
		bundle, err := ledgerbundle.DecodeBundle(bytes.NewReader(d.encoded))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := verify.Bundle(bundle, opts); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, benchEntries, start)
}
