package service

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// jobCase is one job's life, as a list of moves, in a service whose clock
// only moves when the test says.
type jobCase struct {
	name  string
	steps []jobStep
	// completed is when the job's final state was reached (from t0); the
	// job's completed_at must say so (and be unset if it is not final).
	completed time.Duration
	events    string // the job's timeline: its events' types, in order
	error     string // the job's error
}

// jobStep is one move and the job's state after it.
type jobStep struct {
	do    jobOp
	state string
	code  string // the error code the move must return ("" for none)
}

// jobOp moves the job named id; lease carries the current lease.
type jobOp func(h *harness, id string, lease *string) error

func submitJob(action string) jobOp {
	return func(h *harness, id string, _ *string) error {
		_, _, err := h.s.Submit(h.ctx, hAgent, cairn.SubmitRequest{JobID: id, Action: action, Input: []byte(`{"n":1}`)}, "")
		return err
	}
}

func leaseJob(h *harness, id string, lease *string) error {
	for _, j := range h.lease("*") {
		if j.JobID == id {
			*lease = j.LeaseID
		}
	}
	return nil
}

func completeJob(status string) jobOp {
	return func(h *harness, id string, lease *string) error {
		_, err := h.s.Complete(h.ctx, hWorker, id, cairn.CompleteRequest{LeaseID: *lease, Status: status, Result: []byte(`{"ok":true}`)})
		return err
	}
}

func resolveJob(approve bool) jobOp {
	return func(h *harness, id string, _ *string) error {
		_, err := h.s.Resolve(h.ctx, hApprover, id, approve, cairn.ResolveRequest{JobHash: h.job(id).JobHash})
		return err
	}
}

func cancelJob(h *harness, id string, _ *string) error {
	_, err := h.s.Cancel(h.ctx, hAgent, id, cairn.CancelRequest{})
	return err
}

// publish makes bundle the policy in force.
func publish(bundle string) jobOp {
	return func(h *harness, _ string, _ *string) error {
		_, err := h.s.Publish(h.ctx, hAdmin, cairn.PublishRequest{Bundle: bundle})
		return err
	}
}

// Policies published between a job's submit and its dispatch.
const (
	denyTools = "default: deny\nrules:\n  - {id: no-tools, match: {actions: [\"tool.*\"]}, decision: DENY, reason: tools are off}\n"
	askTools  = "default: deny\nrules:\n  - {id: ask, match: {actions: [\"tool.*\"]}, decision: REQUIRE_APPROVAL, reason: ask first, approval: {approver_roles: [approver], expires_in: 1h}}\n"
)

func wait(d time.Duration) jobOp {
	return func(h *harness, _ string, _ *string) error { h.advance(d); return nil }
}

// sweepJobs does the expiry loop's work; next is the deadline it must
// report after (from t0), or 0 for none.
func sweepJobs(next time.Duration) jobOp {
	return func(h *harness, _ string, _ *string) error {
		got := h.sweep()
		want := time.Time{}
		if next != 0 {
			want = t0.Add(next)
		}
		if !got.Equal(want) {
			h.t.Errorf("next deadline %v, want %v", got, want)
		}
		return nil
	}
}

// TestJobLifecycle drives jobs through every path of their state machine
// with a fake clock: approval expiry and lease expiry happen when the
// clock reaches their deadline (inclusive) and not a nanosecond before.
func TestJobLifecycle(t *testing.T) {
	const (
		pa, q, r   = cairn.StatePendingApproval, cairn.StateQueued, cairn.StateRunning
		ok, fl, dn = cairn.StateSucceeded, cairn.StateFailed, cairn.StateDenied
		ex, cn     = cairn.StateExpired, cairn.StateCancelled
	)
	lease := jobOp(leaseJob)
	cancel := jobOp(cancelJob)
	leaseExpiry := func(attempt int, after string) []jobStep {
		// Leased at t0 + (attempt-1) minutes for DefaultLease (60s).
		deadline := time.Duration(attempt-1)*time.Minute + DefaultLease
		return []jobStep{
			{do: lease, state: r},
			{do: sweepJobs(deadline), state: r},
			{do: wait(DefaultLease - time.Nanosecond), state: r},
			{do: sweepJobs(deadline), state: r},
			{do: wait(time.Nanosecond), state: r},
			{do: sweepJobs(0), state: after},
			{do: wait(time.Minute - DefaultLease), state: after},
		}
	}
	cases := []jobCase{{
		name:      "allowed, leased, succeeded",
		steps:     []jobStep{{do: submitJob("tool.x"), state: q}, {do: wait(5 * time.Second), state: q}, {do: lease, state: r}, {do: wait(5 * time.Second), state: r}, {do: completeJob("succeeded"), state: ok}},
		completed: 10 * time.Second,
		events:    "job_submitted policy_decided policy_decided job_dispatched job_completed output_checked",
	}, {
		name:      "leased, failed",
		steps:     []jobStep{{do: submitJob("tool.x"), state: q}, {do: lease, state: r}, {do: wait(time.Second), state: r}, {do: completeJob("failed"), state: fl}},
		completed: time.Second,
		events:    "job_submitted policy_decided policy_decided job_dispatched job_completed output_checked",
	}, {
		name:   "denied at submit",
		steps:  []jobStep{{do: submitJob("other.x"), state: dn}, {do: lease, state: dn}, {do: cancel, state: dn, code: cairn.CodeJobNotOpen}},
		events: "job_submitted policy_decided",
	}, {
		name:      "denied at dispatch by the policy in force then",
		steps:     []jobStep{{do: submitJob("tool.x"), state: q}, {do: publish(denyTools), state: q}, {do: wait(time.Second), state: q}, {do: lease, state: dn}},
		completed: time.Second,
		events:    "job_submitted policy_decided policy_decided job_state_changed",
	}, {
		name: "approval asked at dispatch, given, then run",
		steps: []jobStep{{do: submitJob("tool.x"), state: q}, {do: publish(askTools), state: q}, {do: lease, state: pa},
			{do: resolveJob(true), state: q}, {do: lease, state: r}, {do: completeJob("succeeded"), state: ok}},
		events: "job_submitted policy_decided policy_decided approval_requested approval_resolved policy_decided job_dispatched job_completed output_checked",
	}, {
		name: "approved, then run",
		steps: []jobStep{{do: submitJob("db.write"), state: pa}, {do: lease, state: pa}, {do: wait(time.Minute), state: pa},
			{do: resolveJob(true), state: q}, {do: lease, state: r}, {do: completeJob("succeeded"), state: ok}},
		completed: time.Minute,
		events:    "job_submitted policy_decided approval_requested approval_resolved policy_decided job_dispatched job_completed output_checked",
	}, {
		name:      "rejected",
		steps:     []jobStep{{do: submitJob("db.write"), state: pa}, {do: wait(time.Minute), state: pa}, {do: resolveJob(false), state: dn}, {do: resolveJob(true), state: dn, code: cairn.CodeApprovalAlreadyResolved}},
		completed: time.Minute,
		events:    "job_submitted policy_decided approval_requested approval_resolved",
	}, {
		name: "approval expires when the sweep reaches its deadline",
		steps: []jobStep{{do: submitJob("db.write"), state: pa}, {do: sweepJobs(time.Hour), state: pa},
			{do: wait(time.Hour - time.Nanosecond), state: pa}, {do: sweepJobs(time.Hour), state: pa},
			{do: wait(time.Nanosecond), state: pa}, {do: sweepJobs(0), state: ex},
			{do: resolveJob(true), state: ex, code: cairn.CodeApprovalExpired}},
		completed: time.Hour,
		events:    "job_submitted policy_decided approval_requested approval_resolved",
	}, {
		name: "approval found expired by the approver, before any sweep",
		steps: []jobStep{{do: submitJob("db.write"), state: pa}, {do: wait(time.Hour), state: pa},
			{do: resolveJob(true), state: ex, code: cairn.CodeApprovalExpired}, {do: sweepJobs(0), state: ex}},
		completed: time.Hour,
		events:    "job_submitted policy_decided approval_requested approval_resolved",
	}, {
		name: "lease expires: queued again, leased again, succeeds",
		steps: append(append([]jobStep{{do: submitJob("tool.x"), state: q}}, leaseExpiry(1, q)...),
			jobStep{do: completeJob("succeeded"), state: q, code: cairn.CodeLeaseInvalid},
			jobStep{do: lease, state: r}, jobStep{do: completeJob("succeeded"), state: ok}),
		completed: time.Minute,
		events:    "job_submitted policy_decided policy_decided job_dispatched lease_expired policy_decided job_dispatched job_completed output_checked",
	}, {
		name: "a lease's holder cannot complete once it has run out, swept or not",
		steps: []jobStep{{do: submitJob("tool.x"), state: q}, {do: lease, state: r},
			{do: wait(DefaultLease + time.Nanosecond), state: r}, {do: completeJob("succeeded"), state: r, code: cairn.CodeLeaseInvalid},
			{do: sweepJobs(0), state: q}},
		events: "job_submitted policy_decided policy_decided job_dispatched lease_expired",
	}, {
		name: "the lease expires MaxAttempts times: failed",
		steps: append(append(append(append(append([]jobStep{{do: submitJob("tool.x"), state: q}},
			leaseExpiry(1, q)...), leaseExpiry(2, q)...), leaseExpiry(3, q)...), leaseExpiry(4, q)...), leaseExpiry(5, fl)...),
		completed: 4*time.Minute + DefaultLease,
		error:     "lease expired 5 times",
		events:    "job_submitted policy_decided" + strings.Repeat(" policy_decided job_dispatched lease_expired", MaxAttempts),
	}, {
		name:      "cancelled while queued",
		steps:     []jobStep{{do: submitJob("tool.x"), state: q}, {do: wait(time.Second), state: q}, {do: cancel, state: cn}, {do: lease, state: cn}},
		completed: time.Second,
		events:    "job_submitted policy_decided job_state_changed",
	}, {
		name: "cancelled while running: the worker's complete is refused",
		steps: []jobStep{{do: submitJob("tool.x"), state: q}, {do: lease, state: r}, {do: cancel, state: cn},
			{do: completeJob("succeeded"), state: cn, code: cairn.CodeLeaseInvalid}, {do: wait(time.Hour), state: cn}, {do: sweepJobs(0), state: cn}},
		events: "job_submitted policy_decided policy_decided job_dispatched job_state_changed",
	}, {
		name:   "cancelled while waiting for approval",
		steps:  []jobStep{{do: submitJob("db.write"), state: pa}, {do: cancel, state: cn}, {do: wait(time.Hour), state: cn}, {do: sweepJobs(0), state: cn}},
		events: "job_submitted policy_decided approval_requested approval_resolved",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			const id = "job-1"
			var leaseID string
			for i, st := range c.steps {
				err := st.do(h, id, &leaseID)
				if got := errCode(err); got != st.code {
					t.Fatalf("step %d: error %v, want code %q", i, err, st.code)
				}
				if got := h.job(id).State; got != st.state {
					t.Fatalf("step %d: state %s, want %s", i, got, st.state)
				}
			}
			j := h.job(id)
			if !cairn.IsFinalState(j.State) {
				if j.CompletedAt != nil {
					t.Errorf("%s job has completed_at %v", j.State, j.CompletedAt)
				}
			} else if j.CompletedAt == nil || !j.CompletedAt.Equal(t0.Add(c.completed)) {
				t.Errorf("completed_at %v, want %v", j.CompletedAt, t0.Add(c.completed))
			}
			if string(j.Error) != c.error {
				t.Errorf("error %q, want %q", j.Error, c.error)
			}
			if got := h.events(cairn.EventFilter{JobID: id}); got != c.events {
				t.Errorf("events:\n got %s\nwant %s", got, c.events)
			}
		})
	}
}
