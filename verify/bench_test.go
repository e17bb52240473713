package verify_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/verify"
)

const benchEntries = 100_000

var (
	benchOnce sync.Once
	benchLog  *testLog
)

func benchSetup(b *testing.B) *testLog {
	benchOnce.Do(func() { benchLog = bigLog(b, benchEntries) })
	return benchLog
}

func reportRate(b *testing.B, entries int, start time.Time) {
	b.ReportMetric(float64(entries)*float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkVerify verifies a complete export of a 100,000-entry ledger:
// every leaf hash, body, prev_hash link, job_hash, payload and job row, and
// the root recomputed from all leaves (no per-entry proofs).
func BenchmarkVerify(b *testing.B) {
	l := benchSetup(b)
	bundle := l.bundle(nil)
	opts := verify.Options{TrustedKey: l.vkey}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := verify.Bundle(bundle, opts)
		if err != nil || rep.Entries != len(l.entries) || rep.Mode != "complete" {
			b.Fatal(err)
		}
	}
	reportRate(b, len(bundle.Entries), start)
}

// BenchmarkVerifySerial is BenchmarkVerify on one goroutine.
func BenchmarkVerifySerial(b *testing.B) {
	l := benchSetup(b)
	bundle := l.bundle(nil)
	opts := verify.Options{TrustedKey: l.vkey, Workers: 1}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := verify.Bundle(bundle, opts); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, len(bundle.Entries), start)
}

// BenchmarkVerifyProofs verifies a selective export of every 10th entry of
// the 100,000-entry ledger, each with its own inclusion proof.
func BenchmarkVerifyProofs(b *testing.B) {
	l := benchSetup(b)
	bundle := l.bundle(func(e ledger.Entry) bool { return e.Index%10 == 3 })
	opts := verify.Options{TrustedKey: l.vkey}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := verify.Bundle(bundle, opts)
		if rep.Mode != "proofs" {
			b.Fatal(rep.Mode, err)
		}
	}
	reportRate(b, len(bundle.Entries), start)
}

// BenchmarkDecodeAndVerify includes reading the bundle's JSON (what
// `cairn verify bundle.json` does).
func BenchmarkDecodeAndVerify(b *testing.B) {
	l := benchSetup(b)
	var buf bytes.Buffer
	if err := ledger.EncodeBundle(&buf, l.bundle(nil)); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	opts := verify.Options{TrustedKey: l.vkey}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		bundle, err := ledger.DecodeBundle(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := verify.Bundle(bundle, opts); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, benchEntries, start)
}
