package service

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// runCase is one workflow run, moved step by step under a fake clock.
type runCase struct {
	name     string
	workflow string
	steps    []runStep
	reason   string // what the run's final reason must contain
	// check looks at what the moves left behind.
	check func(t *testing.T, h *harness)
}

// runStep is one move and the run after it: its status, then each step's
// ("waiting_approval gate=waiting_approval").
type runStep struct {
	do   runOp
	want string
	code string // the error code the move must return ("" for none)
}

// runOp moves run-1; leases holds the open leases by action.
type runOp func(h *harness, leases map[string]*cairn.LeasedJob) error

const runID = "run-1"

func startRun(h *harness, _ map[string]*cairn.LeasedJob) error {
	_, _, err := h.s.StartRun(h.ctx, hAgent, cairn.StartRunRequest{WorkflowID: "w", RunID: runID})
	return err
}

// leaseStep leases the queued job of action for an hour.
func leaseStep(action string) runOp {
	return func(h *harness, leases map[string]*cairn.LeasedJob) error {
		js, err := h.s.Lease(h.ctx, hWorker, cairn.LeaseRequest{Actions: []string{action}, LeaseMS: int(time.Hour.Milliseconds())})
		if err != nil {
			return err
		}
		if len(js) != 1 {
			h.t.Fatalf("lease %s: %d jobs", action, len(js))
		}
		leases[action] = js[0]
		return nil
	}
}

// completeStep completes the job leased for action.
func completeStep(action, status string) runOp {
	return func(h *harness, leases map[string]*cairn.LeasedJob) error {
		j := leases[action]
		_, err := h.s.Complete(h.ctx, hWorker, j.JobID, cairn.CompleteRequest{LeaseID: j.LeaseID, Status: status})
		return err
	}
}

// work leases the job of action and completes it with status.
func work(action, status string) runOp {
	return func(h *harness, leases map[string]*cairn.LeasedJob) error {
		if err := leaseStep(action)(h, leases); err != nil {
			return err
		}
		return completeStep(action, status)(h, leases)
	}
}

func vote(step string, approve bool) runOp {
	return func(h *harness, _ map[string]*cairn.LeasedJob) error {
		_, err := h.s.VoteGate(h.ctx, hApprover, runID, step, approve, cairn.GateVoteRequest{JobHash: h.run(runID).Step(step).Gate.JobHash})
		return err
	}
}

func advance(d time.Duration) runOp {
	return func(h *harness, _ map[string]*cairn.LeasedJob) error { h.advance(d); return nil }
}

// sweepRuns does the expiry loop's work; next is the deadline it must
// report after (from t0), or 0 for none.
func sweepRuns(next time.Duration) runOp {
	return func(h *harness, _ map[string]*cairn.LeasedJob) error {
		return sweepJobs(next)(h, "", nil)
	}
}

// runState is a run's status and its steps' ("running a=succeeded b=running").
func runState(r *cairn.Run) string {
	out := []string{r.Status}
	for _, st := range r.Steps {
		out = append(out, st.StepID+"="+st.Status)
	}
	return strings.Join(out, " ")
}

// TestEngine drives workflow runs through the engine's deadlines with a
// fake clock: gates, retry backoff, attempt, compensation and run
// timeouts and the approval of a step's job expire when the clock reaches
// them (inclusive), not a nanosecond before; the sweep reports the next.
func TestEngine(t *testing.T) {
	start := runOp(startRun)
	cases := []runCase{{
		name:     "gate expires when the sweep reaches its deadline",
		workflow: "steps:\n  - {id: only, action: tool.x, gate: {expires_in: 1h}}\n",
		steps: []runStep{
			{do: start, want: "waiting_approval only=waiting_approval"},
			{do: sweepRuns(time.Hour), want: "waiting_approval only=waiting_approval"},
			{do: advance(time.Hour - time.Nanosecond), want: "waiting_approval only=waiting_approval"},
			{do: sweepRuns(time.Hour), want: "waiting_approval only=waiting_approval"},
			{do: advance(time.Nanosecond), want: "waiting_approval only=waiting_approval"},
			{do: sweepRuns(0), want: "timed_out only=timed_out"},
			{do: vote("only", true), want: "timed_out only=timed_out", code: cairn.CodeApprovalExpired},
		},
		reason: "step only: gate expired",
		check: func(t *testing.T, h *harness) {
			if g := h.run(runID).Step("only").Gate; g.Status != cairn.GateExpired || !g.ResolvedAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("gate %s resolved at %v", g.Status, g.ResolvedAt)
			}
		},
	}, {
		name:     "gate found expired by a voter, before any sweep",
		workflow: "steps:\n  - {id: only, action: tool.x, gate: {expires_in: 1h}}\n",
		steps: []runStep{
			{do: start, want: "waiting_approval only=waiting_approval"},
			{do: advance(time.Hour), want: "waiting_approval only=waiting_approval"},
			{do: vote("only", true), want: "timed_out only=timed_out", code: cairn.CodeApprovalExpired},
			{do: sweepRuns(0), want: "timed_out only=timed_out"},
		},
		reason: "gate expired",
	}, {
		name:     "gate approved in time: the step runs",
		workflow: "steps:\n  - {id: only, action: tool.x, gate: {expires_in: 1h}}\n",
		steps: []runStep{
			{do: start, want: "waiting_approval only=waiting_approval"},
			{do: advance(time.Hour - time.Nanosecond), want: "waiting_approval only=waiting_approval"},
			{do: vote("only", true), want: "running only=running"},
			{do: sweepRuns(0), want: "running only=running"},
			{do: work("tool.x", "succeeded"), want: "succeeded only=succeeded"},
		},
	}, {
		name:     "retry backoff doubles up to max_backoff",
		workflow: "steps:\n  - {id: flaky, action: tool.flaky, retry: {max_attempts: 4, backoff: 1m, max_backoff: 3m}}\n",
		steps: []runStep{
			{do: start, want: "running flaky=running"},
			{do: work("tool.flaky", "failed"), want: "running flaky=retry_wait"},
			{do: sweepRuns(time.Minute), want: "running flaky=retry_wait"},
			{do: advance(time.Minute - time.Nanosecond), want: "running flaky=retry_wait"},
			{do: sweepRuns(time.Minute), want: "running flaky=retry_wait"},
			{do: advance(time.Nanosecond), want: "running flaky=retry_wait"},
			{do: sweepRuns(0), want: "running flaky=running"},
			{do: work("tool.flaky", "failed"), want: "running flaky=retry_wait"},
			{do: sweepRuns(3 * time.Minute), want: "running flaky=retry_wait"}, // 1m + 2m
			{do: advance(2 * time.Minute), want: "running flaky=retry_wait"},
			{do: sweepRuns(0), want: "running flaky=running"},
			{do: work("tool.flaky", "failed"), want: "running flaky=retry_wait"},
			{do: sweepRuns(6 * time.Minute), want: "running flaky=retry_wait"}, // 3m + 3m, not 4m
			{do: advance(3 * time.Minute), want: "running flaky=retry_wait"},
			{do: sweepRuns(0), want: "running flaky=running"},
			{do: work("tool.flaky", "failed"), want: "failed flaky=failed"},
		},
		reason: "step flaky: job failed",
		check: func(t *testing.T, h *harness) {
			st := h.run(runID).Step("flaky")
			if st.Attempts != 4 || strings.Join(st.Jobs, " ") != "run-1.flaky.1 run-1.flaky.2 run-1.flaky.3 run-1.flaky.4" {
				t.Errorf("attempts %d, jobs %v", st.Attempts, st.Jobs)
			}
			if got := strings.Count(h.events(cairn.EventFilter{RunID: runID}), "step_retry_scheduled"); got != 3 {
				t.Errorf("%d retries scheduled", got)
			}
		},
	}, {
		name:     "attempt timeout: retried at once, then the step times out",
		workflow: "steps:\n  - {id: slow, action: tool.slow, timeout: 5m, retry: {max_attempts: 2}}\n",
		steps: []runStep{
			{do: start, want: "running slow=running"},
			{do: leaseStep("tool.slow"), want: "running slow=running"},
			{do: sweepRuns(5 * time.Minute), want: "running slow=running"},
			{do: advance(5*time.Minute - time.Nanosecond), want: "running slow=running"},
			{do: sweepRuns(5 * time.Minute), want: "running slow=running"},
			{do: advance(time.Nanosecond), want: "running slow=running"},
			{do: sweepRuns(10 * time.Minute), want: "running slow=running"}, // attempt 2, until 10m
			{do: completeStep("tool.slow", "succeeded"), want: "running slow=running", code: cairn.CodeLeaseInvalid},
			{do: leaseStep("tool.slow"), want: "running slow=running"},
			{do: advance(5 * time.Minute), want: "running slow=running"},
			{do: sweepRuns(0), want: "timed_out slow=timed_out"},
			{do: completeStep("tool.slow", "succeeded"), want: "timed_out slow=timed_out", code: cairn.CodeLeaseInvalid},
		},
		reason: "step slow: attempt 2 timed out after 5m0s",
		check: func(t *testing.T, h *harness) {
			for _, id := range []string{"run-1.slow.1", "run-1.slow.2"} {
				if j := h.job(id); j.State != cairn.StateCancelled {
					t.Errorf("job %s is %s", id, j.State)
				}
			}
		},
	}, {
		name:     "compensation timeout fails the step and the run",
		workflow: "steps:\n  - {id: ship, action: tool.ship, timeout: 10m, on_failure: {compensate: {action: tool.refund}}}\n",
		steps: []runStep{
			{do: start, want: "running ship=running"},
			{do: advance(time.Minute), want: "running ship=running"},
			{do: work("tool.ship", "failed"), want: "running ship=compensating"},
			{do: leaseStep("tool.refund"), want: "running ship=compensating"},
			{do: sweepRuns(11 * time.Minute), want: "running ship=compensating"},
			{do: advance(10*time.Minute - time.Nanosecond), want: "running ship=compensating"},
			{do: sweepRuns(11 * time.Minute), want: "running ship=compensating"},
			{do: advance(time.Nanosecond), want: "running ship=compensating"},
			{do: sweepRuns(0), want: "failed ship=failed"},
			{do: completeStep("tool.refund", "succeeded"), want: "failed ship=failed", code: cairn.CodeLeaseInvalid},
		},
		reason: "compensation job run-1.ship.compensate timed out after 10m0s",
		check: func(t *testing.T, h *harness) {
			if j := h.job("run-1.ship.compensate"); j.State != cairn.StateCancelled {
				t.Errorf("compensation job is %s", j.State)
			}
		},
	}, {
		name:     "compensation ends in time: the run fails, saying how it ended",
		workflow: "steps:\n  - {id: ship, action: tool.ship, timeout: 10m, on_failure: {compensate: {action: tool.refund}}}\n",
		steps: []runStep{
			{do: start, want: "running ship=running"},
			{do: work("tool.ship", "failed"), want: "running ship=compensating"},
			{do: advance(10*time.Minute - time.Nanosecond), want: "running ship=compensating"},
			{do: work("tool.refund", "succeeded"), want: "failed ship=failed"},
			{do: advance(time.Hour), want: "failed ship=failed"},
			{do: sweepRuns(0), want: "failed ship=failed"},
		},
		reason: "compensation job run-1.ship.compensate ended SUCCEEDED",
	}, {
		name:     "the approval of a step's job expires: the step and the run time out",
		workflow: "steps:\n  - {id: write, action: db.write}\n  - {id: after, action: tool.x, depends_on: [write]}\n",
		steps: []runStep{
			{do: start, want: "waiting_approval write=running after=pending"},
			{do: sweepRuns(time.Hour), want: "waiting_approval write=running after=pending"},
			{do: advance(time.Hour - time.Nanosecond), want: "waiting_approval write=running after=pending"},
			{do: sweepRuns(time.Hour), want: "waiting_approval write=running after=pending"},
			{do: advance(time.Nanosecond), want: "waiting_approval write=running after=pending"},
			{do: sweepRuns(0), want: "timed_out write=timed_out after=cancelled"},
		},
		reason: "step write: the job's approval expired",
		check: func(t *testing.T, h *harness) {
			if j := h.job("run-1.write.1"); j.State != cairn.StateExpired {
				t.Errorf("step job is %s", j.State)
			}
		},
	}, {
		name:     "run timeout cancels what is open",
		workflow: "timeout: 30m\nsteps:\n  - {id: a, action: tool.a}\n  - {id: b, action: tool.b, depends_on: [a]}\n",
		steps: []runStep{
			{do: start, want: "running a=running b=pending"},
			{do: leaseStep("tool.a"), want: "running a=running b=pending"},
			{do: sweepRuns(30 * time.Minute), want: "running a=running b=pending"},
			{do: advance(30*time.Minute - time.Nanosecond), want: "running a=running b=pending"},
			{do: sweepRuns(30 * time.Minute), want: "running a=running b=pending"},
			{do: advance(time.Nanosecond), want: "running a=running b=pending"},
			{do: sweepRuns(0), want: "timed_out a=cancelled b=cancelled"},
			{do: completeStep("tool.a", "succeeded"), want: "timed_out a=cancelled b=cancelled", code: cairn.CodeLeaseInvalid},
		},
		reason: "the run exceeded its timeout of 30m0s",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t) })
	}
}

// run registers the case's workflow in a fresh harness and makes its moves.
func (c runCase) run(t *testing.T) {
	h := newHarness(t)
	if _, _, err := h.s.RegisterWorkflow(h.ctx, hAdmin, cairn.RegisterWorkflowRequest{Definition: "name: w\n" + c.workflow}); err != nil {
		t.Fatal(err)
	}
	leases := map[string]*cairn.LeasedJob{}
	for i, st := range c.steps {
		err := st.do(h, leases)
		if got := errCode(err); got != st.code {
			t.Fatalf("step %d: error %v, want code %q", i, err, st.code)
		}
		if got := runState(h.run(runID)); got != st.want {
			t.Fatalf("step %d: %s, want %s", i, got, st.want)
		}
	}
	r := h.run(runID)
	if !strings.Contains(r.Reason, c.reason) {
		t.Errorf("reason %q, want it to contain %q", r.Reason, c.reason)
	}
	if cairn.IsFinalRunStatus(r.Status) && (r.CompletedAt == nil || r.CompletedAt.After(h.clock.Now()) || r.CompletedAt.Before(t0)) {
		t.Errorf("completed_at %v, not on the fake clock (%v)", r.CompletedAt, h.clock.Now())
	}
	if c.check != nil {
		c.check(t, h)
	}
}
