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

// benchRun is run i of a tenant that 100 agents share (agent-00…agent-99,
// round robin) plus "agent-rare", who started one run in 10,000, over four
// workflows. Most runs are over; one in 53 is running, one in 97 waits for
// approval. Its body
// carries two steps, about 1 KB, like a workflow run that has progressed.
func benchRun(i int) *cairn.Run {
	t := time.Unix(1_700_000_000+int64(i), 0).UTC()
	by := fmt.Sprintf("agent-%02d", i%100)
	if i%10_000 == 5_000 {
		by = "agent-rare"
	}
	status := cairn.RunSucceeded
	switch {
	case i%53 == 0:
		status = cairn.RunRunning
	case i%97 == 0:
		status = cairn.RunWaitingApproval
	}
	id := fmt.Sprintf("run-%07d", i)
	return &cairn.Run{
		RunID: id, Tenant: "default", Status: status, StartedBy: by, StarterKind: cairn.KindAgent,
		StarterRoles: []string{cairn.RoleAgent}, CreatedAt: t, UpdatedAt: t.Add(time.Second),
		WorkflowID: benchWorkflow(i / 100 % 4),
		InputPtr:   "wfin:" + id, InputSHA256: strings.Repeat("d", 64),
		Steps: []*cairn.StepState{
			{StepID: "plan", Status: cairn.StepSucceeded, Attempts: 1, JobID: id + "-plan-1", Jobs: []string{id + "-plan-1"}, StartedAt: &t, CompletedAt: &t},
			{StepID: "apply", Status: cairn.StepSucceeded, Attempts: 1, JobID: id + "-apply-1", Jobs: []string{id + "-apply-1"}, StartedAt: &t, CompletedAt: &t},
		},
	}
}

func benchWorkflow(n int) string {
	return fmt.Sprintf("wf:default:deploy-%d#sha256:%s", n, strings.Repeat("a", 64))
}

// BenchmarkListRunsByStarter lists runs filtered by starter (what an
// agent's GET /api/v1/workflow-runs asks) in a tenant of 200,000 runs,
// 50 to a page: the first page of a starter of 1% of the runs, alone and
// with a rare status (running: 38 runs, waiting_approval: 20) or a
// workflow, a page deep in that starter's history, and the runs of a
// starter of 20 runs, whom a scan must walk the whole tenant to find. The
// tenant's newest page, unfiltered, is there for reference.
//
//	go test -run '^$' -bench BenchmarkListRunsByStarter -benchtime 200x ./sqlite/
func BenchmarkListRunsByStarter(b *testing.B) {
	const n = 200_000
	s, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Now()
	var mid int64 // the seq of run n/2
	for i := 0; i < n; {
		err := s.Update(ctx, func(tx cairn.Tx) error {
			for end := i + 5000; i < end; i++ {
				r := benchRun(i)
				if err := tx.InsertRun(r); err != nil {
					return err
				}
				if i == n/2 {
					mid = r.Seq
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d runs inserted in %v", n, time.Since(t0).Round(time.Millisecond))
	for _, c := range []struct {
		name string
		f    cairn.RunFilter
	}{
		{"no-filter", cairn.RunFilter{}}, // for reference: the tenant's newest runs
		{"starter", cairn.RunFilter{StartedBy: "agent-07"}},
		{"starter+running", cairn.RunFilter{StartedBy: "agent-07", Status: cairn.RunRunning}},
		{"starter+waiting", cairn.RunFilter{StartedBy: "agent-07", Status: cairn.RunWaitingApproval}},
		{"starter+workflow", cairn.RunFilter{StartedBy: "agent-07", WorkflowID: benchWorkflow(1)}},
		{"starter,deep-page", cairn.RunFilter{StartedBy: "agent-07", Page: cairn.Page{After: mid}}},
		{"rare-starter", cairn.RunFilter{StartedBy: "agent-rare"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := c.f
			f.Limit = 50
			want := 0 // what the page must hold, from the generator
			for i := n - 1; i >= 0 && want < f.Limit; i-- {
				r := benchRun(i)
				if (f.StartedBy == "" || r.StartedBy == f.StartedBy) && (f.Status == "" || r.Status == f.Status) &&
					(f.WorkflowID == "" || r.WorkflowID == f.WorkflowID) && (f.After == 0 || i < n/2) {
					want++
				}
			}
			for i := 0; i < b.N; i++ {
				err := s.View(ctx, func(tx cairn.ReadTx) error {
					rs, err := tx.ListRuns("default", f)
					if err == nil && len(rs) != want {
						err = fmt.Errorf("%d runs, want %d", len(rs), want)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRunWrites measures what the run indexes cost the writer: per
// run, an InsertRun and two UpdateRuns that change its status (running,
// waiting_approval, succeeded), 1,000 runs to an Update.
//
//	go test -run '^$' -bench BenchmarkRunWrites -benchtime 100000x ./sqlite/
func BenchmarkRunWrites(b *testing.B) {
	s, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; {
		err := s.Update(ctx, func(tx cairn.Tx) error {
			for end := min(i+1000, b.N); i < end; i++ {
				r := benchRun(i)
				r.Status = cairn.RunRunning
				if err := tx.InsertRun(r); err != nil {
					return err
				}
				for _, st := range []string{cairn.RunWaitingApproval, cairn.RunSucceeded} {
					r.Status = st
					if err := tx.UpdateRun(r); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
