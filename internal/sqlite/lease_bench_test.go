package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// BenchmarkSubmitBacklog measures one agent's durable submits (through the
// service, no HTTP) on an empty store, and again with a backlog of queued
// jobs that no worker serves while idle workers long-poll for other
// actions. A lease must cost the same whatever the unmatched backlog, and a
// submit must not wake pollers it has nothing for: the two p99s should be
// close.
//
//	go test -run '^$' -bench BenchmarkSubmitBacklog -benchtime 2000x ./sqlite/
func BenchmarkSubmitBacklog(b *testing.B) {
	for _, c := range []struct{ backlog, pollers int }{{0, 0}, {100_000, 100}} {
		b.Run(fmt.Sprintf("backlog=%d/pollers=%d", c.backlog, c.pollers), func(b *testing.B) {
			benchSubmitBacklog(b, c.backlog, c.pollers)
		})
	}
}

func benchSubmitBacklog(b *testing.B, backlog, pollers int) {
	s, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	svc := service.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := svc.Bootstrap(ctx, "cairn_bench_admin_key_0000000"); err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop()
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin"}}
	if _, err := svc.Publish(ctx, admin, cairn.PublishRequest{Bundle: benchPolicy}); err != nil {
		b.Fatal(err)
	}
	seedBacklog(b, s, backlog)
	worker := cairn.Principal{Tenant: "default", ID: "worker", Kind: "service", Roles: []string{"worker"}}
	var wg sync.WaitGroup
	for i := 0; i < pollers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// Nothing is ever queued for these actions.
				if _, err := svc.Lease(ctx, worker, cairn.LeaseRequest{Actions: []string{"idle.*"}, WaitMS: 30_000}); err != nil && ctx.Err() == nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	time.Sleep(200 * time.Millisecond) // let every poller make its first scan
	agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, _, err := svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", i), Action: "db.read", Input: []byte(`{"q":1}`)}, ""); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// seedBacklog queues n jobs of an action no worker serves, straight through
// the store (the benchmark measures what they cost others, not their
// submission).
func seedBacklog(b *testing.B, s cairn.Store, n int) {
	now := cairn.Now()
	for i := 0; i < n; {
		err := s.Update(context.Background(), func(tx cairn.Tx) error {
			for k := 0; k < 5000 && i+k < n; k++ {
				j := &cairn.Job{
					JobID: fmt.Sprintf("backlog%d", i+k), Tenant: "default", Action: "unserved.task", State: cairn.StateQueued,
					Decision: cairn.Allow, SubmittedBy: "agent", SubmitterKind: "agent", Labels: map[string]string{}, RiskTags: []string{},
					ContextPtr: cairn.ContextPtr(fmt.Sprintf("backlog%d", i+k)), CreatedAt: now, UpdatedAt: now,
				}
				if err := tx.InsertJob(j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		i += 5000
	}
}
