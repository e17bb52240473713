package service

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/workflow"
	"github.com/cairnhq/cairn/ledger"
)

func (e *engine) requestGate(step *workflow.Step, st *cairn.StepState) error {
	sc, err := e.scope(step.ID, false)
	if err != nil {
		return err
	}
	input, err := step.Input(sc)
	if err != nil {
		return e.failStep(step, st, "input: "+err.Error(), false)
	}
	jobID := attemptJobID(e.run.RunID, step.ID, "1")
	req, err := e.stepRequest(step, jobID, step.Action, step.Resource, input)
	if err != nil {
		return e.failStep(step, st, "job: "+err.Error(), false)
	}
	hash, err := ledger.JobHash(ledger.JobHashInput{
		Tenant: e.run.Tenant, JobID: jobID, RunID: e.run.RunID, WorkflowStepID: step.ID, Action: req.Action,
		Resource: req.Resource, Labels: req.Labels, RiskTags: req.RiskTags, Input: req.Input, SubmittedBy: e.run.StartedBy,
	})
	if err != nil {
		return e.failStep(step, st, "input: "+err.Error(), false)
	}
	g := &cairn.GateState{Status: cairn.GatePending, ApproverRoles: step.Gate.ApproverRoles, Quorum: step.Gate.Quorum,
		RequestedAt: e.now, Votes: []cairn.GateVote{}, JobID: jobID, JobHash: hash, Input: req.Input}
	if step.Gate.ExpiresIn > 0 {
		t := e.now.Add(step.Gate.ExpiresIn)
		g.ExpiresAt = &t
		st.NextAt = &t
	}
	if err := putGateInput(e.tx, e.run.Tenant, jobID, req.Input, ledger.SHA256Hex(req.Input), req.Labels); err != nil {
		return err
	}
	st.Gate = g
	st.Status = cairn.StepWaitingApproval
	// The ledger records the input's hash, never the input: payloads stay
	// out of immutable evidence (the run record shows it to approvers).
	recorded := *g
	recorded.Input = nil
	return e.event(cairn.EventGateRequested, st, "", map[string]any{
		"gate": &recorded, "action": req.Action, "resource": req.Resource, "input_sha256": ledger.SHA256Hex(input),
	})
}

func (e *engine) vote(step *workflow.Step, st *cairn.StepState, by, resolution, comment string) error {
	g := st.Gate
	v := cairn.GateVote{By: by, Resolution: resolution, Comment: comment, At: e.now}
	ev := &cairn.Event{Tenant: e.run.Tenant, Type: cairn.EventGateVoted, Timestamp: e.now, RunID: cairn.Opt(e.run.RunID),
		WorkflowStepID: cairn.Opt(st.StepID), Actor: by, State: st.Status, JobHash: g.JobHash,
		Resolution: resolution, ResolvedBy: by, Data: map[string]any{"comment": comment, "job_id": g.JobID, "quorum": g.Quorum}}
	if err := e.tx.AppendEvent(ev); err != nil {
		return err
	}
	v.Ledger = ev.Ledger
	g.Votes = append(g.Votes, v)
	approvals := 0
	for _, x := range g.Votes {
		if x.Resolution == cairn.ResolutionApproved {
			approvals++
		}
	}
	switch {
	case resolution == cairn.ResolutionRejected:
		return e.closeGate(step, st, cairn.GateRejected, "gate rejected by "+by)
	case approvals >= g.Quorum:
		return e.closeGate(step, st, cairn.GateApproved, "")
	}
	return nil
}

func (e *engine) closeGate(step *workflow.Step, st *cairn.StepState, status, reason string) error {
	g := st.Gate
	g.Status = status
	now := e.now
	g.ResolvedAt = &now
	st.NextAt = nil
	var by []string
	for _, v := range g.Votes {
		by = append(by, v.By)
	}
	ev := &cairn.Event{Tenant: e.run.Tenant, Type: cairn.EventGateResolved, Timestamp: e.now, RunID: cairn.Opt(e.run.RunID),
		WorkflowStepID: cairn.Opt(st.StepID), Actor: engineActor, State: status, JobHash: g.JobHash,
		Resolution: status, ResolvedBy: strings.Join(by, ","), Data: map[string]any{"votes": g.Votes, "quorum": g.Quorum, "job_id": g.JobID}}
	if err := e.tx.AppendEvent(ev); err != nil {
		return err
	}
	switch status {
	case cairn.GateApproved:
		return e.startAttempt(step, st)
	case cairn.GateExpired:
		return e.failStep(step, st, "gate expired", true)
	default:
		return e.failStep(step, st, reason, false)
	}
}

// startAttempt submits the job of the step's next attempt through the
// policy gate, like any agent's job, on behalf of the run's starter.
func (e *engine) startAttempt(step *workflow.Step, st *cairn.StepState) error {
	sc, err := e.scope(step.ID, false)
	if err != nil {
		return err
	}
	input, err := step.Input(sc)
	if err != nil {
		return e.failStep(step, st, "input: "+err.Error(), false)
	}
	st.Attempts++
	jobID := attemptJobID(e.run.RunID, step.ID, itoa(st.Attempts))
	pol, err := e.s.inForce(e.tx)
	if err != nil {
		return err
	}
	sub, err := e.prepareStepJob(pol, step, jobID, step.Action, step.Resource, input)
	if err != nil {
		return e.failStep(step, st, "job: "+err.Error(), false)
	}
	st.Status = cairn.StepRunning
	st.JobID = jobID
	st.Jobs = append(st.Jobs, jobID)
	st.NextAt = nil
	if step.Timeout > 0 {
		t := e.now.Add(step.Timeout)
		st.NextAt = &t
	}
	if err := e.event(cairn.EventStepStarted, st, jobID, map[string]any{"attempt": st.Attempts, "job_hash": sub.job.JobHash}); err != nil {
		return err
	}
	return e.submit(sub)
}

// prepareStepJob decides a step's job (an attempt or its compensation) on
// behalf of the run's starter, under pol (the policy in force for the
// engine's transaction), and builds its evidence.
func (e *engine) prepareStepJob(pol *activePolicy, step *workflow.Step, jobID, action, resource string, input json.RawMessage) (*submission, error) {
	req, err := e.stepRequest(step, jobID, action, resource, input)
	if err != nil {
		return nil, err
	}
	// The engine runs in its store transaction, not for one request.
	return e.s.prepareSubmit(context.Background(), pol, e.starter(), req, e.now)
}

// submit writes a prepared step job; one that is final at once (DENIED at
// submit) moves its step at once.
func (e *engine) submit(sub *submission) error {
	j := *sub.job
	if err := e.tx.InsertJob(&j); err != nil {
		return err
	}
	if err := e.s.writeSubmission(e.tx, sub, &j); err != nil {
		return err
	}
	if cairn.IsFinalState(j.State) {
		return e.jobFinal(&j)
	}
	return nil
}

// jobFinal moves the step whose job j reached a final state.
func (e *engine) jobFinal(j *cairn.Job) error {
	for _, st := range e.run.Steps {
		step := e.def.Step(st.StepID)
		if step == nil {
			continue
		}
		if st.Status == cairn.StepCompensating && st.CompensationJobID == j.JobID {
			return e.compensationEnded(st, j)
		}
		if st.Status == cairn.StepRunning && st.JobID == j.JobID {
			return e.attemptEnded(step, st, j)
		}
	}
	return nil
}

// compensationEnded fails a compensating step, and its run, once the
// compensation job j is final, however it ended.
func (e *engine) compensationEnded(st *cairn.StepState, j *cairn.Job) error {
	st.Status = cairn.StepFailed
	now := e.now
	st.CompletedAt = &now
	if err := e.event(cairn.EventStepFailed, st, j.JobID, map[string]any{"error": st.Error, "compensation_job_id": j.JobID, "compensation_state": j.State}); err != nil {
		return err
	}
	return e.finish(cairn.RunFailed, "step "+st.StepID+" failed ("+st.Error+"); compensation job "+j.JobID+" ended "+j.State)
}

// attemptEnded moves a running step by the final state of its attempt's job j.
func (e *engine) attemptEnded(step *workflow.Step, st *cairn.StepState, j *cairn.Job) error {
	switch j.State {
	case cairn.StateSucceeded:
		return e.attemptSucceeded(step, st, j)
	case cairn.StateFailed:
		msg := "job failed"
		if j.Error != "" {
			msg += ": " + string(j.Error)
		}
		return e.attemptFailed(step, st, msg, false)
	case cairn.StateDenied:
		if a, err := e.tx.GetApproval(j.Tenant, j.JobID); err == nil && a.Resolution == cairn.ResolutionRejected {
			return e.failStep(step, st, "the job's approval was rejected by "+string(a.ResolvedBy), false)
		}
		return e.failStep(step, st, "job denied by policy: "+truncate(j.PolicyReason, 200)+" (rule "+ruleOrDefault(string(j.PolicyRuleID))+")", false)
	case cairn.StateExpired:
		return e.failStep(step, st, "the job's approval expired", true)
	}
	return nil
}

// attemptSucceeded completes the step, unless the output rules quarantined
// its job's result.
func (e *engine) attemptSucceeded(step *workflow.Step, st *cairn.StepState, j *cairn.Job) error {
	if j.OutputSafety != nil && j.OutputSafety.Decision == cairn.OutputQuarantine {
		return e.failStep(step, st, "output quarantined by rule "+string(j.OutputSafety.RuleID), false)
	}
	st.Status = cairn.StepSucceeded
	now := e.now
	st.CompletedAt = &now
	st.NextAt = nil
	st.Error = ""
	data := map[string]any{"attempt": st.Attempts}
	if j.OutputSafety != nil {
		data["output_safety"] = j.OutputSafety.Decision
	}
	return e.event(cairn.EventStepSucceeded, st, j.JobID, data)
}

// attemptFailed retries the step if attempts are left, else fails it.
func (e *engine) attemptFailed(step *workflow.Step, st *cairn.StepState, reason string, timedOut bool) error {
	if st.Attempts >= step.Retry.MaxAttempts {
		return e.failStep(step, st, reason, timedOut)
	}
	st.Error = reason
	delay := step.Retry.Delay(st.Attempts + 1)
	if delay <= 0 {
		st.Status = cairn.StepRetryWait
		if err := e.event(cairn.EventStepRetryScheduled, st, st.JobID, map[string]any{"reason": reason, "next_attempt": st.Attempts + 1, "at": e.now}); err != nil {
			return err
		}
		return e.startAttempt(step, st)
	}
	t := e.now.Add(delay)
	st.Status = cairn.StepRetryWait
	st.NextAt = &t
	return e.event(cairn.EventStepRetryScheduled, st, st.JobID, map[string]any{"reason": reason, "next_attempt": st.Attempts + 1, "at": t})
}

// failStep applies the step's on_failure to its final failure.
func (e *engine) failStep(step *workflow.Step, st *cairn.StepState, reason string, timedOut bool) error {
	st.Error = reason
	st.NextAt = nil
	now := e.now
	status := cairn.StepFailed
	typ := cairn.EventStepFailed
	if timedOut {
		status, typ = cairn.StepTimedOut, cairn.EventStepTimedOut
	}
	switch step.OnFailure.Mode {
	case workflow.Continue:
		st.Status = status
		st.Continued = true
		st.CompletedAt = &now
		return e.event(typ, st, st.JobID, map[string]any{"error": reason, "on_failure": workflow.Continue})
	case workflow.Compensate:
		st.Status = cairn.StepCompensating
		if err := e.event(typ, st, st.JobID, map[string]any{"error": reason, "on_failure": workflow.Compensate}); err != nil {
			return err
		}
		if err := e.cancelOpen(st); err != nil {
			return err
		}
		return e.compensate(step, st)
	}
	st.Status = status
	st.CompletedAt = &now
	if err := e.event(typ, st, st.JobID, map[string]any{"error": reason, "on_failure": workflow.FailRun}); err != nil {
		return err
	}
	runStatus := cairn.RunFailed
	if timedOut {
		runStatus = cairn.RunTimedOut
	}
	return e.finish(runStatus, "step "+st.StepID+": "+reason)
}

func (e *engine) compensate(step *workflow.Step, st *cairn.StepState) error {
	fail := func(why string) error {
		st.Status = cairn.StepFailed
		now := e.now
		st.CompletedAt = &now
		if err := e.event(cairn.EventStepFailed, st, "", map[string]any{"error": st.Error, "compensation_error": why}); err != nil {
			return err
		}
		return e.finish(cairn.RunFailed, "step "+st.StepID+" failed ("+st.Error+"); compensation could not start: "+why)
	}
	sc, err := e.scope(step.ID, true)
	if err != nil {
		return err
	}
	input, err := step.CompensationInput(sc)
	if err != nil {
		return fail("input: " + err.Error())
	}
	jobID := attemptJobID(e.run.RunID, step.ID, "compensate")
	pol, err := e.s.inForce(e.tx)
	if err != nil {
		return err
	}
	sub, err := e.prepareStepJob(pol, step, jobID, step.OnFailure.Action, step.OnFailure.Resource, input)
	if err != nil {
		return fail(err.Error())
	}
	st.CompensationJobID = jobID
	st.NextAt = nil
	if step.Timeout > 0 {
		// The compensating job runs under the step's timeout too: a
		// compensation nobody runs must not hold the run open.
		t := e.now.Add(step.Timeout)
		st.NextAt = &t
	}
	if err := e.event(cairn.EventCompensationStarted, st, jobID, map[string]any{"action": sub.job.Action, "job_hash": sub.job.JobHash}); err != nil {
		return err
	}
	return e.submit(sub)
}

// finish ends the run with a final status, cancelling what is still open.
func (e *engine) finish(status, reason string) error {
	if cairn.IsFinalRunStatus(e.run.Status) {
		return nil
	}
	if err := e.cancelOpen(nil); err != nil {
		return err
	}
	now := e.now
	e.run.Status = status
	e.run.Reason = reason
	e.run.CompletedAt = &now
	e.run.UpdatedAt = now
	e.run.WakeAt = nil
	actor := engineActor
	if e.actor != "" {
		actor = e.actor
	}
	return e.tx.AppendEvent(&cairn.Event{Tenant: e.run.Tenant, Type: cairn.EventRunCompleted, Timestamp: now,
		RunID: cairn.Opt(e.run.RunID), Actor: actor, State: status, Data: map[string]any{"reason": reason}})
}

// cancelOpen cancels every step that is not final, except keep.
func (e *engine) cancelOpen(keep *cairn.StepState) error {
	for _, st := range e.run.Steps {
		if st == keep || cairn.IsFinalStepStatus(st.Status) {
			continue
		}
		open := ""
		switch st.Status {
		case cairn.StepRunning:
			open = st.JobID
		case cairn.StepCompensating:
			open = st.CompensationJobID
		}
		if open != "" {
			if err := e.cancelJob(open, "its workflow run ended"); err != nil {
				return err
			}
		}
		if st.Gate != nil && st.Gate.Status == cairn.GatePending {
			st.Gate.Status = cairn.GateCancelled
			now := e.now
			st.Gate.ResolvedAt = &now
		}
		st.Status = cairn.StepCancelled
		st.NextAt = nil
		now := e.now
		st.CompletedAt = &now
		if err := e.event(cairn.EventStepCancelled, st, open, nil); err != nil {
			return err
		}
	}
	return nil
}

// cancelJob makes an open job CANCELLED; a worker holding its lease can no
// longer complete it.
func (e *engine) cancelJob(jobID, reason string) error {
	j, err := e.tx.GetJob(e.run.Tenant, jobID)
	if err != nil {
		return err
	}
	if cairn.IsFinalState(j.State) {
		return nil
	}
	if j.State == cairn.StatePendingApproval {
		a, err := e.tx.GetApproval(j.Tenant, j.JobID)
		if err == nil && a.Status == cairn.ApprovalPending {
			return e.s.resolve(e.tx, a, cairn.ResolutionCancelled, engineActor, reason, e.now)
		}
		if err != nil && !cairn.IsNotFound(err) {
			return err
		}
	}
	now := e.now
	if err := transition(j, cairn.StateCancelled, now); err != nil {
		return err
	}
	j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt = "", "", nil
	if err := e.tx.UpdateJob(j); err != nil {
		return err
	}
	return e.s.appendJob(e.tx, j, cairn.EventJobStateChanged, engineActor, now, func(ev *cairn.Event) {
		ev.State = j.State
		ev.Data = &cairn.JobStateChangedData{Reason: reason}
	})
}
