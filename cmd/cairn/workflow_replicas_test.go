package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// TestWorkflowReplicas drives workflow runs through three replicas on one
// PostgreSQL database: the workflow is registered on one, runs are started
// on another, steps are leased and completed on the third, gates approved
// on the first, retries woken by whichever replica's background loop sees
// them first. Every run must succeed with each attempt dispatched once,
// and the shared ledger must stay gap-free, in commit order and verifiable.
func TestWorkflowReplicas(t *testing.T) {
	c := newCluster(t, 3)
	k := setupReplicas(t, c)
	A, B, C := c.procs[0], c.procs[1], c.procs[2]
	var wf cairn.Workflow
	mustCall(t, A.base, testAdminKey, "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: `name: replicated
steps:
  - id: read
    action: db.read
  - id: again
    action: db.read
    depends_on: [read]
    retry: {max_attempts: 2, backoff: 100ms}
  - id: gated
    action: ops.victim
    depends_on: [again]
    gate: {quorum: 1}
`}, &wf, 201)
	// The policy was published through A; the others decide under it at
	// once (ADR 0012).
	const runs = 8
	for i := 0; i < runs; i++ {
		mustCall(t, B.base, k.agent, "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: wf.WorkflowID, RunID: fmt.Sprintf("rep-%d", i)}, nil, 201)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the worker, on C: the first attempt of "again" fails
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			jobs, st, err := lease(C.base, k.worker, []string{"*"}, 300, 0)
			if err != nil || st != 200 {
				continue
			}
			for _, j := range jobs {
				status := "succeeded"
				if strings.HasSuffix(j.JobID, ".again.1") {
					status = "failed"
				}
				call(C.base, k.worker, "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: j.LeaseID, Status: status, Result: json.RawMessage(`{"ok":1}`)}, nil)
			}
		}
	}()
	go func() { // the approver, on A
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var l cairn.List[*cairn.Run]
			if st, err := call(A.base, k.approver, "GET", "/api/v1/workflow-runs?status=waiting_approval", nil, &l); err != nil || st != 200 {
				continue
			}
			for _, r := range l.Items {
				if g := r.Step("gated").Gate; g != nil && g.Status == cairn.GatePending {
					call(A.base, k.approver, "POST", "/api/v1/workflow-runs/"+r.RunID+"/steps/gated/approve", cairn.GateVoteRequest{JobHash: g.JobHash}, nil)
				}
			}
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l cairn.List[*cairn.Run]
		mustCall(t, B.base, k.auditor, "GET", "/api/v1/workflow-runs?status=succeeded", nil, &l, 200)
		if len(l.Items) == runs {
			break
		}
		if time.Now().After(deadline) {
			var all cairn.List[*cairn.Run]
			mustCall(t, B.base, k.auditor, "GET", "/api/v1/workflow-runs", nil, &all, 200)
			for _, r := range all.Items {
				t.Logf("%s %s %s", r.RunID, r.Status, r.Reason)
			}
			t.Fatalf("%d of %d runs succeeded", len(l.Items), runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for i := 0; i < runs; i++ {
		var r cairn.Run
		mustCall(t, C.base, k.auditor, "GET", fmt.Sprintf("/api/v1/workflow-runs/rep-%d", i), nil, &r, 200)
		if a := r.Step("again"); a.Attempts != 2 || strings.Join(a.Jobs, ",") != fmt.Sprintf("rep-%d.again.1,rep-%d.again.2", i, i) {
			t.Fatalf("run %s step again: %+v", r.RunID, a)
		}
	}
	// A checkpoint at the end, rather than waiting for the checkpoint loop
	// (which a run this short may finish before).
	mustCall(t, C.base, testAdminKey, "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, nil, 200)
	// checkCluster fails on a job leased twice without a lease expiry in between.
	checkCluster(t, c, []int{0, 1, 2}, k.auditor)
}
