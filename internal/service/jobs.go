package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/jobrow"
	"github.com/cairnhq/cairn/internal/pack"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/cairnhq/cairn/ledger"
)

// Submit records an agent's action and its submit-phase decision. It returns
// the job and whether it was created (false: an idempotent replay). A
// request's lease is ignored; SubmitAndLease takes it.
func (s *Service) Submit(ctx context.Context, p cairn.Principal, req cairn.SubmitRequest, traceparent string) (*cairn.Job, bool, error) {
	req.Lease = nil
	j, _, created, err := s.SubmitAndLease(ctx, p, nil, req, traceparent)
	return j, created, err
}

// SubmitAndLease is Submit that, when the request asks for a lease and the
// job is allowed to run, also dispatches it to the caller in the same
// write transaction: one durable commit instead of two for integrations
// that carry out the action themselves (the MCP gateway, the hook). The
// evidence is the same as a submit followed by a lease of the job by id.
// exec is the principal that takes the lease (nil: the submitter).
func (s *Service) SubmitAndLease(ctx context.Context, p cairn.Principal, exec *cairn.Principal, req cairn.SubmitRequest, traceparent string) (*cairn.Job, *cairn.LeasedJob, bool, error) {
	if exec == nil {
		exec = &p
	}
	leaseFor, err := s.validSubmit(ctx, p, *exec, &req, traceparent)
	if err != nil {
		return nil, nil, false, err
	}
	// Everything that does not depend on the store is built, and its
	// evidence canonicalised, before the transaction: the group-commit
	// writer only assigns positions and inserts. The decision is made under
	// the policy this process last saw; the transaction confirms it is
	// still in force, or decides again (ADR 0012).
	now := s.now()
	sub, err := s.prepareSubmit(ctx, s.current(), p, req, now)
	if err != nil {
		return nil, nil, false, err
	}
	var w submitWrite
	err = s.update(ctx, func(tx cairn.Tx) error {
		w = submitWrite{}
		pol, err := s.inForce(tx)
		if err != nil {
			return err
		}
		if pol.id != sub.policy {
			if sub, err = s.prepareSubmit(ctx, pol, p, req, now); err != nil {
				return err
			}
		}
		if err := s.insertSubmission(tx, p, sub, &w); err != nil || !w.created || req.Lease == nil || w.job.State != cairn.StateQueued {
			return err
		}
		w.leased, err = s.dispatch(ctx, tx, pol, *exec, req.Lease.WorkerID, w.job, sub.payload, leaseFor, sub.now)
		return err
	})
	if err != nil {
		return nil, nil, false, err
	}
	if w.leased != nil {
		// No log, no run: the lease carries its signed dispatch receipt.
		if err := s.receipt(ctx, p.Tenant, w.leased.Receipt); err != nil {
			return nil, nil, false, err
		}
	}
	return w.job, w.leased, w.created, nil
}

// submitWrite is what a submit's transaction wrote: the job (or, for a
// replay, the existing one as the caller may see it), and the lease taken
// with it.
type submitWrite struct {
	job     *cairn.Job
	leased  *cairn.LeasedJob
	created bool
}

// validSubmit checks a submit request for submitter p and the principal
// exec that would take its lease, fills in its ids, and returns the
// lease's duration.
func (s *Service) validSubmit(ctx context.Context, p, exec cairn.Principal, req *cairn.SubmitRequest, traceparent string) (time.Duration, error) {
	if !p.Has(cairn.RoleAgent) {
		return 0, cairn.Forbidden(cairn.EForbidden, "submitting jobs needs the agent role")
	}
	if err := normalizeSubmit(req); err != nil {
		return 0, err
	}
	leaseFor, err := validSubmitLease(exec, p, req)
	if err != nil {
		return 0, err
	}
	if req.TraceID == "" {
		req.TraceID = traceIDFrom(traceparent)
	}
	if req.TraceID == "" {
		req.TraceID = tracing.TraceID(ctx) // the request's trace, when traced
	}
	if req.JobID == "" {
		req.JobID = randomID("job_", 12)
	}
	if req.TraceID == "" {
		req.TraceID = randomID("", 16)
	}
	return leaseFor, nil
}

// insertSubmission inserts sub's job with its evidence, or finds the
// job an idempotent replay names (w.created false).
func (s *Service) insertSubmission(tx cairn.Tx, p cairn.Principal, sub *submission, w *submitWrite) error {
	j := *sub.job
	// The ids of workflow runs' step jobs are the engine's.
	if reserved, err := reservedJobID(tx, p.Tenant, j.JobID); err != nil {
		return err
	} else if reserved {
		return jobIDUnavailable(j.JobID)
	}
	if err := s.prunedJobID(tx, p.Tenant, j.JobID); err != nil {
		return err
	}
	// Insert first: the unique (tenant, job_id) key detects a replay
	// without a read on the common path, and a failed INSERT leaves the
	// transaction intact.
	if err := tx.InsertJob(&j); err != nil {
		if cairn.ErrorCode(err) != cairn.CodeJobConflict {
			return err
		}
		existing, err := replayOf(tx, p, sub.job)
		w.job = existing
		return err
	}
	if err := s.joinRun(tx, &j, p.ID, sub.now); err != nil {
		return err
	}
	if err := s.writeSubmission(tx, sub, &j); err != nil {
		return err
	}
	if cairn.IsFinalState(j.State) {
		if err := s.runJobChanged(tx, &j, sub.now); err != nil {
			return err
		}
	}
	w.job, w.created = &j, true
	return nil
}

// replayOf is the existing job a submit of job's id names, as p may see it,
// when it has the same job_hash; a different job_hash is a conflict (told
// to p only if p may read the existing job).
func replayOf(tx cairn.Tx, p cairn.Principal, job *cairn.Job) (*cairn.Job, error) {
	existing, err := tx.GetJob(p.Tenant, job.JobID)
	if err != nil {
		return nil, err
	}
	if existing.JobHash != job.JobHash {
		if existing.SubmittedBy != p.ID && !canReadAll(p) {
			// Nothing about a job the caller cannot read.
			return nil, jobIDUnavailable(job.JobID)
		}
		return nil, cairn.Conflict(cairn.CodeJobConflict, "job %q exists with a different job_hash", job.JobID)
	}
	return jobView(p, existing), nil
}

// submission is a job with its submit-phase decision and evidence, built
// and canonicalised ahead of the transaction that writes it.
type submission struct {
	job      *cairn.Job
	evidence []*cairn.Event
	approval *cairn.Approval
	payload  *cairn.Payload
	now      time.Time
	policy   string // the id of the snapshot it was decided under ("" for none)
}

// prepareSubmit decides a normalised submit request under pol and builds
// its evidence.
func (s *Service) prepareSubmit(ctx context.Context, pol *activePolicy, p cairn.Principal, req cairn.SubmitRequest, now time.Time) (*submission, error) {
	if req.JobID == "" {
		req.JobID = randomID("job_", 12)
	}
	if req.TraceID == "" {
		req.TraceID = randomID("", 16)
	}
	hash, err := ledger.JobHash(ledger.JobHashInput{
		Tenant: p.Tenant, JobID: req.JobID, RunID: req.RunID, WorkflowStepID: req.WorkflowStepID,
		Action: req.Action, Resource: req.Resource, Labels: req.Labels, RiskTags: req.RiskTags,
		Input: req.Input, SubmittedBy: p.ID,
	})
	if err != nil {
		return nil, cairn.Invalid("input", "cannot be canonicalised: %v", err)
	}
	var input any
	if len(req.Input) > 0 {
		if err := json.Unmarshal(req.Input, &input); err != nil {
			return nil, cairn.Invalid("input", "is not valid JSON")
		}
	}
	ev, err := pol.evaluate(ctx, cairn.PolicyInput{
		Tenant: p.Tenant, JobID: req.JobID, RunID: req.RunID, WorkflowStepID: req.WorkflowStepID,
		Action: req.Action, Resource: req.Resource, Labels: req.Labels, RiskTags: req.RiskTags,
		Input: input, Principal: p, Now: now,
	})
	if err != nil {
		return nil, err
	}
	labels := req.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	tags := req.RiskTags
	if tags == nil {
		tags = []string{}
	}
	ctxData := req.Input
	if len(ctxData) == 0 {
		ctxData = json.RawMessage("null")
	}
	job := &cairn.Job{
		Executor: req.Executor,
		JobID:    req.JobID, RunID: cairn.Opt(req.RunID), WorkflowStepID: cairn.Opt(req.WorkflowStepID),
		TraceID: req.TraceID, TraceState: tracing.TraceState(ctx, req.TraceID), Tenant: p.Tenant, Action: req.Action, Resource: cairn.Opt(req.Resource),
		Labels: labels, RiskTags: tags, SubmittedBy: p.ID, SubmitterKind: p.Kind, SubmitterRoles: p.Roles, JobHash: hash,
		ContextPtr: cairn.ContextPtr(req.JobID), ContextSHA256: ledger.SHA256Hex(ctxData),
		CreatedAt: now, UpdatedAt: now,
	}
	applyDecision(job, ev)
	if err := transition(job, submitState(ev.Decision), now); err != nil {
		return nil, err
	}
	job.ApprovalRequired = ev.Decision == cairn.RequireApproval
	submitted := jobEvent(job, cairn.EventJobSubmitted, p.ID, now)
	submitted.JobHash = hash
	submitted.State = job.State
	submitted.Data = submittedData(job)
	d, decided := decisionEvent(job, ev, cairn.PhaseSubmit, p.ID, now)
	sub := &submission{job: job, evidence: []*cairn.Event{submitted, decided}, now: now, policy: pol.id}
	if ev.Decision == cairn.RequireApproval {
		var requested *cairn.Event
		sub.approval, requested = approvalEvent(job, d, ev, p.ID, now)
		sub.evidence = append(sub.evidence, requested)
	}
	tracing.Stamp(ctx, now, job.TraceID, sub.evidence...) // before seal: the span ids are evidence
	for _, e := range sub.evidence {
		if err := seal(e); err != nil {
			return nil, err
		}
	}
	sub.payload = &cairn.Payload{Tenant: p.Tenant, Ptr: job.ContextPtr, SHA256: job.ContextSHA256, Data: ctxData, Labels: job.Labels}
	packJob(job)
	return sub, nil
}

// packJob makes the job's stored body ahead of the transaction, so that
// the store's writer does not: its JSON without what the row's columns
// hold (ADR 0047), compressed (ADR 0044). The store checks that the job
// still marshals to the JSON it was made from.
func packJob(j *cairn.Job) {
	j.Packed, j.PackedFrom = nil, nil
	full, err := json.Marshal(j)
	if err != nil {
		return
	}
	body, err := jobrow.Body(j, full)
	if err != nil {
		return
	}
	if packed, err := pack.Pack(body); err == nil {
		j.Packed, j.PackedFrom = packed, full
	}
}

// submitState is the state a job is submitted into under a decision.
func submitState(decision string) string {
	switch decision {
	case cairn.Deny:
		return cairn.StateDenied
	case cairn.RequireApproval:
		return cairn.StatePendingApproval
	}
	return cairn.StateQueued
}

// writeSubmission writes an inserted job's context and evidence.
func (s *Service) writeSubmission(tx cairn.Tx, sub *submission, j *cairn.Job) error {
	if err := tx.PutPayload(sub.payload); err != nil {
		return err
	}
	for _, e := range sub.evidence {
		if err := tx.AppendEvent(e); err != nil {
			return err
		}
	}
	if sub.approval != nil {
		sub.approval.Ledger = sub.evidence[2].Ledger
		if exp := sub.approval.ExpiresAt; exp != nil {
			tx.AfterCommit(func() { s.fireDeadline(*exp) })
		}
		if err := tx.InsertApproval(sub.approval); err != nil {
			return err
		}
	}
	if j.State == cairn.StateQueued {
		s.announceQueued(tx, j)
	}
	return nil
}

// seal canonicalises an event ahead of its transaction.
func seal(e *cairn.Event) error {
	canon, err := ledger.Canonical(e)
	if err != nil {
		return err
	}
	e.Canon = canon
	return nil
}

func jobEvent(j *cairn.Job, typ, actor string, now time.Time) *cairn.Event {
	return &cairn.Event{
		Tenant: j.Tenant, Type: typ, Timestamp: now, RunID: j.RunID, WorkflowStepID: j.WorkflowStepID,
		JobID: cairn.Opt(j.JobID), Actor: actor,
	}
}

// hashProjection is the job_hash projection without the input (whose hash is context_sha256).
func hashProjection(j *cairn.Job) ledger.SubmittedJob {
	return ledger.SubmittedJob{
		Tenant: j.Tenant, JobID: j.JobID, RunID: j.RunID, WorkflowStepID: j.WorkflowStepID,
		Action: j.Action, Resource: j.Resource, Labels: j.Labels, RiskTags: j.RiskTags,
		SubmittedBy: j.SubmittedBy, TraceID: j.TraceID, ContextPtr: j.ContextPtr, ContextSHA256: j.ContextSHA256,
	}
}

func applyDecision(j *cairn.Job, ev cairn.Evaluation) {
	j.Decision = ev.Decision
	j.PolicyRuleID = cairn.Opt(ev.RuleID)
	j.PolicyReason = ev.Reason
	j.PolicySnapshot = cairn.Opt(ev.Snapshot)
	j.Constraints = ev.Constraints
}

// appendJob appends an event about job j.
func (s *Service) appendJob(tx cairn.Tx, j *cairn.Job, typ, actor string, now time.Time, fill func(*cairn.Event)) error {
	e := jobEvent(j, typ, actor, now)
	if fill != nil {
		fill(e)
	}
	return tx.AppendEvent(e)
}

// decisionEvent builds a decision and the policy_decided event that records it.
func decisionEvent(j *cairn.Job, ev cairn.Evaluation, phase, actor string, now time.Time) (*cairn.Decision, *cairn.Event) {
	d := &cairn.Decision{
		DecisionID: randomID("dec_", 12), JobID: j.JobID, Phase: phase, Decision: ev.Decision,
		PolicyRuleID: cairn.Opt(ev.RuleID), PolicyReason: ev.Reason, PolicySnapshot: cairn.Opt(ev.Snapshot),
		JobHash: j.JobHash, Constraints: ev.Constraints, Approval: ev.Approval, Default: ev.DefaultRule,
		Explanation: ev.Explanation, RulesTried: ev.Trace, EvaluatedAt: now,
	}
	if d.RulesTried == nil {
		d.RulesTried = []cairn.RuleTrace{}
	}
	e := jobEvent(j, cairn.EventPolicyDecided, actor, now)
	e.Decision, e.PolicyRuleID, e.PolicySnapshot, e.JobHash = ev.Decision, ev.RuleID, ev.Snapshot, j.JobHash
	e.Data = &cairn.DecidedData{Decision: d, Phase: phase}
	return d, e
}

func (s *Service) recordDecision(tx cairn.Tx, j *cairn.Job, ev cairn.Evaluation, phase, actor string, now time.Time) (*cairn.Decision, *cairn.Event, error) {
	d, e := decisionEvent(j, ev, phase, actor, now)
	// Sealed here rather than by the store (the same work, in the same
	// transaction), so a dispatch receipt can rebuild the entry from it.
	if err := seal(e); err != nil {
		return nil, nil, err
	}
	if err := tx.AppendEvent(e); err != nil {
		return nil, nil, err
	}
	d.Ledger = e.Ledger
	return d, e, nil
}

// approvalEvent builds a pending approval and the approval_requested event.
func approvalEvent(j *cairn.Job, d *cairn.Decision, ev cairn.Evaluation, actor string, now time.Time) (*cairn.Approval, *cairn.Event) {
	a := &cairn.Approval{
		ApprovalID: randomID("apr_", 12), Tenant: j.Tenant, JobID: j.JobID, RunID: j.RunID,
		WorkflowStepID: j.WorkflowStepID, Action: j.Action, Resource: j.Resource, Decision: ev.Decision,
		DecisionID: d.DecisionID, PolicyRuleID: cairn.Opt(ev.RuleID), PolicyReason: ev.Reason,
		PolicySnapshot: cairn.Opt(ev.Snapshot), JobHash: j.JobHash, ApprovalRequired: true,
		RequestedBy: j.SubmittedBy, RequestedAt: now, Status: cairn.ApprovalPending,
		ApproverRoles: []string{cairn.RoleApprover},
	}
	if ev.Approval != nil && len(ev.Approval.ApproverRoles) > 0 {
		a.ApproverRoles = ev.Approval.ApproverRoles
	}
	if ev.ExpiresIn > 0 {
		exp := now.Add(ev.ExpiresIn)
		a.ExpiresAt = &exp
	}
	e := jobEvent(j, cairn.EventApprovalRequested, actor, now)
	e.Decision, e.PolicyRuleID, e.PolicySnapshot, e.JobHash = ev.Decision, ev.RuleID, ev.Snapshot, j.JobHash
	e.State = cairn.StatePendingApproval
	e.Data = &cairn.ApprovalRequestedData{Approval: a}
	return a, e
}

func (s *Service) requestApproval(tx cairn.Tx, j *cairn.Job, d *cairn.Decision, ev cairn.Evaluation, actor string, now time.Time) error {
	a, e := approvalEvent(j, d, ev, actor, now)
	if err := tx.AppendEvent(e); err != nil {
		return err
	}
	a.Ledger = e.Ledger
	if exp := a.ExpiresAt; exp != nil {
		tx.AfterCommit(func() { s.fireDeadline(*exp) })
	}
	return tx.InsertApproval(a)
}

// joinRun starts the job's run if it is new, or reopens a completed one.
func (s *Service) joinRun(tx cairn.Tx, j *cairn.Job, actor string, now time.Time) error {
	if j.RunID == "" {
		return nil
	}
	r, err := tx.GetRun(j.Tenant, string(j.RunID))
	if cairn.IsNotFound(err) {
		r = &cairn.Run{RunID: string(j.RunID), Tenant: j.Tenant, Status: cairn.RunRunning, StartedBy: actor, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		return tx.AppendEvent(&cairn.Event{Tenant: j.Tenant, Type: cairn.EventRunStarted, Timestamp: now, RunID: j.RunID, Actor: actor, JobID: cairn.Opt(j.JobID), State: cairn.RunRunning})
	}
	if err != nil {
		return err
	}
	if r.IsWorkflow() {
		return cairn.Conflict(cairn.CodeWorkflowRun, "run %q is a workflow run; its jobs are created by its workflow's steps", j.RunID)
	}
	if r.StartedBy != actor {
		return cairn.Forbidden(cairn.CodeRunNotOwned, "run %q was started by another principal; a run takes jobs only from the principal that started it", j.RunID)
	}
	if r.Status == cairn.RunCompleted {
		r.Status = cairn.RunRunning
		r.UpdatedAt = now
		r.CompletedAt = nil
		if err := tx.UpdateRun(r); err != nil {
			return err
		}
		return tx.AppendEvent(&cairn.Event{Tenant: j.Tenant, Type: cairn.EventRunReopened, Timestamp: now, RunID: j.RunID, Actor: actor, JobID: cairn.Opt(j.JobID), State: cairn.RunRunning})
	}
	return nil
}

// runJobChanged tells j's run that j changed state: a workflow run's engine
// advances; an ad-hoc run completes once all its jobs are final.
func (s *Service) runJobChanged(tx cairn.Tx, j *cairn.Job, now time.Time) error {
	if j.RunID == "" {
		return nil
	}
	if j.WorkflowStepID != "" { // only workflow runs' jobs carry one necessarily
		r, err := tx.GetRun(j.Tenant, string(j.RunID))
		if err != nil {
			return err
		}
		if r.IsWorkflow() {
			return s.engineJobChanged(tx, r, j, now)
		}
	}
	if !cairn.IsFinalState(j.State) {
		return nil
	}
	open, err := tx.OpenRunJobs(j.Tenant, string(j.RunID))
	if err != nil {
		return err
	}
	if open > 0 {
		return nil
	}
	r, err := tx.GetRun(j.Tenant, string(j.RunID))
	if err != nil {
		return err
	}
	if r.Status == cairn.RunCompleted {
		return nil
	}
	r.Status = cairn.RunCompleted
	r.UpdatedAt = now
	r.CompletedAt = &now
	if err := tx.UpdateRun(r); err != nil {
		return err
	}
	return tx.AppendEvent(&cairn.Event{Tenant: j.Tenant, Type: cairn.EventRunCompleted, Timestamp: now, RunID: j.RunID, Actor: "cairn", State: cairn.RunCompleted})
}

// dispatch re-decides a queued job under pol, the policy in force for tx,
// and, if still allowed, leases it. payload is the job's context
// (immutable evidence, so it may be read before the transaction). Its
// phases: the decision (redecide, recorded), then a DENY ends the job
// (denyAtDispatch), a REQUIRE_APPROVAL is checked against the job's
// approval (approvalHolds), and what may run is leased (leaseJob).
func (s *Service) dispatch(ctx context.Context, tx cairn.Tx, pol *activePolicy, p cairn.Principal, workerID string, j *cairn.Job, payload *cairn.Payload, leaseFor time.Duration, now time.Time) (*cairn.LeasedJob, error) {
	ev, err := redecide(ctx, pol, j, payload, now)
	if err != nil {
		return nil, err
	}
	d, decided, err := s.recordDecision(tx, j, ev, cairn.PhaseDispatch, "worker:"+workerID, now)
	if err != nil {
		return nil, err
	}
	switch ev.Decision {
	case cairn.Deny:
		applyDecision(j, ev)
		return nil, s.denyAtDispatch(tx, j, ev, d, "denied at dispatch", now)
	case cairn.RequireApproval:
		if holds, err := s.approvalHolds(tx, j, ev, d, now); err != nil || !holds {
			return nil, err
		}
	}
	return s.leaseJob(ctx, tx, p, workerID, j, payload, ev, d, decided, leaseFor, now)
}

// redecide evaluates a queued job again under pol. The submitter is the
// principal the policy judges; the worker only carries it out.
func redecide(ctx context.Context, pol *activePolicy, j *cairn.Job, payload *cairn.Payload, now time.Time) (cairn.Evaluation, error) {
	var input any
	if err := json.Unmarshal(payload.Data, &input); err != nil {
		return cairn.Evaluation{}, err
	}
	return pol.evaluate(ctx, cairn.PolicyInput{
		Tenant: j.Tenant, JobID: j.JobID, RunID: string(j.RunID), WorkflowStepID: string(j.WorkflowStepID),
		Action: j.Action, Resource: string(j.Resource), Labels: j.Labels, RiskTags: j.RiskTags,
		Input: input, Principal: cairn.Principal{Tenant: j.Tenant, ID: j.SubmittedBy, Kind: j.SubmitterKind, Roles: j.SubmitterRoles}, Now: now,
	})
}

// denyAtDispatch makes a job DENIED at dispatch, for why, and tells its run.
func (s *Service) denyAtDispatch(tx cairn.Tx, j *cairn.Job, ev cairn.Evaluation, d *cairn.Decision, why string, now time.Time) error {
	if err := transition(j, cairn.StateDenied, now); err != nil {
		return err
	}
	if err := tx.UpdateJob(j); err != nil {
		return err
	}
	if err := s.appendJob(tx, j, cairn.EventJobStateChanged, "cairn", now, func(e *cairn.Event) {
		e.State = j.State
		e.Decision = ev.Decision
		e.Data = &cairn.JobStateChangedData{Reason: why, DecisionID: d.DecisionID}
	}); err != nil {
		return err
	}
	return s.runJobChanged(tx, j, now)
}

// approvalHolds reports whether the job's approval answers the
// REQUIRE_APPROVAL decided at dispatch: approved, for the same job_hash, by
// an approver the rule in force still allows. Without an approval, one is
// requested (the job waits for it); with one that does not count, the job
// is DENIED. Either way it does not hold.
func (s *Service) approvalHolds(tx cairn.Tx, j *cairn.Job, ev cairn.Evaluation, d *cairn.Decision, now time.Time) (bool, error) {
	a, err := tx.GetApproval(j.Tenant, j.JobID)
	if cairn.IsNotFound(err) {
		applyDecision(j, ev)
		if err := transition(j, cairn.StatePendingApproval, now); err != nil {
			return false, err
		}
		j.ApprovalRequired = true
		if err := tx.UpdateJob(j); err != nil {
			return false, err
		}
		if err := s.requestApproval(tx, j, d, ev, "cairn", now); err != nil {
			return false, err
		}
		return false, s.runJobChanged(tx, j, now)
	}
	if err != nil {
		return false, err
	}
	why := "approval required at dispatch does not match"
	if a.Resolution == cairn.ResolutionApproved && a.JobHash == j.JobHash {
		required := requiredApproverRoles(ev)
		if approverQualifies(a, required) {
			return true, nil
		}
		why = fmt.Sprintf("approval by %s (roles %v) does not satisfy rule %s in force at dispatch, which allows approvers with roles %v",
			a.ResolvedBy, approvedWith(a), ruleOrDefault(ev.RuleID), required)
	}
	// An approval exists but does not count; the job cannot run. An
	// approved job's REQUIRE_APPROVAL stays its decision of record
	// (docs/evidence.md §2.2); the re-decision is in the history.
	if a.Resolution != cairn.ResolutionApproved {
		applyDecision(j, ev)
	}
	return false, s.denyAtDispatch(tx, j, ev, d, why, now)
}

// leaseJob leases a job that may run to workerID for leaseFor, with its
// dispatch evidence and receipt.
func (s *Service) leaseJob(ctx context.Context, tx cairn.Tx, p cairn.Principal, workerID string, j *cairn.Job, payload *cairn.Payload, ev cairn.Evaluation, d *cairn.Decision, decided *cairn.Event, leaseFor time.Duration, now time.Time) (*cairn.LeasedJob, error) {
	if !j.ApprovalRequired {
		applyDecision(j, ev)
	} else {
		// Keep the approval's REQUIRE_APPROVAL as the governing decision; the
		// dispatch decision is in the history.
		j.Constraints = ev.Constraints
	}
	exp := now.Add(leaseFor)
	if err := transition(j, cairn.StateRunning, now); err != nil {
		return nil, err
	}
	j.LeaseID = cairn.Opt(randomID("lease_", 12))
	j.LeaseOwner = cairn.Opt(workerID)
	j.LeaseExpiresAt = &exp
	if err := tx.UpdateJob(j); err != nil {
		return nil, err
	}
	var dispatched *cairn.Event
	if err := s.appendJob(tx, j, cairn.EventJobDispatched, "worker:"+workerID, now, func(e *cairn.Event) {
		dispatched = e
		e.State = j.State
		e.JobHash = j.JobHash
		e.Decision = ev.Decision
		e.PolicySnapshot = ev.Snapshot
		// worker_id is the worker's own label; principal and key_id are
		// the authenticated key that leased the job.
		e.Data = dispatchedData(j, workerID, p, exp, d.DecisionID)
	}); err != nil {
		return nil, err
	}
	tx.AfterCommit(func() { s.fireDeadline(exp) })
	traceparent, tracestate := tracing.Propagate(ctx, dispatched)
	if traceparent != "" && tracestate == "" {
		tracestate = j.TraceState // leased in another request than its submit
	}
	return &cairn.LeasedJob{
		Traceparent: traceparent, Tracestate: tracestate,
		JobID: j.JobID, RunID: j.RunID, WorkflowStepID: j.WorkflowStepID, TraceID: j.TraceID, Action: j.Action,
		Resource: j.Resource, Labels: j.Labels, RiskTags: j.RiskTags, Input: json.RawMessage(payload.Data),
		JobHash: j.JobHash, Decision: ev.Decision, PolicySnapshot: ev.Snapshot, Constraints: ev.Constraints,
		LeaseID: string(j.LeaseID), LeaseExpiresAt: exp, Attempts: j.Attempts,
		// The receipt's checkpoint will be at the size right after this
		// dispatch: known here, so the receipt need not read the ledger's size.
		Receipt: &cairn.DispatchReceipt{DecisionID: d.DecisionID, JobHash: j.JobHash, Ledger: d.Ledger, TreeSize: dispatched.Ledger.Index + 1, Decided: decided},
	}, nil
}

// requiredApproverRoles are the roles the evaluated rule lets approve
// (approver when its approval block names none).
func requiredApproverRoles(ev cairn.Evaluation) []string {
	if ev.Approval != nil && len(ev.Approval.ApproverRoles) > 0 {
		return ev.Approval.ApproverRoles
	}
	return []string{cairn.RoleApprover}
}

// approverQualifies reports whether the approver of a, with the roles it
// held when it approved, holds one of required (admin holds every role).
// An approval resolved before those roles were recorded qualifies only if
// every role its rule allowed then is still allowed: whichever of them the
// approver held, it still qualifies.
func approverQualifies(a *cairn.Approval, required []string) bool {
	if len(a.ResolverRoles) > 0 {
		return slices.ContainsFunc(required, cairn.Principal{Roles: a.ResolverRoles}.Has)
	}
	for _, r := range a.ApproverRoles {
		if !slices.Contains(required, r) {
			return false
		}
	}
	return len(a.ApproverRoles) > 0
}

// approvedWith names the roles an approval was given with, for evidence.
func approvedWith(a *cairn.Approval) []string {
	if len(a.ResolverRoles) > 0 {
		return a.ResolverRoles
	}
	return []string{"one of " + strings.Join(a.ApproverRoles, "|")}
}

// expireApproval turns a due pending approval into expired and its job EXPIRED.
func (s *Service) expireApproval(tx cairn.Tx, tenant, jobID string, now time.Time) error {
	a, err := tx.GetApproval(tenant, jobID)
	if err != nil {
		return err
	}
	if a.Status != cairn.ApprovalPending || a.ExpiresAt == nil || a.ExpiresAt.After(now) {
		return errNothingToDo
	}
	return s.resolve(tx, a, cairn.ResolutionExpired, "cairn", "", now)
}

// resolvedState is the state an approval's resolution moves its job to.
var resolvedState = map[string]string{
	cairn.ResolutionApproved:  cairn.StateQueued,
	cairn.ResolutionRejected:  cairn.StateDenied,
	cairn.ResolutionExpired:   cairn.StateExpired,
	cairn.ResolutionCancelled: cairn.StateCancelled,
}

// resolve records an approval's resolution and moves its job.
func (s *Service) resolve(tx cairn.Tx, a *cairn.Approval, resolution, by, comment string, now time.Time) error {
	j, err := tx.GetJob(a.Tenant, a.JobID)
	if err != nil {
		return err
	}
	a.Status = cairn.ApprovalResolved
	a.Resolution = cairn.Opt(resolution)
	a.ResolvedBy = cairn.Opt(by)
	a.ResolvedComment = cairn.Opt(comment)
	a.ResolvedAt = &now
	e := &cairn.Event{
		Tenant: a.Tenant, Type: cairn.EventApprovalResolved, Timestamp: now, RunID: a.RunID,
		WorkflowStepID: a.WorkflowStepID, JobID: cairn.Opt(a.JobID), Actor: by,
		Decision: a.Decision, PolicyRuleID: string(a.PolicyRuleID), PolicySnapshot: string(a.PolicySnapshot),
		JobHash: a.JobHash, Resolution: resolution, ResolvedBy: by,
		Data: resolvedData(a, comment),
	}
	if err := transition(j, resolvedState[resolution], now); err != nil {
		return err
	}
	if j.State == cairn.StateQueued {
		s.announceQueued(tx, j)
	}
	e.State = j.State
	if err := tx.AppendEvent(e); err != nil {
		return err
	}
	a.ResolutionLedger = e.Ledger
	if err := tx.ResolveApproval(a); err != nil {
		return err
	}
	if err := tx.UpdateJob(j); err != nil {
		return err
	}
	if resolution == cairn.ResolutionCancelled {
		return nil // only the workflow engine cancels, and it moves the run itself
	}
	return s.runJobChanged(tx, j, now)
}

// expireLease returns a job whose lease ran out to the queue.
func (s *Service) expireLease(tx cairn.Tx, tenant, jobID string, now time.Time) error {
	j, err := tx.GetJob(tenant, jobID)
	if err != nil {
		return err
	}
	if j.State != cairn.StateRunning || j.LeaseExpiresAt == nil || j.LeaseExpiresAt.After(now) {
		return errNothingToDo
	}
	lease := j.LeaseID
	j.Attempts++
	j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt = "", "", nil
	to := cairn.StateQueued
	if j.Attempts >= MaxAttempts {
		to = cairn.StateFailed
		j.Error = cairn.Opt("lease expired " + itoa(j.Attempts) + " times")
	}
	if err := transition(j, to, now); err != nil {
		return err
	}
	if to == cairn.StateQueued {
		s.announceQueued(tx, j)
	}
	if err := tx.UpdateJob(j); err != nil {
		return err
	}
	if err := s.appendJob(tx, j, cairn.EventLeaseExpired, "cairn", now, func(e *cairn.Event) {
		e.State = j.State
		e.Data = &cairn.LeaseExpiredData{LeaseID: lease, Attempts: j.Attempts}
	}); err != nil {
		return err
	}
	return s.runJobChanged(tx, j, now)
}
