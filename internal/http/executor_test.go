package http_test

import (
	"testing"

	"github.com/cairnhq/cairn"
)

// TestExecutorBoundJobs: a job submitted with an executor is never handed
// out by a glob lease, only to its executor naming its job_id; a lease by
// job_id of an unbound job works for any worker.
func TestExecutorBoundJobs(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Key("gateway", "service", "agent", "worker")
	bound := e.Submit("agent-1", cairn.SubmitRequest{JobID: "bound-1", Action: "db.read", Executor: "gateway"})
	if bound.Executor != "gateway" || bound.State != cairn.StateQueued {
		t.Fatalf("bound job: %+v", bound)
	}
	if got := e.Lease("*"); len(got) != 0 {
		t.Fatalf("a glob lease handed out an executor-bound job: %s", got[0].JobID)
	}
	var lr cairn.LeaseResponse
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{JobID: "bound-1"}, 200, &lr)
	if len(lr.Jobs) != 0 {
		t.Fatal("another worker leased an executor-bound job by id")
	}
	e.MustDo("gateway", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{JobID: "bound-1", WorkerID: "gw"}, 200, &lr)
	if len(lr.Jobs) != 1 || lr.Jobs[0].JobID != "bound-1" || lr.Jobs[0].Receipt == nil {
		t.Fatalf("executor lease by id: %+v", lr.Jobs)
	}
	// Unbound jobs can be leased by id too, and only the named one.
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "free-1", Action: "db.read"})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "free-2", Action: "db.read"})
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{JobID: "free-2", Max: 10}, 200, &lr)
	if len(lr.Jobs) != 1 || lr.Jobs[0].JobID != "free-2" {
		t.Fatalf("lease by id: %+v", lr.Jobs)
	}
	e.ErrCode("worker-1", "POST", "/api/v1/workers/lease", `{"job_id":"../x"}`, 400, cairn.EInvalid)
	e.ErrCode("agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","executor":"a b"}`, 400, cairn.EInvalid)
}

// TestCancelJob: the submitter cancels its pending or queued job, the
// executor its running one; others cannot; the evidence says who and why.
func TestCancelJob(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Key("gateway", "service", "agent", "worker")
	pending := e.Submit("agent-1", cairn.SubmitRequest{JobID: "c-pending", RunID: "c-run", Action: "db.write", Labels: map[string]string{"env": "prod"}})
	if pending.State != cairn.StatePendingApproval {
		t.Fatalf("state %s", pending.State)
	}
	e.ErrCode("agent-2", "POST", "/api/v1/jobs/c-pending/cancel", `{}`, 404, cairn.ENotFound)
	e.ErrCode("worker-1", "POST", "/api/v1/jobs/c-pending/cancel", `{}`, 404, cairn.ENotFound)
	var j cairn.Job
	e.MustDo("agent-1", "POST", "/api/v1/jobs/c-pending/cancel", cairn.CancelRequest{Reason: "client cancelled"}, 200, &j)
	if j.State != cairn.StateCancelled {
		t.Fatalf("state %s", j.State)
	}
	var appr cairn.List[*cairn.Approval]
	e.MustDo("manager-2", "GET", "/api/v1/approvals?include_resolved=true", nil, 200, &appr)
	if len(appr.Items) != 1 || appr.Items[0].Resolution != cairn.ResolutionCancelled {
		t.Fatalf("approval: %+v", appr.Items)
	}
	e.ErrCode("manager-2", "POST", "/api/v1/approvals/c-pending/approve", cairn.ResolveRequest{JobHash: pending.JobHash}, 409, cairn.CodeApprovalAlreadyResolved)
	e.ErrCode("agent-1", "POST", "/api/v1/jobs/c-pending/cancel", `{}`, 409, "job_not_open")

	// A running job bound to the gateway: the gateway cancels it, and the
	// lease no longer completes.
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "c-run-1", RunID: "c-run", Action: "db.read", Executor: "gateway"})
	var lr cairn.LeaseResponse
	e.MustDo("gateway", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{JobID: "c-run-1"}, 200, &lr)
	if len(lr.Jobs) != 1 {
		t.Fatal("no lease")
	}
	e.MustDo("gateway", "POST", "/api/v1/jobs/c-run-1/cancel", cairn.CancelRequest{Reason: "notifications/cancelled"}, 200, &j)
	e.ErrCode("gateway", "POST", "/api/v1/jobs/c-run-1/complete", cairn.CompleteRequest{LeaseID: lr.Jobs[0].LeaseID, Status: "succeeded"}, 409, cairn.CodeLeaseInvalid)

	var tl cairn.List[*cairn.Event]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/c-run/timeline", nil, 200, &tl)
	var sawReason bool
	for _, ev := range tl.Items {
		if ev.Type == cairn.EventJobStateChanged && ev.State == cairn.StateCancelled && ev.Actor == "gateway" && ev.DataMap()["reason"] == "notifications/cancelled" {
			sawReason = true
		}
	}
	if !sawReason {
		t.Fatal("the timeline does not say who cancelled and why")
	}
	var run cairn.Run
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/c-run", nil, 200, &run)
	if run.Status != cairn.RunCompleted {
		t.Fatalf("run status %s after its last job was cancelled", run.Status)
	}
	var v struct{ OK bool }
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/verify", nil, 200, &v)
	if !v.OK {
		t.Fatal("ledger does not verify")
	}
}
