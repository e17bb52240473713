package service

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/workflow"
	"github.com/cairnhq/cairn/ledger"
)

// RegisterWorkflow checks a workflow definition and stores it under its
// content address. Registering the same bytes again returns the stored
// workflow (created false).
func (s *Service) RegisterWorkflow(ctx context.Context, p cairn.Principal, req cairn.RegisterWorkflowRequest) (*cairn.Workflow, bool, error) {
	if !p.Has(cairn.RolePolicyAdmin) {
		return nil, false, cairn.Forbidden(cairn.EForbidden, "registering workflows needs the policy_admin role")
	}
	if strings.TrimSpace(req.Definition) == "" {
		return nil, false, cairn.Invalid("definition", "is required: the workflow's YAML or JSON text")
	}
	def, err := workflow.Parse([]byte(req.Definition))
	if err != nil {
		return nil, false, err
	}
	sum := ledger.SHA256Hex([]byte(req.Definition))
	w := &cairn.Workflow{
		WorkflowID: "wf:" + p.Tenant + ":" + def.Name + "#sha256:" + sum, Tenant: p.Tenant, Name: def.Name,
		SHA256: sum, Description: def.Description, Definition: req.Definition, CreatedBy: p.ID,
	}
	for _, st := range def.Steps {
		w.Steps = append(w.Steps, st.ID)
	}
	var out *cairn.Workflow
	created := false
	err = s.update(ctx, func(tx cairn.Tx) error {
		if existing, err := tx.GetWorkflow(p.Tenant, w.WorkflowID); err == nil {
			out, created = existing, false
			return nil
		} else if !cairn.IsNotFound(err) {
			return err
		}
		n := *w
		n.Version = 1
		latest, err := tx.LatestWorkflow(p.Tenant, def.Name)
		if err == nil {
			n.Version = latest.Version + 1
		} else if !cairn.IsNotFound(err) {
			return err
		}
		n.CreatedAt = s.now()
		e := &cairn.Event{Tenant: p.Tenant, Type: cairn.EventWorkflowRegistered, Timestamp: n.CreatedAt, Actor: p.ID,
			Data: map[string]any{"workflow_id": n.WorkflowID, "name": n.Name, "version": n.Version, "sha256": n.SHA256, "steps": n.Steps}}
		if err := tx.AppendEvent(e); err != nil {
			return err
		}
		n.Ledger = e.Ledger
		if err := tx.InsertWorkflow(&n); err != nil {
			return err
		}
		out, created = &n, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	s.workflows.Store(out.WorkflowID, def)
	return out, created, nil
}

// GetWorkflow returns a registered workflow by id, or by name (its latest version).
func (s *Service) GetWorkflow(ctx context.Context, p cairn.Principal, id string) (*cairn.Workflow, error) {
	if err := canReadWorkflows(p); err != nil {
		return nil, err
	}
	if err := validText("workflow_id", id, 512); err != nil {
		return nil, err
	}
	var out *cairn.Workflow
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = lookupWorkflow(tx, p.Tenant, id)
		return err
	})
	return out, err
}

// ListWorkflows pages registered workflows, newest first.
func (s *Service) ListWorkflows(ctx context.Context, p cairn.Principal, f cairn.WorkflowFilter) ([]*cairn.Workflow, error) {
	if err := canReadWorkflows(p); err != nil {
		return nil, err
	}
	var out []*cairn.Workflow
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListWorkflows(p.Tenant, f)
		return err
	})
	return out, err
}

// canReadWorkflows: definitions are read by those who write, start, approve
// or audit them; workers only see the jobs they are handed.
func canReadWorkflows(p cairn.Principal) error {
	if !p.HasAny(cairn.RolePolicyAdmin, cairn.RoleAgent, cairn.RoleApprover, cairn.RoleAuditor) {
		return cairn.Forbidden(cairn.EForbidden, "reading workflows needs the policy_admin, agent, approver or auditor role")
	}
	return nil
}

func lookupWorkflow(tx cairn.ReadTx, tenant, id string) (*cairn.Workflow, error) {
	if strings.HasPrefix(id, "wf:") {
		return tx.GetWorkflow(tenant, id)
	}
	w, err := tx.LatestWorkflow(tenant, id)
	if cairn.IsNotFound(err) {
		return nil, cairn.NotFound("workflow %q not found", truncate(id, 128))
	}
	return w, err
}

// definition returns the compiled definition of a stored workflow.
func (s *Service) definition(tx cairn.ReadTx, tenant, id string) (*workflow.Definition, error) {
	if d, ok := s.workflows.Load(id); ok {
		return d.(*workflow.Definition), nil
	}
	w, err := tx.GetWorkflow(tenant, id)
	if err != nil {
		return nil, err
	}
	d, err := workflow.Parse([]byte(w.Definition))
	if err != nil {
		return nil, err
	}
	s.workflows.Store(id, d)
	return d, nil
}

// StartRun starts a run of a registered workflow. It is idempotent on
// run_id: the same principal starting the same workflow with the same input
// under an existing run_id gets that run back (created false).
func (s *Service) StartRun(ctx context.Context, p cairn.Principal, req cairn.StartRunRequest) (*cairn.Run, bool, error) {
	if !p.Has(cairn.RoleAgent) {
		return nil, false, cairn.Forbidden(cairn.EForbidden, "starting workflow runs needs the agent role")
	}
	if req.WorkflowID == "" {
		return nil, false, cairn.Invalid("workflow_id", "is required")
	}
	if err := validText("workflow_id", req.WorkflowID, 512); err != nil {
		return nil, false, err
	}
	if req.RunID == "" {
		req.RunID = randomID("run_", 12)
	}
	if err := validID("run_id", req.RunID); err != nil {
		return nil, false, err
	}
	input, err := normalizeInput(req.Input)
	if err != nil {
		return nil, false, err
	}
	var out *cairn.Run
	created := false
	err = s.update(ctx, func(tx cairn.Tx) error {
		if existing, err := tx.GetRun(p.Tenant, req.RunID); err == nil {
			if !sameStart(existing, p, req.WorkflowID, input) {
				return cairn.Conflict(cairn.CodeRunConflict, "run %q exists with a different workflow, input or starter", req.RunID)
			}
			out = existing
			return nil
		} else if !cairn.IsNotFound(err) {
			return err
		}
		w, err := lookupWorkflow(tx, p.Tenant, req.WorkflowID)
		if err != nil {
			return err
		}
		out, created, err = s.startRun(tx, p, p, w, req.RunID, input, nil)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// sameStart reports whether an existing run is what a retry of p's start
// of workflow (by id, or by the name it was started under) with input
// asks for: then it gets the run back.
func sameStart(existing *cairn.Run, p cairn.Principal, workflowID string, input json.RawMessage) bool {
	sameWorkflow := existing.WorkflowID == workflowID ||
		(!strings.HasPrefix(workflowID, "wf:") && strings.HasPrefix(existing.WorkflowID, "wf:"+p.Tenant+":"+workflowID+"#"))
	return sameWorkflow && existing.InputSHA256 == ledger.SHA256Hex(input) && existing.StartedBy == p.ID && existing.RerunOf == ""
}

// normalizeInput checks a run input and returns its bytes (JSON null when absent).
func normalizeInput(in json.RawMessage) (json.RawMessage, error) {
	if len(in) == 0 {
		return json.RawMessage("null"), nil
	}
	if len(in) > MaxInputBytes {
		return nil, cairn.Invalid("input", "is %d bytes; the maximum is %d", len(in), MaxInputBytes)
	}
	if !json.Valid(in) {
		return nil, cairn.Invalid("input", "is not valid JSON")
	}
	if err := exactNumbers("input", in); err != nil {
		return nil, err
	}
	canon, err := ledger.Canonical(in)
	if err != nil {
		return nil, cairn.Invalid("input", "cannot be canonicalised: %v", err)
	}
	// Stored canonical, so a retry with other whitespace is the same input.
	return canon, nil
}

// rerunOf describes the run a new run reruns, and the steps it reuses.
type rerunOf struct {
	old        *cairn.Run
	fromStep   string
	reuse      map[string]*cairn.StepState
	requesters []string // the old run's chain of requesters
}

// startRun creates a workflow run and starts its first steps. by is who
// asks for it; starter is on whose behalf its jobs are submitted: by
// itself for a start, the original run's starter for a rerun. Its phases:
// a retry gets the existing run back (sameRun), the run is built
// (newRun), recorded (recordRunStart), and the engine starts its steps.
func (s *Service) startRun(tx cairn.Tx, by, starter cairn.Principal, w *cairn.Workflow, runID string, input json.RawMessage, rerun *rerunOf) (*cairn.Run, bool, error) {
	now := s.now()
	inSHA := ledger.SHA256Hex(input)
	if existing, err := tx.GetRun(starter.Tenant, runID); err == nil {
		if !sameRun(existing, by, w, inSHA, rerun) {
			return nil, false, cairn.Conflict(cairn.CodeRunConflict, "run %q exists with a different workflow, input or starter", runID)
		}
		return existing, false, nil
	} else if !cairn.IsNotFound(err) {
		return nil, false, err
	}
	if taken, err := runIDTaken(tx, starter.Tenant, runID); err != nil {
		return nil, false, err
	} else if taken {
		return nil, false, cairn.Conflict(cairn.CodeRunConflict, "run_id %q is not available: choose another run_id, or omit it to have one generated", runID)
	}
	def, err := s.definition(tx, starter.Tenant, w.WorkflowID)
	if err != nil {
		return nil, false, err
	}
	r := newRun(starter, def, w, runID, inSHA, now)
	if rerun != nil {
		rerun.apply(r, by)
	}
	if err := recordRunStart(tx, r, by, w, input, now); err != nil {
		return nil, false, err
	}
	e := &engine{s: s, tx: tx, run: r, def: def, now: now}
	if err := e.advanceAndSave(); err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// sameRun reports whether an existing run is the one a retry of this
// start (or rerun) asks for: the same workflow, input and asker.
func sameRun(existing *cairn.Run, by cairn.Principal, w *cairn.Workflow, inSHA string, rerun *rerunOf) bool {
	asker := existing.StartedBy
	if existing.RerunBy != "" {
		asker = existing.RerunBy
	}
	if existing.WorkflowID != w.WorkflowID || existing.InputSHA256 != inSHA || asker != by.ID {
		return false
	}
	if rerun == nil {
		return existing.RerunOf == ""
	}
	return existing.RerunOf == rerun.old.RunID
}

// newRun builds a run of def started by p at now, its steps all pending.
func newRun(p cairn.Principal, def *workflow.Definition, w *cairn.Workflow, runID, inSHA string, now time.Time) *cairn.Run {
	r := &cairn.Run{
		RunID: runID, Tenant: p.Tenant, Status: cairn.RunRunning, StartedBy: p.ID, StarterKind: p.Kind,
		StarterRoles: p.Roles, CreatedAt: now, UpdatedAt: now, WorkflowID: w.WorkflowID,
		InputPtr: "wfin:" + runID, InputSHA256: inSHA,
	}
	if def.Timeout > 0 {
		t := now.Add(def.Timeout)
		r.TimeoutAt = &t
	}
	for _, st := range def.Steps {
		r.Steps = append(r.Steps, &cairn.StepState{StepID: st.ID, Status: cairn.StepPending, Jobs: []string{}, DependsOn: slices.Clone(st.DependsOn)})
	}
	return r
}

// apply makes r a rerun asked for by by: linked to the old run, with the
// steps it reuses taken over as they ended there.
func (rr *rerunOf) apply(r *cairn.Run, by cairn.Principal) {
	for i, ss := range r.Steps {
		old := rr.reuse[ss.StepID]
		if old == nil {
			continue
		}
		r.Steps[i] = &cairn.StepState{StepID: ss.StepID, Status: old.Status, Attempts: old.Attempts, JobID: old.JobID,
			Jobs: slices.Clone(old.Jobs), Gate: old.Gate, Error: old.Error, Continued: old.Continued,
			FromRun: rr.old.RunID, StartedAt: old.StartedAt, CompletedAt: old.CompletedAt, DependsOn: ss.DependsOn}
		if old.FromRun != "" {
			r.Steps[i].FromRun = old.FromRun
		}
	}
	r.RerunOf, r.RerunFrom, r.RerunBy = rr.old.RunID, rr.fromStep, by.ID
	r.Requesters = addRequester(slices.Clone(rr.requesters), by.ID)
}

// recordRunStart stores a new run and its input, and appends run_started
// and a step_reused for each step a rerun reuses.
func recordRunStart(tx cairn.Tx, r *cairn.Run, by cairn.Principal, w *cairn.Workflow, input json.RawMessage, now time.Time) error {
	data := map[string]any{"workflow_id": w.WorkflowID, "workflow_version": w.Version, "input_ptr": r.InputPtr, "input_sha256": r.InputSHA256}
	if r.RerunOf != "" {
		data["rerun_of"], data["rerun_from_step"] = r.RerunOf, r.RerunFrom
		data["started_by"], data["rerun_by"], data["requesters"] = r.StartedBy, r.RerunBy, r.Requesters
	}
	if err := tx.InsertRun(r); err != nil {
		return err
	}
	if err := tx.PutPayload(&cairn.Payload{Tenant: r.Tenant, Ptr: r.InputPtr, SHA256: r.InputSHA256, Data: input}); err != nil {
		return err
	}
	if err := tx.AppendEvent(&cairn.Event{Tenant: r.Tenant, Type: cairn.EventRunStarted, Timestamp: now, RunID: cairn.Opt(r.RunID),
		Actor: by.ID, State: cairn.RunRunning, Data: data}); err != nil {
		return err
	}
	for _, ss := range r.Steps {
		if ss.FromRun == "" {
			continue
		}
		if err := tx.AppendEvent(&cairn.Event{Tenant: r.Tenant, Type: cairn.EventStepReused, Timestamp: now, RunID: cairn.Opt(r.RunID),
			WorkflowStepID: cairn.Opt(ss.StepID), JobID: cairn.Opt(ss.JobID), Actor: engineActor,
			Data: map[string]any{"from_run": ss.FromRun, "jobs": ss.Jobs, "step_status": ss.Status}}); err != nil {
			return err
		}
	}
	return nil
}

// CancelRun cancels a workflow run: open steps are cancelled, their open
// jobs CANCELLED (a worker's later complete is refused), pending gates and
// approvals closed. Cancelling a cancelled run returns it unchanged.
func (s *Service) CancelRun(ctx context.Context, p cairn.Principal, runID string, req cairn.CancelRunRequest) (*cairn.Run, error) {
	if err := validID("run_id", runID); err != nil {
		return nil, err
	}
	if err := validText("reason", req.Reason, 4096); err != nil {
		return nil, err
	}
	var out *cairn.Run
	err := s.update(ctx, func(tx cairn.Tx) error {
		r, err := tx.GetRun(p.Tenant, runID)
		if err != nil {
			return err
		}
		if r.StartedBy != p.ID && !p.Has(cairn.RoleAdmin) {
			if canReadAll(p) {
				return cairn.Forbidden(cairn.EForbidden, "only the principal who started the run, or an admin, may cancel it")
			}
			return cairn.NotFound("run %q not found", runID)
		}
		if !r.IsWorkflow() {
			return cairn.Conflict(cairn.CodeWorkflowRun, "run %q is not a workflow run", runID)
		}
		if r.Status == cairn.RunCancelled {
			out = r
			return nil
		}
		if cairn.IsFinalRunStatus(r.Status) {
			return cairn.Conflict(cairn.CodeRunFinished, "run %q is already %s", runID, r.Status)
		}
		e, err := s.runEngine(tx, r, s.now())
		if err != nil {
			return err
		}
		e.actor = p.ID
		reason := "cancelled by " + p.ID
		if req.Reason != "" {
			reason += ": " + req.Reason
		}
		if err := e.finish(cairn.RunCancelled, reason); err != nil {
			return err
		}
		if err := e.save(); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// RerunRun starts a new run of a finished run's workflow with the same
// input, linked to it. Steps that succeeded (or were skipped) and do not
// depend on the rerun step keep their results; the rerun step and
// everything downstream of it run again. Its phases: the old run may be
// rerun by p (rerunnable), the step to rerun from is chosen (rerunFrom),
// and the rerun is planned (planRerun) and started (startRun).
func (s *Service) RerunRun(ctx context.Context, p cairn.Principal, runID string, req cairn.RerunRequest) (*cairn.Run, bool, error) {
	if !p.Has(cairn.RoleAgent) {
		return nil, false, cairn.Forbidden(cairn.EForbidden, "rerunning workflow runs needs the agent role")
	}
	if err := validID("run_id", runID); err != nil {
		return nil, false, err
	}
	if req.RunID == "" {
		req.RunID = randomID("run_", 12)
	}
	if err := validID("run_id", req.RunID); err != nil {
		return nil, false, err
	}
	var out *cairn.Run
	created := false
	err := s.update(ctx, func(tx cairn.Tx) error {
		old, err := rerunnable(tx, p, runID)
		if err != nil {
			return err
		}
		def, err := s.definition(tx, p.Tenant, old.WorkflowID)
		if err != nil {
			return err
		}
		from, err := rerunFrom(def, old, req.FromStep)
		if err != nil {
			return err
		}
		w, in, rerun, err := planRerun(tx, def, old, from)
		if err != nil {
			return err
		}
		// The rerun acts for the original starter: its jobs are submitted
		// on that principal's behalf and judged as that principal, as the
		// original run's were; the caller is recorded as rerun_by.
		starter := cairn.Principal{Tenant: old.Tenant, ID: old.StartedBy, Kind: old.StarterKind, Roles: old.StarterRoles}
		out, created, err = s.startRun(tx, p, starter, w, req.RunID, in, rerun)
		return err
	})
	return out, created, err
}

// rerunnable reads the run p asks to rerun: a finished workflow run that p
// started (or any, for an admin).
func rerunnable(tx cairn.Tx, p cairn.Principal, runID string) (*cairn.Run, error) {
	old, err := tx.GetRun(p.Tenant, runID)
	if err != nil {
		return nil, err
	}
	if old.StartedBy != p.ID && !p.Has(cairn.RoleAdmin) {
		return nil, cairn.NotFound("run %q not found", runID)
	}
	if !old.IsWorkflow() {
		return nil, cairn.Conflict(cairn.CodeWorkflowRun, "run %q is not a workflow run", runID)
	}
	if !cairn.IsFinalRunStatus(old.Status) {
		return nil, cairn.Conflict(cairn.CodeRunNotFinished, "run %q is still %s; cancel it before rerunning", runID, old.Status)
	}
	return old, nil
}

// rerunFrom is the step a rerun of old starts again from: the one asked
// for, else the first step that failed or timed out, else the first that
// did not finish (a cancelled run).
func rerunFrom(def *workflow.Definition, old *cairn.Run, asked string) (string, error) {
	from := asked
	if from == "" {
		for _, id := range def.Order {
			if st := old.Step(id); st != nil && (st.Status == cairn.StepFailed || st.Status == cairn.StepTimedOut) {
				from = id
				break
			}
		}
		for _, id := range def.Order {
			if st := old.Step(id); from == "" && st != nil && !isDone(st) {
				from = id
			}
		}
		if from == "" {
			return "", cairn.Invalid("from_step", "run %q has no failed step; name the step to rerun from", old.RunID)
		}
	}
	if def.Step(from) == nil {
		return "", cairn.Invalid("from_step", "workflow has no step %q", truncate(from, 64))
	}
	return from, nil
}

// planRerun reads what a rerun of old from step from needs: the workflow,
// the input, the steps it reuses (those that succeeded or were skipped,
// outside from and what depends on it) and the chain of requesters.
func planRerun(tx cairn.Tx, def *workflow.Definition, old *cairn.Run, from string) (*cairn.Workflow, json.RawMessage, *rerunOf, error) {
	downstream := descendants(def, from)
	reuse := map[string]*cairn.StepState{}
	for _, st := range old.Steps {
		if st.StepID == from || downstream[st.StepID] {
			continue
		}
		if st.Status == cairn.StepSucceeded || st.Status == cairn.StepSkipped {
			reuse[st.StepID] = st
		}
	}
	w, err := tx.GetWorkflow(old.Tenant, old.WorkflowID)
	if err != nil {
		return nil, nil, nil, err
	}
	in, err := tx.GetPayload(old.Tenant, old.InputPtr)
	if err != nil {
		return nil, nil, nil, err
	}
	chain, err := runRequesters(tx, old)
	if err != nil {
		return nil, nil, nil, err
	}
	return w, json.RawMessage(in.Data), &rerunOf{old: old, fromStep: from, reuse: reuse, requesters: chain}, nil
}

// runRequesters lists who started or reran a run of r's rerun chain, the
// original starter first. Runs record it (Requesters); a rerun made before
// they did is followed back through rerun_of.
func runRequesters(tx cairn.ReadTx, r *cairn.Run) ([]string, error) {
	if len(r.Requesters) > 0 {
		return r.Requesters, nil
	}
	var out []string
	if r.RerunOf != "" {
		old, err := tx.GetRun(r.Tenant, r.RerunOf)
		if err != nil && !cairn.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			if out, err = runRequesters(tx, old); err != nil {
				return nil, err
			}
		}
	}
	out = addRequester(out, r.StartedBy)
	return addRequester(out, r.RerunBy), nil
}

// addRequester appends id to ids unless it is there already (case aside) or empty.
func addRequester(ids []string, id string) []string {
	if id == "" || slices.ContainsFunc(ids, func(x string) bool { return samePrincipal(x, id) }) {
		return ids
	}
	return append(ids, id)
}

// requestedBy reports whether principal id started or reran a run of r's
// rerun chain: such a principal may not approve the run's gates or jobs.
func requestedBy(tx cairn.ReadTx, r *cairn.Run, id string) (bool, error) {
	chain, err := runRequesters(tx, r)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(chain, func(x string) bool { return samePrincipal(x, id) }), nil
}

// ListRuns pages runs, newest first.
func (s *Service) ListRuns(ctx context.Context, p cairn.Principal, f cairn.RunFilter) ([]*cairn.Run, error) {
	if !canReadAll(p) && !p.Has(cairn.RoleAgent) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading runs needs the auditor, approver or agent role")
	}
	if !canReadAll(p) {
		f.StartedBy = p.ID // agents see the runs they started
	}
	var out []*cairn.Run
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListRuns(p.Tenant, f)
		return err
	})
	return out, err
}
