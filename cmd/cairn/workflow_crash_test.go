package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

const crashWorkflow = `name: crashy
steps:
  - id: a
    action: tool.a
    input: {n: "${{ input.n }}"}
  - id: b
    action: tool.b
    depends_on: [a]
    retry: {max_attempts: 3, backoff: 20ms}
    input: {from_a: "${{ steps.a.result.v }}"}
  - id: c
    action: tool.c
    depends_on: [a]
  - id: d
    action: tool.d
    depends_on: [b, c]
    gate: {approver_roles: [approver], quorum: 1}
`

// TestWorkflowCrashSafety SIGKILLs the server at random points while
// workflow runs advance (workers completing, a step failing and retrying,
// gates being approved), restarts it each time, and then checks that every
// run finished with each step attempt dispatched exactly once (again only
// after its lease expired) and every transition on the timeline.
func TestWorkflowCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server")
	}
	dataDir := t.TempDir()
	addr := freeAddr(t)
	p := startServer(t, dataDir, addr)
	base := p.base
	must := func(st int, err error, what string) {
		t.Helper()
		if err != nil || st >= 300 {
			t.Fatalf("%s: %d %v", what, st, err)
		}
	}
	st, err := call(base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: "default: deny\nrules:\n  - id: tools\n    match: {actions: [\"tool.*\"]}\n    decision: ALLOW\n    reason: tools\n"}, nil)
	must(st, err, "publish")
	keys := map[string]string{}
	for _, k := range []struct{ name, kind, role string }{{"agent-w", "agent", "agent"}, {"worker-w", "service", "worker"}, {"approver-w", "human", "approver"}} {
		var ck cairn.CreatedKey
		st, err := call(base, testAdminKey, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: k.name, Kind: k.kind, Roles: []string{k.role}}, &ck)
		must(st, err, "key")
		keys[k.name] = ck.Key
	}
	var wf cairn.Workflow
	st, err = call(base, testAdminKey, "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: crashWorkflow}, &wf)
	must(st, err, "register")

	const runs = 24
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	cur := func() string { return base } // restarts reuse the address

	// Starters: each run is started (and retried until acknowledged).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < runs && ctx.Err() == nil; {
			req := cairn.StartRunRequest{WorkflowID: wf.WorkflowID, RunID: fmt.Sprintf("crash-%02d", i), Input: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
			st, err := call(cur(), keys["agent-w"], "POST", "/api/v1/workflow-runs", req, nil)
			if err == nil && st < 300 {
				i++
				continue
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// Workers: b's first attempt fails; everything else succeeds.
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				var lr cairn.LeaseResponse
				st, err := call(cur(), keys["worker-w"], "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: fmt.Sprintf("w%d", w), Max: 4, WaitMS: 200, LeaseMS: 1000}, &lr)
				if err != nil || st != 200 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				for _, j := range lr.Jobs {
					status := "succeeded"
					if strings.HasSuffix(j.JobID, ".b.1") {
						status = "failed"
					}
					call(cur(), keys["worker-w"], "POST", "/api/v1/jobs/"+j.JobID+"/complete",
						cairn.CompleteRequest{LeaseID: j.LeaseID, Status: status, Result: json.RawMessage(`{"v":"x"}`)}, nil)
				}
			}
		}(w)
	}
	// Approver: approves every waiting gate.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			var l cairn.List[*cairn.Run]
			if st, err := call(cur(), keys["approver-w"], "GET", "/api/v1/workflow-runs?status=waiting_approval&limit=100", nil, &l); err == nil && st == 200 {
				for _, r := range l.Items {
					for _, s := range r.Steps {
						if s.Gate != nil && s.Gate.Status == cairn.GatePending {
							call(cur(), keys["approver-w"], "POST", "/api/v1/workflow-runs/"+r.RunID+"/steps/"+s.StepID+"/approve", cairn.GateVoteRequest{JobHash: s.Gate.JobHash}, nil)
						}
					}
				}
			}
			time.Sleep(30 * time.Millisecond)
		}
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for kill := 0; kill < 4; kill++ {
		time.Sleep(time.Duration(150+rng.IntN(500)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		p = startServer(t, dataDir, addr)
	}

	// Let everything finish.
	deadline := time.Now().Add(60 * time.Second)
	var all []*cairn.Run
	for {
		var l cairn.List[*cairn.Run]
		st, err := call(p.base, testAdminKey, "GET", "/api/v1/workflow-runs?limit=100", nil, &l)
		must(st, err, "list runs")
		done := 0
		for _, r := range l.Items {
			if cairn.IsFinalRunStatus(r.Status) {
				done++
			}
		}
		if len(l.Items) == runs && done == runs {
			all = l.Items
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs, %d finished after the kills", len(l.Items), done)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	for _, r := range all {
		if r.Status != cairn.RunSucceeded {
			t.Errorf("run %s is %s: %s", r.RunID, r.Status, r.Reason)
			continue
		}
		var tl cairn.List[*cairn.Event]
		st, err := call(p.base, testAdminKey, "GET", "/api/v1/workflow-runs/"+r.RunID+"/timeline?limit=1000", nil, &tl)
		must(st, err, "timeline")
		count := map[string]int{}
		for i, ev := range tl.Items {
			if ev.Seq != int64(i+1) {
				t.Fatalf("run %s: timeline seq %d at position %d", r.RunID, ev.Seq, i+1)
			}
			count[ev.Type+"/"+string(ev.WorkflowStepID)+"/"+string(ev.JobID)]++
			count[ev.Type]++
		}
		if count[cairn.EventRunStarted] != 1 || count[cairn.EventRunCompleted] != 1 || tl.Items[len(tl.Items)-1].Type != cairn.EventRunCompleted {
			t.Errorf("run %s: run_started %d, run_completed %d", r.RunID, count[cairn.EventRunStarted], count[cairn.EventRunCompleted])
		}
		for _, s := range r.Steps {
			if s.Status != cairn.StepSucceeded || s.Attempts != len(s.Jobs) {
				t.Errorf("run %s step %s: %s, %d attempts, jobs %v", r.RunID, s.StepID, s.Status, s.Attempts, s.Jobs)
			}
			wantAttempts := 1
			if s.StepID == "b" {
				wantAttempts = 2
			}
			if s.Attempts != wantAttempts {
				t.Errorf("run %s step %s: %d attempts, want %d (jobs %v)", r.RunID, s.StepID, s.Attempts, wantAttempts, s.Jobs)
			}
			if n := count[cairn.EventStepSucceeded+"/"+s.StepID+"/"+s.JobID]; n != 1 {
				t.Errorf("run %s step %s: %d step_succeeded events", r.RunID, s.StepID, n)
			}
			for _, j := range s.Jobs {
				started := count[cairn.EventStepStarted+"/"+s.StepID+"/"+j]
				dispatched := count[cairn.EventJobDispatched+"/"+s.StepID+"/"+j]
				expired := count[cairn.EventLeaseExpired+"/"+s.StepID+"/"+j]
				completed := count[cairn.EventJobCompleted+"/"+s.StepID+"/"+j]
				if started != 1 || dispatched != 1+expired || completed != 1 {
					t.Errorf("run %s job %s: step_started %d, job_dispatched %d, lease_expired %d, job_completed %d",
						r.RunID, j, started, dispatched, expired, completed)
				}
			}
		}
		if count[cairn.EventStepRetryScheduled] != 1 || count[cairn.EventGateResolved] != 1 {
			t.Errorf("run %s: %d retries, %d gate resolutions", r.RunID, count[cairn.EventStepRetryScheduled], count[cairn.EventGateResolved])
		}
	}
	// The ledger stays verifiable end to end.
	var rep struct {
		OK       bool            `json:"ok"`
		Problems json.RawMessage `json:"problems"`
	}
	st, err = call(p.base, testAdminKey, "GET", "/api/v1/ledger/verify", nil, &rep)
	if err != nil || st != 200 {
		t.Fatalf("verify: %d %v", st, err)
	}
	if !rep.OK {
		t.Fatalf("the ledger does not verify after the kills: %s", rep.Problems)
	}
}
