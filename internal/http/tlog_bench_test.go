//go:build unix

package http_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger/tree"
)

// processCPU is the CPU time (user + system) the process has used: on a
// shared machine, steadier than wall-clock latency.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTlogTile1M serves full tlog tiles for random positions of a
// 1,000,000-entry ledger on the embedded store (built once, cached under
// $TMPDIR/cairn-bench-tlog-1m), through the HTTP handler (public access:
// no key lookup), and reports p50/p99 per kind of tile: level-0 hash
// tiles (leaf hashes), level-1 hash tiles (stored nodes) and entry bundles,
// and the process CPU time per tile (cpu-µs/op).
//
//	go test -run '^$' -bench BenchmarkTlogTile1M -benchtime 3000x ./http/
func BenchmarkTlogTile1M(b *testing.B) {
	const n = 1_000_000
	dir := filepath.Join(os.TempDir(), "cairn-bench-tlog-1m")
	store, err := sqlite.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := service.New(store, log, []byte("salt"))
	key, _ := tree.NewKeyFromSeed("cairn", make([]byte, 32))
	svc.SetLedgerKey(key, "")
	if _, err := svc.Bootstrap(ctx, "bench-admin-key-0123456789"); err != nil {
		b.Fatal(err)
	}
	var size uint64
	store.View(ctx, func(tx cairn.ReadTx) error { size, err = tx.LedgerSize("default"); return err })
	for size < n {
		err := store.Update(ctx, func(tx cairn.Tx) error {
			for i := 0; i < 20000 && size < n; i++ {
				if err := tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Unix(int64(size), 0).UTC(), Actor: "bench", JobID: cairn.Opt(fmt.Sprintf("j%d", size))}); err != nil {
					return err
				}
				size++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	api := cairnhttp.New(svc, log)
	api.SetTlogAccess(cairnhttp.TlogAccess{Public: true})
	random := func(k uint64) uint64 {
		var r [8]byte
		rand.Read(r[:])
		return binary.LittleEndian.Uint64(r[:]) % k
	}
	kinds := []struct {
		name  string
		tiles uint64 // full tiles of this kind
		path  func(i uint64) string
	}{
		{"level0", size / 256, func(i uint64) string { return tree.TileRef{Index: i}.Path() }},
		{"level1", size / 65536, func(i uint64) string { return tree.TileRef{Level: 1, Index: i}.Path() }},
		{"entries", size / 256, func(i uint64) string { return tree.TileRef{Entries: true, Index: i}.Path() }},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("GET", "/tlog/default/"+k.path(random(k.tiles)), nil)
				w := httptest.NewRecorder()
				t0 := time.Now()
				api.ServeHTTP(w, req)
				lat = append(lat, time.Since(t0))
				if w.Code != nethttp.StatusOK {
					b.Fatalf("%s: %d %s", req.URL.Path, w.Code, w.Body.String())
				}
			}
			cpu := processCPU() - cpu0
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(size), "entries")
		})
	}
}
