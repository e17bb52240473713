package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/workflow"
)

// engineActor is the actor of what the workflow engine (and the rest of
// Cairn's own background work) records.
const engineActor = "cairn"

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
		n.CreatedAt = cairn.Now()
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
			// A retry: same starter, input and workflow (by id, or by the
			// name it was started under) gets the run back.
			sameWorkflow := existing.WorkflowID == req.WorkflowID ||
				(!strings.HasPrefix(req.WorkflowID, "wf:") && strings.HasPrefix(existing.WorkflowID, "wf:"+p.Tenant+":"+req.WorkflowID+"#"))
			if !sameWorkflow || existing.InputSHA256 != ledger.SHA256Hex(input) || existing.StartedBy != p.ID || existing.RerunOf != "" {
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
// itself for a start, the original run's starter for a rerun.
func (s *Service) startRun(tx cairn.Tx, by, starter cairn.Principal, w *cairn.Workflow, runID string, input json.RawMessage, rerun *rerunOf) (*cairn.Run, bool, error) {
	p := starter
	now := cairn.Now()
	inSHA := ledger.SHA256Hex(input)
	if existing, err := tx.GetRun(p.Tenant, runID); err == nil {
		asker := existing.StartedBy
		if existing.RerunBy != "" {
			asker = existing.RerunBy
		}
		if existing.WorkflowID != w.WorkflowID || existing.InputSHA256 != inSHA || asker != by.ID ||
			(rerun == nil) != (existing.RerunOf == "") || (rerun != nil && existing.RerunOf != rerun.old.RunID) {
			return nil, false, cairn.Conflict(cairn.CodeRunConflict, "run %q exists with a different workflow, input or starter", runID)
		}
		return existing, false, nil
	} else if !cairn.IsNotFound(err) {
		return nil, false, err
	}
	if taken, err := runIDTaken(tx, p.Tenant, runID); err != nil {
		return nil, false, err
	} else if taken {
		return nil, false, cairn.Conflict(cairn.CodeRunConflict, "run_id %q is not available: choose another run_id, or omit it to have one generated", runID)
	}
	def, err := s.definition(tx, p.Tenant, w.WorkflowID)
	if err != nil {
		return nil, false, err
	}
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
		ss := &cairn.StepState{StepID: st.ID, Status: cairn.StepPending, Jobs: []string{}}
		if rerun != nil {
			if old := rerun.reuse[st.ID]; old != nil {
				ss = &cairn.StepState{StepID: st.ID, Status: old.Status, Attempts: old.Attempts, JobID: old.JobID,
					Jobs: slices.Clone(old.Jobs), Gate: old.Gate, Error: old.Error, Continued: old.Continued,
					FromRun: rerun.old.RunID, StartedAt: old.StartedAt, CompletedAt: old.CompletedAt}
				if old.FromRun != "" {
					ss.FromRun = old.FromRun
				}
			}
		}
		ss.DependsOn = slices.Clone(st.DependsOn)
		r.Steps = append(r.Steps, ss)
	}
	data := map[string]any{"workflow_id": w.WorkflowID, "workflow_version": w.Version, "input_ptr": r.InputPtr, "input_sha256": inSHA}
	if rerun != nil {
		r.RerunOf, r.RerunFrom, r.RerunBy = rerun.old.RunID, rerun.fromStep, by.ID
		r.Requesters = addRequester(slices.Clone(rerun.requesters), by.ID)
		data["rerun_of"], data["rerun_from_step"] = r.RerunOf, r.RerunFrom
		data["started_by"], data["rerun_by"], data["requesters"] = r.StartedBy, r.RerunBy, r.Requesters
	}
	if err := tx.InsertRun(r); err != nil {
		return nil, false, err
	}
	if err := tx.PutPayload(&cairn.Payload{Tenant: p.Tenant, Ptr: r.InputPtr, SHA256: inSHA, Data: input}); err != nil {
		return nil, false, err
	}
	if err := tx.AppendEvent(&cairn.Event{Tenant: p.Tenant, Type: cairn.EventRunStarted, Timestamp: now, RunID: cairn.Opt(runID),
		Actor: by.ID, State: cairn.RunRunning, Data: data}); err != nil {
		return nil, false, err
	}
	for _, ss := range r.Steps {
		if ss.FromRun != "" {
			if err := tx.AppendEvent(&cairn.Event{Tenant: p.Tenant, Type: cairn.EventStepReused, Timestamp: now, RunID: cairn.Opt(runID),
				WorkflowStepID: cairn.Opt(ss.StepID), JobID: cairn.Opt(ss.JobID), Actor: engineActor,
				Data: map[string]any{"from_run": ss.FromRun, "jobs": ss.Jobs, "step_status": ss.Status}}); err != nil {
				return nil, false, err
			}
		}
	}
	e := &engine{s: s, tx: tx, run: r, def: def, now: now}
	if err := e.advance(); err != nil {
		return nil, false, err
	}
	if err := e.save(); err != nil {
		return nil, false, err
	}
	return r, true, nil
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
		def, err := s.definition(tx, r.Tenant, r.WorkflowID)
		if err != nil {
			return err
		}
		e := &engine{s: s, tx: tx, run: r, def: def, now: cairn.Now(), actor: p.ID}
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
// everything downstream of it run again.
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
		old, err := tx.GetRun(p.Tenant, runID)
		if err != nil {
			return err
		}
		if old.StartedBy != p.ID && !p.Has(cairn.RoleAdmin) {
			return cairn.NotFound("run %q not found", runID)
		}
		if !old.IsWorkflow() {
			return cairn.Conflict(cairn.CodeWorkflowRun, "run %q is not a workflow run", runID)
		}
		if !cairn.IsFinalRunStatus(old.Status) {
			return cairn.Conflict(cairn.CodeRunNotFinished, "run %q is still %s; cancel it before rerunning", runID, old.Status)
		}
		def, err := s.definition(tx, p.Tenant, old.WorkflowID)
		if err != nil {
			return err
		}
		from := req.FromStep
		if from == "" {
			// The first step that failed or timed out; else the first that
			// did not finish (a cancelled run).
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
				return cairn.Invalid("from_step", "run %q has no failed step; name the step to rerun from", runID)
			}
		}
		if def.Step(from) == nil {
			return cairn.Invalid("from_step", "workflow has no step %q", truncate(from, 64))
		}
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
		w, err := tx.GetWorkflow(p.Tenant, old.WorkflowID)
		if err != nil {
			return err
		}
		in, err := tx.GetPayload(p.Tenant, old.InputPtr)
		if err != nil {
			return err
		}
		chain, err := runRequesters(tx, old)
		if err != nil {
			return err
		}
		// The rerun acts for the original starter: its jobs are submitted
		// on that principal's behalf and judged as that principal, as the
		// original run's were; the caller is recorded as rerun_by.
		starter := cairn.Principal{Tenant: old.Tenant, ID: old.StartedBy, Kind: old.StarterKind, Roles: old.StarterRoles}
		out, created, err = s.startRun(tx, p, starter, w, req.RunID, json.RawMessage(in.Data),
			&rerunOf{old: old, fromStep: from, reuse: reuse, requesters: chain})
		return err
	})
	return out, created, err
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

// VoteGate records an approver's answer to a step's gate. The approver needs
// one of the gate's roles, must not be the principal who started the run,
// must send the job_hash the gate shows, and votes once; a gate opens when
// Quorum distinct approvers approved it, and closes at the first rejection.
// A retry of the same vote returns the run unchanged.
func (s *Service) VoteGate(ctx context.Context, p cairn.Principal, runID, stepID string, approve bool, req cairn.GateVoteRequest) (*cairn.Run, error) {
	if err := validID("run_id", runID); err != nil {
		return nil, err
	}
	if err := validID("step_id", stepID); err != nil {
		return nil, err
	}
	resolution, err := validVerdict(approve, req.JobHash, "the gate shows", req.Comment)
	if err != nil {
		return nil, err
	}
	var out *cairn.Run
	var expired bool
	err = s.update(ctx, func(tx cairn.Tx) error {
		r, err := tx.GetRun(p.Tenant, runID)
		if err != nil {
			return err
		}
		st := r.Step(stepID)
		if !r.IsWorkflow() || st == nil || st.Gate == nil {
			return cairn.NotFound("run %q has no gate on step %q", runID, truncate(stepID, 64))
		}
		g := st.Gate
		if !slices.ContainsFunc(g.ApproverRoles, p.Has) {
			return cairn.Forbidden(cairn.CodeRoleNotAllowed, "the gate allows approvers with roles %v", g.ApproverRoles)
		}
		if self, err := requestedBy(tx, r, p.ID); err != nil {
			return err
		} else if self {
			return cairn.Forbidden(cairn.CodeSelfApprovalForbidden, "a principal who started or reran a run (or a run it reruns) cannot approve its gates")
		}
		for _, v := range g.Votes {
			if samePrincipal(v.By, p.ID) {
				if v.By != p.ID {
					return cairn.Conflict(cairn.CodeAlreadyVoted, "%s already %s this gate", v.By, v.Resolution)
				}
				if v.Resolution == resolution && req.JobHash == g.JobHash {
					out = r // a retry of this approver's vote
					return nil
				}
				return cairn.Conflict(cairn.CodeAlreadyVoted, "%s already %s this gate", p.ID, v.Resolution)
			}
		}
		if g.Status == cairn.GateExpired {
			return cairn.Conflict(cairn.CodeApprovalExpired, "the gate expired at %s", cairn.Timestamp(*g.ExpiresAt))
		}
		if g.Status != cairn.GatePending || st.Status != cairn.StepWaitingApproval {
			return cairn.Conflict(cairn.CodeGateNotPending, "the gate on step %q is %s", stepID, g.Status)
		}
		def, err := s.definition(tx, r.Tenant, r.WorkflowID)
		if err != nil {
			return err
		}
		e := &engine{s: s, tx: tx, run: r, def: def, now: cairn.Now()}
		if g.ExpiresAt != nil && !e.now.Before(*g.ExpiresAt) {
			// Expire it now, with its evidence, then refuse.
			if err := e.tick(); err != nil {
				return err
			}
			if err := e.advance(); err != nil {
				return err
			}
			expired = true
			return e.save()
		}
		if req.JobHash != g.JobHash {
			return cairn.Conflict(cairn.CodeJobHashMismatch, "job_hash does not match the job the gate releases")
		}
		if err := e.vote(def.Step(stepID), st, p.ID, resolution, req.Comment); err != nil {
			return err
		}
		if err := e.advance(); err != nil {
			return err
		}
		if err := e.save(); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	if expired {
		return nil, cairn.Conflict(cairn.CodeApprovalExpired, "the gate has expired")
	}
	return out, nil
}

// engineJobChanged advances j's workflow run after j changed state.
func (s *Service) engineJobChanged(tx cairn.Tx, r *cairn.Run, j *cairn.Job, now time.Time) error {
	if cairn.IsFinalRunStatus(r.Status) {
		return nil
	}
	def, err := s.definition(tx, r.Tenant, r.WorkflowID)
	if err != nil {
		return err
	}
	e := &engine{s: s, tx: tx, run: r, def: def, now: now}
	if cairn.IsFinalState(j.State) {
		if err := e.jobFinal(j); err != nil {
			return err
		}
	}
	if err := e.advance(); err != nil {
		return err
	}
	return e.save()
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
	def, err := s.definition(tx, r.Tenant, r.WorkflowID)
	if err != nil {
		return err
	}
	e := &engine{s: s, tx: tx, run: r, def: def, now: now}
	if err := e.tick(); err != nil {
		return err
	}
	if err := e.advance(); err != nil {
		return err
	}
	return e.save()
}

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
		JobID: cairn.Opt(jobID), Actor: engineActor, Data: data}
	switch {
	case st != nil && jobID != "":
		// An event's state is its job's state when it names a job (the
		// verifier projects jobs from it); the step's status goes in data.
		ev.WorkflowStepID = cairn.Opt(st.StepID)
		if ev.Data == nil {
			ev.Data = map[string]any{}
		}
		ev.Data["step_status"] = st.Status
	case st != nil:
		ev.WorkflowStepID = cairn.Opt(st.StepID)
		ev.State = st.Status
	default:
		ev.State = e.run.Status
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
			st.Status = cairn.StepFailed
			now := e.now
			st.CompletedAt = &now
			if err := e.event(cairn.EventStepFailed, st, j.JobID, map[string]any{"error": st.Error, "compensation_job_id": j.JobID, "compensation_state": j.State}); err != nil {
				return err
			}
			return e.finish(cairn.RunFailed, "step "+st.StepID+" failed ("+st.Error+"); compensation job "+j.JobID+" ended "+j.State)
		}
		if st.Status != cairn.StepRunning || st.JobID != j.JobID {
			continue
		}
		switch j.State {
		case cairn.StateSucceeded:
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
	return nil
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
	j.State = cairn.StateCancelled
	j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt = "", "", nil
	j.UpdatedAt = now
	j.CompletedAt = &now
	if err := e.tx.UpdateJob(j); err != nil {
		return err
	}
	return e.s.appendJob(e.tx, j, cairn.EventJobStateChanged, engineActor, now, func(ev *cairn.Event) {
		ev.State = j.State
		ev.Data = map[string]any{"reason": reason}
	})
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
		step := e.def.Step(st.StepID)
		switch st.Status {
		case cairn.StepRetryWait:
			if err := e.startAttempt(step, st); err != nil {
				return err
			}
		case cairn.StepWaitingApproval:
			if err := e.closeGate(step, st, cairn.GateExpired, "gate expired"); err != nil {
				return err
			}
		case cairn.StepRunning:
			st.NextAt = nil
			if err := e.cancelJob(st.JobID, "attempt timed out"); err != nil {
				return err
			}
			reason := fmt.Sprintf("attempt %d timed out after %s", st.Attempts, step.Timeout)
			// A retry records step_retry_scheduled with this reason; the
			// last attempt's timeout records step_timed_out.
			if err := e.attemptFailed(step, st, reason, true); err != nil {
				return err
			}
		case cairn.StepCompensating:
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
			if err := e.finish(cairn.RunFailed, "step "+st.StepID+" failed ("+st.Error+"); "+why); err != nil {
				return err
			}
		default:
			st.NextAt = nil
		}
	}
	return nil
}

// settle completes a run whose steps are all done and keeps its status
// (running / waiting_approval) and next deadline current.
func (e *engine) settle() error {
	if cairn.IsFinalRunStatus(e.run.Status) {
		return nil
	}
	all, waiting := true, false
	var wake *time.Time
	for _, st := range e.run.Steps {
		if !cairn.IsFinalStepStatus(st.Status) {
			all = false
		}
		switch st.Status {
		case cairn.StepWaitingApproval:
			waiting = true
		case cairn.StepRunning, cairn.StepCompensating:
			id := st.JobID
			if st.Status == cairn.StepCompensating {
				id = st.CompensationJobID
			}
			j, err := e.tx.GetJob(e.run.Tenant, id)
			if err != nil {
				return err
			}
			if j.State == cairn.StatePendingApproval {
				waiting = true
			}
		}
		if st.NextAt != nil && (wake == nil || st.NextAt.Before(*wake)) {
			t := *st.NextAt
			wake = &t
		}
	}
	if all {
		for _, st := range e.run.Steps {
			if !isDone(st) {
				return e.finish(cairn.RunFailed, "step "+st.StepID+" did not succeed")
			}
		}
		return e.finish(cairn.RunSucceeded, "")
	}
	if e.run.TimeoutAt != nil && (wake == nil || e.run.TimeoutAt.Before(*wake)) {
		t := *e.run.TimeoutAt
		wake = &t
	}
	e.run.WakeAt = wake
	status := cairn.RunRunning
	if waiting {
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
	if cairn.IsNotFound(err) {
		return nil, nil // never fall back to an unredacted original
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
