package http_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
)

// TestRunJobsTruncated: GET /workflow-runs/{id} lists a run's first 10,000 jobs and
// says when there are more; GET /jobs?run_id= pages through all of them.
func TestRunJobsTruncated(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "big-0", RunID: "big", Action: "db.read"})
	var r cairn.Run
	e.MustDo("agent-1", "GET", "/api/v1/workflow-runs/big", nil, 200, &r)
	if len(r.Jobs) != 1 || r.JobsTruncated {
		t.Fatalf("one job: %d jobs, truncated %v", len(r.Jobs), r.JobsTruncated)
	}
	// Rows only (no evidence), copies of the first job's: enough to fill
	// the run past the limit fast, each a job as the API describes it.
	if err := e.Store.Update(context.Background(), func(tx cairn.Tx) error {
		first, err := tx.GetJob("default", "big-0")
		if err != nil {
			return err
		}
		for i := 1; i <= service.MaxRunJobs; i++ {
			j := *first
			j.JobID, j.Seq = fmt.Sprintf("big-%d", i), 0
			if err := tx.InsertJob(&j); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r = cairn.Run{}
	e.MustDo("agent-1", "GET", "/api/v1/workflow-runs/big", nil, 200, &r)
	if len(r.Jobs) != service.MaxRunJobs || !r.JobsTruncated || r.Jobs[0].JobID != "big-0" || r.Jobs[service.MaxRunJobs-1].JobID != fmt.Sprintf("big-%d", service.MaxRunJobs-1) {
		t.Fatalf("%d jobs, truncated %v", len(r.Jobs), r.JobsTruncated)
	}
	// The list pages through every one of them.
	n, cursor := 0, ""
	for {
		var l cairn.List[*cairn.Job]
		e.MustDo("agent-1", "GET", "/api/v1/jobs?run_id=big&limit=1000"+cursor, nil, 200, &l)
		n += len(l.Items)
		if l.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + *l.NextCursor
	}
	if n != service.MaxRunJobs+1 {
		t.Fatalf("GET /jobs?run_id= listed %d jobs", n)
	}
}
