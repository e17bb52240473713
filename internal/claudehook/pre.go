package claudehook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
)

// maxRounds bounds how often one PreToolUse goes round submit → wait →
// dispatch (a dispatch can send a job back to approval).
const maxRounds = 4

// pre answers a PreToolUse event: submit, wait, dispatch.
func (h *hook) pre(ctx context.Context) Answer {
	cctx, cancel := h.call(ctx)
	me, err := h.c.WhoAmI(cctx)
	cancel()
	if err != nil {
		return h.preFailure("reading the hook key's principal", err)
	}
	if !me.Has(cairn.RoleAgent) || !me.Has(cairn.RoleWorker) {
		return deny(fmt.Sprintf("Cairn hook key of %s has roles %v; it needs agent and worker. Nothing was allowed.", me.ID, me.Roles))
	}
	if h.cfg.WorkerID == "" {
		h.cfg.WorkerID = "claude-code:" + me.ID
	}
	// An allowed tool use is leased in the submit's own write (ADR 0023).
	cctx, cancel = h.call(ctx)
	job, lease, err := h.c.SubmitAndLease(cctx, cairn.SubmitRequest{
		JobID: h.jobID, RunID: h.ev.RunID(), Action: h.ev.Action(),
		Input: h.ev.ToolInput, Executor: me.ID,
		Lease: &cairn.SubmitLease{WorkerID: h.cfg.WorkerID, LeaseMS: int(h.cfg.Lease / time.Millisecond)},
	})
	cancel()
	if err != nil {
		return h.preFailure("submitting the tool use", err)
	}
	if lease != nil {
		if job.Decision == cairn.AllowWithConstraints {
			return h.refuse(ctx, job, fmt.Sprintf("%s: Claude Code's own tools cannot be held to constraints %s", decisionText(job), job.Constraints))
		}
		return h.dispatched(ctx, job, lease)
	}
	return h.settle(ctx, job)
}

// settle drives a submitted job to an answer: dispatch a QUEUED job, wait
// for a pending approval, report a final one.
func (h *hook) settle(ctx context.Context, job *cairn.Job) Answer {
	deadline := time.Now().Add(h.cfg.Wait)
	atDispatch := false
	for range maxRounds {
		switch job.State {
		case cairn.StateQueued:
			ans, next := h.dispatch(ctx, job)
			if next == nil {
				return ans
			}
			job, atDispatch = next, true
		case cairn.StatePendingApproval:
			next, err := h.waitApproval(ctx, job, deadline)
			if err != nil {
				return h.preFailure("waiting for the approval", err)
			}
			if next == nil {
				return h.timedOut(ctx, job)
			}
			job = next
		case cairn.StateRunning:
			return h.replay(job)
		default:
			return deny(h.finalReason(ctx, job, atDispatch))
		}
	}
	return deny(fmt.Sprintf("Cairn job %s kept changing state (%s); nothing was allowed.", job.JobID, job.State))
}

// dispatch leases a QUEUED job by its id, which re-decides it and records
// the dispatch with its receipt, and answers allow only when the receipt
// verifies. When nothing was leased it returns the job as it is now.
func (h *hook) dispatch(ctx context.Context, job *cairn.Job) (Answer, *cairn.Job) {
	if job.Decision == cairn.AllowWithConstraints {
		return h.refuse(ctx, job, fmt.Sprintf("%s: Claude Code's own tools cannot be held to constraints %s", decisionText(job), job.Constraints)), nil
	}
	cctx, cancel := h.call(ctx)
	defer cancel()
	lr, err := h.c.Lease(cctx, cairn.LeaseRequest{
		WorkerID: h.cfg.WorkerID, JobID: job.JobID, Max: 1, LeaseMS: int(h.cfg.Lease / time.Millisecond),
	})
	if err != nil {
		return h.preFailure("dispatching the job", err), nil
	}
	if len(lr.Jobs) == 0 {
		next, err := h.c.GetJob(cctx, job.JobID)
		if err != nil {
			return h.preFailure("reading the job after dispatch", err), nil
		}
		if next.State == cairn.StateQueued {
			return deny(fmt.Sprintf("Cairn job %s is QUEUED but could not be leased by %s; nothing was allowed.", job.JobID, h.cfg.WorkerID)), nil
		}
		return Answer{}, next
	}
	return h.dispatched(ctx, job, lr.Jobs[0]), nil
}

// dispatched checks a leased job (no log, no run; no constraints), leaves
// its lease for PostToolUse, and allows the tool use.
func (h *hook) dispatched(ctx context.Context, job *cairn.Job, lj *cairn.LeasedJob) Answer {
	if err := h.verifyReceipt(ctx, lj); err != nil {
		return h.refuse(ctx, job, "no log, no run: the dispatch receipt did not verify ("+clip(err.Error(), 200)+")")
	}
	if c := bytes.TrimSpace(lj.Constraints); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		return h.refuse(ctx, job, fmt.Sprintf("dispatched with constraints %s, which Claude Code's own tools cannot be held to", c))
	}
	st := State{JobID: job.JobID, Mode: ModeDispatched, LeaseID: lj.LeaseID, LeaseExpiresAt: lj.LeaseExpiresAt, SavedAt: time.Now().UTC()}
	if err := saveState(h.cfg.StateDir, st); err != nil {
		return h.refuse(ctx, job, "the lease could not be kept for PostToolUse ("+clip(err.Error(), 200)+")")
	}
	return allow(fmt.Sprintf("%s%s; job %s dispatched to %s (dispatch receipt verified, ledger #%d); Claude Code runs the tool.",
		decisionText(job), h.approvedBy(ctx, job), job.JobID, h.cfg.WorkerID, lj.Receipt.Ledger.Index))
}

// verifyReceipt checks the dispatch receipt against the pinned log key, or
// the server's.
func (h *hook) verifyReceipt(ctx context.Context, lj *cairn.LeasedJob) error {
	key := h.cfg.LogKey
	if key == "" {
		cctx, cancel := h.call(ctx)
		defer cancel()
		k, err := h.c.LedgerKey(cctx)
		if err != nil {
			return fmt.Errorf("fetching the log key: %s", h.describe(err))
		}
		key = k
	}
	return client.ReceiptVerifier(key)(lj)
}

// waitApproval polls the job with backoff until it leaves PENDING_APPROVAL
// or the deadline passes (then it returns nil, nil). A server that cannot
// be reached for a moment is polled again; one still unreachable at the
// deadline is an error.
func (h *hook) waitApproval(ctx context.Context, job *cairn.Job, deadline time.Time) (*cairn.Job, error) {
	delay := 100 * time.Millisecond
	var lastErr error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, lastErr
		}
		if !sleep(ctx, min(delay, left)) {
			return nil, ctx.Err()
		}
		delay = min(delay*3/2, 2*time.Second)
		cctx, cancel := context.WithTimeout(ctx, min(callTimeout, max(time.Until(deadline), 100*time.Millisecond)))
		next, err := h.c.GetJob(cctx, job.JobID)
		cancel()
		switch {
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !time.Now().Before(deadline):
			// The wait ran out during this poll: the job was pending at
			// the last answer, so it is a timeout, not an outage.
			lastErr = nil
		case err != nil && unreachable(err):
			lastErr = err
		case err != nil:
			return nil, err
		case next.State != cairn.StatePendingApproval:
			return next, nil
		default:
			lastErr = nil
		}
	}
}

// timedOut answers a job whose approval is still pending after --wait.
func (h *hook) timedOut(ctx context.Context, job *cairn.Job) Answer {
	who := h.whoMayApprove(ctx, job)
	link := h.approvalLink(job.JobID)
	if h.cfg.OnTimeout == OnTimeoutAsk {
		saveState(h.cfg.StateDir, State{JobID: job.JobID, Mode: ModeAsked, SavedAt: time.Now().UTC()})
		return ask(fmt.Sprintf("%s; job %s is waiting for approval at %s (%s), and none came within %s. Answering yes here runs the tool on your own authority, outside Cairn: the job is then recorded as cancelled with that reason.",
			decisionText(job), job.JobID, link, who, h.cfg.Wait))
	}
	why := fmt.Sprintf("no approval within %s (cairn hook --on-timeout deny)", h.cfg.Wait)
	return h.refuse(ctx, job, fmt.Sprintf("%s; %s. The approval requested at %s (%s) was withdrawn; retry the tool when an approver is at hand", decisionText(job), why, link, who))
}

// replay answers a PreToolUse run again for a job already RUNNING: allowed
// when this hook holds its lease, refused otherwise.
func (h *hook) replay(job *cairn.Job) Answer {
	st, err := loadState(h.cfg.StateDir, job.JobID)
	if err == nil && st != nil && st.Mode == ModeDispatched && st.LeaseID == string(job.LeaseID) {
		return allow(fmt.Sprintf("%s; job %s is already dispatched to this hook (replay of the same tool use); Claude Code runs the tool.", decisionText(job), job.JobID))
	}
	return deny(fmt.Sprintf("Cairn job %s is already RUNNING under a lease this hook does not hold; nothing was allowed.", job.JobID))
}

// refuse cancels a job the hook will not let run, and denies.
func (h *hook) refuse(ctx context.Context, job *cairn.Job, why string) Answer {
	cctx, cancel := h.call(ctx)
	defer cancel()
	msg := fmt.Sprintf("Cairn hook refused this tool use: %s; job %s", why, job.JobID)
	if _, err := h.c.CancelJob(cctx, job.JobID, cairn.CancelRequest{Reason: clip("cairn hook: "+why, 1000)}); err != nil {
		return deny(msg + " could not be cancelled (" + h.describe(err) + "). Nothing was allowed.")
	}
	return deny(msg + " is cancelled. Nothing was allowed.")
}

// preFailure answers a failed API call: deny, or allow when the server is
// unreachable and the operator chose --fail-open.
func (h *hook) preFailure(doing string, err error) Answer {
	if errors.Is(err, context.Canceled) {
		return deny("Cairn hook was interrupted while " + doing + "; nothing was allowed.")
	}
	if !unreachable(err) {
		return deny(fmt.Sprintf("Cairn refused %s: %s. Nothing was allowed.", doing, h.describe(err)))
	}
	if h.cfg.FailOpen {
		saveState(h.cfg.StateDir, State{JobID: h.jobID, Mode: ModeFailOpen, SavedAt: time.Now().UTC()})
		return allow(fmt.Sprintf("Cairn control plane at %s is unreachable while %s (%s); allowed only because the hook runs with --fail-open: this tool use has no Cairn decision and no evidence.",
			h.cfg.Server, doing, h.describe(err)))
	}
	return deny(fmt.Sprintf("Cairn control plane at %s is unreachable while %s (%s); nothing was allowed (the hook fails closed).", h.cfg.Server, doing, h.describe(err)))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
