package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/service"
)

const benchPolicy = "default: deny\nrules:\n  - id: reads\n    match: {actions: [\"db.read\"]}\n    decision: ALLOW\n    reason: reads\n"

// BenchmarkSubmit measures durable ALLOW submits through the service (no
// HTTP) with 32 concurrent submitters on one store (one replica).
//
//	CAIRN_TEST_POSTGRES=postgres://… go test -run '^$' -bench BenchmarkSubmit -benchtime 20000x ./postgres/
func BenchmarkSubmit(b *testing.B) {
	s := openBench(b)
	svc := service.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, "cairn_bench_admin_key_0000000"); err != nil {
		b.Fatal(err)
	}
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
	st := s.Stats()
	b.ReportMetric(float64(st.Ops)/float64(max(st.Batches, 1)), "updates/commit")
}
