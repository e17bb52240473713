package sqlite_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// BenchmarkListJobs reads a page of 200 jobs newest first, and one job by
// id, from 5,000 submitted ALLOW jobs in runs of 100: the job read paths
// whose rows ADR 0047 changed (columns plus a body without them).
func BenchmarkListJobs(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	if err := s.Update(ctx, func(tx cairn.Tx) error {
		if err := tx.CreateTenant("default", base); err != nil {
			return err
		}
		for i := 0; i < 5000; i++ {
			id := fmt.Sprintf("b-%d-%d", i%32, i)
			at := base.Add(time.Duration(i) * time.Millisecond)
			j := &cairn.Job{JobID: id, RunID: cairn.Opt(fmt.Sprintf("run-%d", i/100)), TraceID: strings.Repeat("7", 32), Tenant: "default",
				Action: "db.read", Resource: "orders", Labels: map[string]string{"env": "prod"}, RiskTags: []string{},
				SubmittedBy: "bench-agent-1796534778073642604", SubmitterKind: "agent", SubmitterRoles: []string{"agent"},
				State: cairn.StateQueued, Decision: cairn.Allow, PolicyRuleID: "reads-are-fine", PolicyReason: "Read-only actions",
				PolicySnapshot: cairn.Opt(cairn.SnapshotPrefix + strings.Repeat("6", 64)), JobHash: fmt.Sprintf("%064x", i),
				ContextPtr: cairn.ContextPtr(id), ContextSHA256: fmt.Sprintf("%064x", i*7), CreatedAt: at, UpdatedAt: at}
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Run("page=200", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.View(ctx, func(tx cairn.ReadTx) error {
				js, err := tx.ListJobs("default", cairn.JobFilter{Page: cairn.Page{Limit: 200}})
				if err == nil && len(js) != 200 {
					err = fmt.Errorf("%d jobs", len(js))
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.View(ctx, func(tx cairn.ReadTx) error {
				_, err := tx.GetJob("default", fmt.Sprintf("b-%d-%d", i%5000%32, i%5000))
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
