package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/service"
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
	b.ReportMetric(float64(st.Work.Microseconds())/float64(max(st.Batches, 1)), "µs-work/commit")
	b.ReportMetric(float64(st.Commit.Microseconds())/float64(max(st.Batches, 1)), "µs-COMMIT/commit")
	b.ReportMetric(float64(st.RoundTrips)/float64(max(st.Ops, 1)), "roundtrips/update")
	b.ReportMetric(float64(st.Waiting.Microseconds())/float64(max(st.RoundTrips, 1)), "µs/roundtrip")
}

// BenchmarkAudit1M seeds 1,000,000 jobs through the service into the schema
// cairn_bench_1m of CAIRN_TEST_POSTGRES (kept between runs; seeding takes
// minutes), then times the five audit queries through the service, as
// GET /jobs/{id}, /jobs/{id}/decisions, /approvals, /workflow-runs/{id}/timeline
// and /policy/audit run them (no HTTP), reporting p50 and p99.
//
//	CAIRN_TEST_POSTGRES=postgres://… go test -run '^$' -bench BenchmarkAudit1M -benchtime 1x -timeout 60m ./postgres/
func BenchmarkAudit1M(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CAIRN_BENCH_JOBS")); err == nil && v > 0 {
		n = v // a smaller store, e.g. to measure while seeding is under way
	}
	base := os.Getenv("CAIRN_TEST_POSTGRES")
	if base == "" {
		b.Skip("CAIRN_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	c.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS cairn_bench_1m`)
	c.Close(ctx)
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", "cairn_bench_1m")
	u.RawQuery = q.Encode()
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	svc := service.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	if _, err := svc.Bootstrap(ctx, "cairn_bench_admin_key_0000000"); err != nil {
		b.Fatal(err)
	}
	svc.Start(ctx)
	defer svc.Stop()
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{"admin"}}
	if _, err := svc.Publish(ctx, admin, cairn.PublishRequest{Bundle: benchPolicy + "  - id: writes\n    match: {actions: [\"db.write\"]}\n    decision: REQUIRE_APPROVAL\n    reason: writes\n    approval: {approver_roles: [approver]}\n"}); err != nil {
		b.Fatal(err)
	}
	var have int
	s.View(ctx, func(tx cairn.ReadTx) error {
		return s.Pool().QueryRow(ctx, `SELECT count(*) FROM cairn_bench_1m.jobs`).Scan(&have)
	})
	agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{"agent"}}
	if have >= n {
		n = have
	} else {
		b.Logf("seeding %d jobs (have %d)", n-have, have)
		t0 := time.Now()
		var next atomic.Int64
		next.Store(int64(have))
		var wg sync.WaitGroup
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					action := "db.read"
					if i%10 == 0 {
						action = "db.write"
					}
					if _, _, err := svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: fmt.Sprintf("s%07d", i), RunID: fmt.Sprintf("run%06d", i/20), Action: action, Input: []byte(`{"n":1}`)}, ""); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.Logf("seeded in %s", time.Since(t0).Round(time.Second))
	}
	auditor := cairn.Principal{Tenant: "default", ID: "auditor", Kind: "human", Roles: []string{"admin"}}
	queries := []struct {
		name string
		fn   func(i int) error
	}{
		{"1 job", func(i int) error { _, err := svc.GetJob(ctx, auditor, fmt.Sprintf("s%07d", i%n)); return err }},
		{"2 decisions", func(i int) error { _, err := svc.Decisions(ctx, auditor, fmt.Sprintf("s%07d", i%n)); return err }},
		{"3 pending approvals", func(i int) error {
			_, err := svc.ListApprovals(ctx, auditor, cairn.ApprovalFilter{RawOnly: true, Page: cairn.Page{Limit: 100}})
			return err
		}},
		{"4 run timeline", func(i int) error {
			_, err := svc.Timeline(ctx, auditor, fmt.Sprintf("run%06d", (i*7919)%(n/20)), cairn.Page{Limit: 200})
			return err
		}},
		{"5 policy audit", func(i int) error {
			_, err := svc.PolicyAudit(ctx, auditor, cairn.AuditFilter{Page: cairn.Page{Limit: 100}})
			return err
		}},
	}
	b.ResetTimer()
	for _, qq := range queries {
		var lat []time.Duration
		for i := 0; i < 2000; i++ {
			t0 := time.Now()
			if err := qq.fn(i * 4999); err != nil {
				b.Fatalf("%s: %v", qq.name, err)
			}
			lat = append(lat, time.Since(t0))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.Logf("%-20s p50 %8s  p99 %8s", qq.name, lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs-q"+qq.name[:1])
	}
}
