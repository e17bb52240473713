package service

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/workflow"
	"github.com/cairnhq/cairn/ledger"
)

// engineActor is the actor of what the workflow engine (and the rest of
// Cairn's own background work) records.
const engineActor = "cairn"

// engine advances one workflow run inside one transaction. Every transition
// is a timeline event written with the state change that it records, so a
// crash at any point leaves either all of a transition or none of it.
type engine struct {
	s     *Service
	tx    cairn.Tx
	run   *cairn.Run
	def   *workflow.Definition
	now   time.Time
	actor string // who caused a cancellation; engineActor otherwise

	input    any
	inputSet bool
}

// isDone reports whether dependents of st may start.
func isDone(st *cairn.StepState) bool {
	return st.Status == cairn.StepSucceeded || st.Status == cairn.StepSkipped || st.Continued
}

// descendants returns the steps that depend, directly or not, on id.
func descendants(def *workflow.Definition, id string) map[string]bool {
	out := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, st := range def.Steps {
			if out[st.ID] {
				continue
			}
			for _, d := range st.DependsOn {
				if d == id || out[d] {
					out[st.ID] = true
					changed = true
					break
				}
			}
		}
	}
	return out
}

func (e *engine) event(typ string, st *cairn.StepState, jobID string, data map[string]any) error {
	ev := &cairn.Event{Tenant: e.run.Tenant, Type: typ, Timestamp: e.now, RunID: cairn.Opt(e.run.RunID),
		JobID: cairn.Opt(jobID), Actor: engineActor}
	switch {
	case st != nil && jobID != "":
		// An event's state is its job's state when it names a job (the
		// verifier projects jobs from it); the step's status goes in data.
		ev.WorkflowStepID = cairn.Opt(st.StepID)
		if data == nil {
			data = map[string]any{}
		}
		data["step_status"] = st.Status
	case st != nil:
		ev.WorkflowStepID = cairn.Opt(st.StepID)
		ev.State = st.Status
	default:
		ev.State = e.run.Status
	}
	if len(data) > 0 { // absent when empty, as a map's omitempty would have it
		ev.Data = data
	}
	return e.tx.AppendEvent(ev)
}

// advance starts every step whose dependencies are done, until none is left
// to start, then settles the run's status.
func (e *engine) advance() error {
	for progress := true; progress && !cairn.IsFinalRunStatus(e.run.Status); {
		progress = false
		for _, id := range e.def.Order {
			st := e.run.Step(id)
			if st == nil || st.Status != cairn.StepPending {
				continue
			}
			step := e.def.Step(id)
			ready := true
			for _, d := range step.DependsOn {
				if ds := e.run.Step(d); ds == nil || !isDone(ds) {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			progress = true
			if err := e.startStep(step, st); err != nil {
				return err
			}
			if cairn.IsFinalRunStatus(e.run.Status) {
				return nil
			}
		}
	}
	return e.settle()
}

func (e *engine) startStep(step *workflow.Step, st *cairn.StepState) error {
	now := e.now
	st.StartedAt = &now
	if step.HasCondition() {
		sc, err := e.scope(step.ID, false)
		if err != nil {
			return err
		}
		ok, err := step.Condition(sc)
		if err != nil {
			return e.failStep(step, st, "condition: "+err.Error(), false)
		}
		if !ok {
			st.Status = cairn.StepSkipped
			st.CompletedAt = &now
			return e.event(cairn.EventStepSkipped, st, "", map[string]any{"reason": "condition is false"})
		}
	}
	if step.Gate != nil {
		return e.requestGate(step, st)
	}
	return e.startAttempt(step, st)
}

// attemptJobID names the job of a step's attempt n; deterministic, so the
// same transition can never create two jobs.
func attemptJobID(runID, stepID, suffix string) string {
	id := runID + "." + stepID + "." + suffix
	if len(id) > MaxIDBytes {
		id = "wfj_" + ledger.SHA256Hex([]byte(id))[:40]
	}
	return id
}

func (e *engine) starter() cairn.Principal {
	return cairn.Principal{Tenant: e.run.Tenant, ID: e.run.StartedBy, Kind: e.run.StarterKind, Roles: e.run.StarterRoles}
}

func (e *engine) traceID() string {
	return ledger.SHA256Hex([]byte(e.run.Tenant + "/" + e.run.RunID))[:32]
}

// stepRequest builds the submit request of a step's attempt.
func (e *engine) stepRequest(step *workflow.Step, jobID, action, resource string, input json.RawMessage) (cairn.SubmitRequest, error) {
	req := cairn.SubmitRequest{
		JobID: jobID, RunID: e.run.RunID, WorkflowStepID: step.ID, TraceID: e.traceID(),
		Action: action, Resource: resource, Labels: step.Labels, RiskTags: slices.Clone(step.RiskTags), Input: input,
	}
	err := normalizeSubmit(&req)
	return req, err
}

// runEngine returns the engine of workflow run r at now.
func (s *Service) runEngine(tx cairn.Tx, r *cairn.Run, now time.Time) (*engine, error) {
	def, err := s.definition(tx, r.Tenant, r.WorkflowID)
	if err != nil {
		return nil, err
	}
	return &engine{s: s, tx: tx, run: r, def: def, now: now}, nil
}

// engineJobChanged advances j's workflow run after j changed state.
func (s *Service) engineJobChanged(tx cairn.Tx, r *cairn.Run, j *cairn.Job, now time.Time) error {
	if cairn.IsFinalRunStatus(r.Status) {
		return nil
	}
	e, err := s.runEngine(tx, r, now)
	if err != nil {
		return err
	}
	if cairn.IsFinalState(j.State) {
		if err := e.jobFinal(j); err != nil {
			return err
		}
	}
	return e.advanceAndSave()
}

// wakeRun does a workflow run's due work: retries, gate expiries, timeouts.
func (s *Service) wakeRun(tx cairn.Tx, tenant, runID string, now time.Time) error {
	r, err := tx.GetRun(tenant, runID)
	if err != nil {
		return err
	}
	if !r.IsWorkflow() || cairn.IsFinalRunStatus(r.Status) || r.WakeAt == nil || r.WakeAt.After(now) {
		return errNothingToDo
	}
	e, err := s.runEngine(tx, r, now)
	if err != nil {
		return err
	}
	if err := e.tick(); err != nil {
		return err
	}
	return e.advanceAndSave()
}

// advanceAndSave starts what is ready, settles the run and stores it: the
// end of every engine transaction.
func (e *engine) advanceAndSave() error {
	if err := e.advance(); err != nil {
		return err
	}
	return e.save()
}

// tick does the run's work that is due now.
func (e *engine) tick() error {
	if e.run.TimeoutAt != nil && !e.now.Before(*e.run.TimeoutAt) {
		return e.finish(cairn.RunTimedOut, "the run exceeded its timeout of "+e.def.Timeout.String())
	}
	for _, st := range e.run.Steps {
		if st.NextAt == nil || st.NextAt.After(e.now) || cairn.IsFinalRunStatus(e.run.Status) {
			continue
		}
		if err := e.due(e.def.Step(st.StepID), st); err != nil {
			return err
		}
	}
	return nil
}

// due does what a step's deadline (NextAt), now come, calls for: the next
// attempt after a retry delay, or the expiry of a gate, an attempt or a
// compensation.
func (e *engine) due(step *workflow.Step, st *cairn.StepState) error {
	switch st.Status {
	case cairn.StepRetryWait:
		return e.startAttempt(step, st)
	case cairn.StepWaitingApproval:
		return e.closeGate(step, st, cairn.GateExpired, "gate expired")
	case cairn.StepRunning:
		return e.attemptTimedOut(step, st)
	case cairn.StepCompensating:
		return e.compensationTimedOut(step, st)
	}
	st.NextAt = nil
	return nil
}

// attemptTimedOut cancels the job of an attempt that outran the step's
// timeout and retries the step or fails it.
func (e *engine) attemptTimedOut(step *workflow.Step, st *cairn.StepState) error {
	st.NextAt = nil
	if err := e.cancelJob(st.JobID, "attempt timed out"); err != nil {
		return err
	}
	reason := fmt.Sprintf("attempt %d timed out after %s", st.Attempts, step.Timeout)
	// A retry records step_retry_scheduled with this reason; the last
	// attempt's timeout records step_timed_out.
	return e.attemptFailed(step, st, reason, true)
}

// compensationTimedOut cancels a compensation job that outran the step's
// timeout; the step fails and with it the run.
func (e *engine) compensationTimedOut(step *workflow.Step, st *cairn.StepState) error {
	st.NextAt = nil
	why := fmt.Sprintf("compensation job %s timed out after %s", st.CompensationJobID, step.Timeout)
	if err := e.cancelJob(st.CompensationJobID, "compensation timed out"); err != nil {
		return err
	}
	st.Status = cairn.StepFailed
	now := e.now
	st.CompletedAt = &now
	if err := e.event(cairn.EventStepFailed, st, st.CompensationJobID, map[string]any{"error": st.Error, "compensation_job_id": st.CompensationJobID, "compensation_error": why}); err != nil {
		return err
	}
	return e.finish(cairn.RunFailed, "step "+st.StepID+" failed ("+st.Error+"); "+why)
}

// settle completes a run whose steps are all done and keeps its status
// (running / waiting_approval) and next deadline current.
func (e *engine) settle() error {
	if cairn.IsFinalRunStatus(e.run.Status) {
		return nil
	}
	sv, err := e.survey()
	if err != nil {
		return err
	}
	if sv.allFinal {
		for _, st := range e.run.Steps {
			if !isDone(st) {
				return e.finish(cairn.RunFailed, "step "+st.StepID+" did not succeed")
			}
		}
		return e.finish(cairn.RunSucceeded, "")
	}
	wake := sv.wake
	if e.run.TimeoutAt != nil && (wake == nil || e.run.TimeoutAt.Before(*wake)) {
		t := *e.run.TimeoutAt
		wake = &t
	}
	e.run.WakeAt = wake
	status := cairn.RunRunning
	if sv.waiting {
		status = cairn.RunWaitingApproval
	}
	if status != e.run.Status {
		from := e.run.Status
		e.run.Status = status
		e.run.UpdatedAt = e.now
		return e.event(cairn.EventRunStatusChanged, nil, "", map[string]any{"from": from, "to": status})
	}
	return nil
}

// survey is what settle learns from a run's steps.
type survey struct {
	allFinal bool       // every step is final
	waiting  bool       // a gate or a step's job waits for an approval
	wake     *time.Time // the steps' earliest deadline
}

// survey reads the run's steps (and the jobs of those running or
// compensating) for settle.
func (e *engine) survey() (survey, error) {
	sv := survey{allFinal: true}
	for _, st := range e.run.Steps {
		if !cairn.IsFinalStepStatus(st.Status) {
			sv.allFinal = false
		}
		waiting, err := e.waitsForApproval(st)
		if err != nil {
			return survey{}, err
		}
		sv.waiting = sv.waiting || waiting
		if st.NextAt != nil && (sv.wake == nil || st.NextAt.Before(*sv.wake)) {
			t := *st.NextAt
			sv.wake = &t
		}
	}
	return sv, nil
}

// waitsForApproval reports whether a step waits at its gate, or its open
// job waits for an approval.
func (e *engine) waitsForApproval(st *cairn.StepState) (bool, error) {
	var id string
	switch st.Status {
	case cairn.StepWaitingApproval:
		return true, nil
	case cairn.StepRunning:
		id = st.JobID
	case cairn.StepCompensating:
		id = st.CompensationJobID
	default:
		return false, nil
	}
	j, err := e.tx.GetJob(e.run.Tenant, id)
	if err != nil {
		return false, err
	}
	return j.State == cairn.StatePendingApproval, nil
}

func (e *engine) save() error {
	e.run.UpdatedAt = e.now
	if wake := e.run.WakeAt; wake != nil {
		e.tx.AfterCommit(func() { e.s.fireDeadline(*wake) })
	}
	return e.tx.UpdateRun(e.run)
}

// scope is what a step's condition and templates see: the run input and
// the steps it depends on (with self, the step itself too).
func (e *engine) scope(stepID string, self bool) (workflow.Scope, error) {
	step := e.def.Step(stepID)
	reads := step.Reads()
	if self {
		reads = step.CompensationReads()
	}
	// Only what the step's expressions read is loaded from the store.
	if reads.Input && !e.inputSet {
		p, err := e.tx.GetPayload(e.run.Tenant, e.run.InputPtr)
		if err != nil {
			return workflow.Scope{}, err
		}
		if err := json.Unmarshal(p.Data, &e.input); err != nil {
			return workflow.Scope{}, err
		}
		e.inputSet = true
	}
	sc := workflow.Scope{Input: e.input, Steps: map[string]workflow.StepView{},
		Run: workflow.RunView{RunID: e.run.RunID, WorkflowID: e.run.WorkflowID, StartedBy: e.run.StartedBy}}
	ids := step.Ancestors()
	if self {
		ids = append(ids, stepID)
	}
	for _, id := range ids {
		st := e.run.Step(id)
		if st == nil {
			continue
		}
		v := workflow.StepView{Status: st.Status, Attempts: st.Attempts, JobID: st.JobID, Error: st.Error}
		if st.JobID != "" && st.Status == cairn.StepSucceeded && (reads.AllSteps || reads.Steps[id]) {
			res, err := e.result(st.JobID)
			if err != nil {
				return workflow.Scope{}, err
			}
			v.Result = res
		}
		sc.Steps[id] = v
	}
	return sc, nil
}

// result is a step job's released result: redacted if it was redacted,
// nothing if it was quarantined.
func (e *engine) result(jobID string) (any, error) {
	j, err := e.tx.GetJob(e.run.Tenant, jobID)
	if err != nil {
		return nil, err
	}
	if j.ResultPtr == "" || (j.OutputSafety != nil && j.OutputSafety.Decision == cairn.OutputQuarantine) {
		return nil, nil
	}
	ptr := string(j.ResultPtr)
	if j.OutputSafety != nil && j.OutputSafety.Decision == cairn.OutputRedact {
		ptr = redactedPtr(j.JobID)
	}
	p, err := e.tx.GetPayload(j.Tenant, ptr)
	if cairn.IsNotFound(err) || cairn.ErrorCode(err) == cairn.CodeErased {
		return nil, nil // never fall back to an unredacted original; an erased result is gone
	}
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(p.Data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

func ruleOrDefault(id string) string {
	if id == "" {
		return "default"
	}
	return id
}
