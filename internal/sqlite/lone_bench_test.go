package sqlite_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// BenchmarkLoneUpdate is the latency of one durable Update at a time (an
// idle server answering one request): queue hand-off, one append, COMMIT,
// fsync, acknowledgement. It reports the p50 and p99.
//
//	go test -run '^$' -bench BenchmarkLoneUpdate -benchtime 3000x ./internal/sqlite/
func BenchmarkLoneUpdate(b *testing.B) {
	s, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := s.Update(context.Background(), func(tx cairn.Tx) error { return tx.AppendEvent(event("default", "run-1", i)) }); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
