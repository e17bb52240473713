package sqlite_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
	ledgertree "github.com/cairnhq/cairn/ledger/tree"
	"github.com/transparency-dev/merkle/compact"
)

const benchPolicy = "default: deny\nrules:\n  - id: reads\n    match: {actions: [\"db.read\"]}\n    decision: ALLOW\n    reason: reads\n"

// BenchmarkSubmit measures durable submits through the service (no HTTP)
// with 32 concurrent submitters, with and without Merkle tree maintenance:
// the ratio is what the verifiable ledger costs the evidence loop.
//
//	go test -run '^$' -bench BenchmarkSubmit -benchtime 20000x ./sqlite/
func BenchmarkSubmit(b *testing.B) {
	for _, tree := range []bool{true, false} {
		b.Run(fmt.Sprintf("merkle=%v", tree), func(b *testing.B) {
			sqlite.SetMaintainTree(tree)
			defer sqlite.SetMaintainTree(true)
			s, err := sqlite.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			svc := service.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
			ctx := context.Background()
			svc.Bootstrap(ctx, "cairn_bench_admin_key_0000000")
			svc.Start(ctx)
			defer svc.Stop()
			admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin"}}
			if _, err := svc.Publish(ctx, admin, cairn.PublishRequest{Bundle: benchPolicy}); err != nil {
				b.Fatal(err)
			}
			agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
			var n atomic.Int64
			b.SetParallelism(16) // 32 submitters on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, _, err := svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", i), RunID: fmt.Sprintf("r%d", i/100), Action: "db.read", Input: []byte(`{"q":1}`)}, "")
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
		})
	}
}

// BenchmarkInclusionProof1M builds a ledger of 1,000,000 entries (once,
// cached under $TMPDIR/cairn-bench-1m) and serves inclusion proofs for
// random entries to the latest size, reporting p50/p99 latency.
//
//	go test -run '^$' -bench BenchmarkInclusionProof1M -benchtime 2000x ./sqlite/
func BenchmarkInclusionProof1M(b *testing.B) {
	const n = 1_000_000
	dir := filepath.Join(os.TempDir(), "cairn-bench-1m")
	s, err := sqlite.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var size uint64
	s.View(ctx, func(tx cairn.ReadTx) error { size, err = tx.LedgerSize("default"); return err })
	for size < n {
		batch := 20000
		err := s.Update(ctx, func(tx cairn.Tx) error {
			for i := 0; i < batch && size < n; i++ {
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
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r [8]byte
		rand.Read(r[:])
		idx := (uint64(r[0]) | uint64(r[1])<<8 | uint64(r[2])<<16 | uint64(r[3])<<24) % size
		t0 := time.Now()
		err := s.View(ctx, func(tx cairn.ReadTx) error {
			p, err := ledgertree.InclusionProof(idx, size, benchNodes{tx})
			if err == nil && len(p) == 0 {
				err = fmt.Errorf("empty proof")
			}
			return err
		})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(size), "entries")
}

type benchNodes struct{ tx cairn.ReadTx }

func (r benchNodes) Nodes(ids []compact.NodeID) ([][32]byte, error) {
	cids := make([]cairn.NodeID, len(ids))
	for i, id := range ids {
		cids[i] = cairn.NodeID{Level: id.Level, Index: id.Index}
	}
	return r.tx.LedgerNodes("default", cids)
}
