package service

import (
	"context"

	"github.com/cairnhq/cairn"
)

// Who may read what:
//   - auditor, admin, approver: every job, approval and run of their tenant;
//   - agent: the jobs it submitted and the runs it started;
//   - worker, policy_admin: no job reads.
// A job the caller may not see is reported as not found, so ids do not leak.

func canReadAll(p cairn.Principal) bool {
	return p.HasAny(cairn.RoleAuditor, cairn.RoleApprover)
}

func (s *Service) visibleJob(tx cairn.ReadTx, p cairn.Principal, jobID string) (*cairn.Job, error) {
	if err := validID("job_id", jobID); err != nil {
		return nil, err
	}
	if !canReadAll(p) && !p.Has(cairn.RoleAgent) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading jobs needs the auditor, approver or agent role")
	}
	j, err := tx.GetJob(p.Tenant, jobID)
	if err != nil {
		if canReadAll(p) {
			err = prunedJobError(tx, p.Tenant, jobID, err)
		}
		return nil, err
	}
	if !canReadAll(p) && j.SubmittedBy != p.ID {
		return nil, cairn.NotFound("job %q not found", jobID)
	}
	return j, nil
}

// GetJob is audit query 1.
func (s *Service) GetJob(ctx context.Context, p cairn.Principal, jobID string) (*cairn.Job, error) {
	var j *cairn.Job
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		j, err = s.visibleJob(tx, p, jobID)
		return err
	})
	return jobView(p, j), err
}

// ListJobs lists jobs newest first. Agents see their own.
func (s *Service) ListJobs(ctx context.Context, p cairn.Principal, f cairn.JobFilter) ([]*cairn.Job, error) {
	if !canReadAll(p) {
		if !p.Has(cairn.RoleAgent) {
			return nil, cairn.Forbidden(cairn.EForbidden, "listing jobs needs the auditor, approver or agent role")
		}
		if f.SubmittedBy != "" && f.SubmittedBy != p.ID {
			return []*cairn.Job{}, nil
		}
		f.SubmittedBy = p.ID
	}
	var out []*cairn.Job
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListJobs(p.Tenant, f)
		return err
	})
	jobsView(p, out)
	return out, err
}

// Decisions is audit query 2.
func (s *Service) Decisions(ctx context.Context, p cairn.Principal, jobID string) ([]*cairn.Decision, error) {
	var out []*cairn.Decision
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		if _, err := s.visibleJob(tx, p, jobID); err != nil {
			return err
		}
		var err error
		out, err = tx.ListDecisions(p.Tenant, jobID)
		return err
	})
	return out, err
}

// ListApprovals is audit query 3.
func (s *Service) ListApprovals(ctx context.Context, p cairn.Principal, f cairn.ApprovalFilter) ([]*cairn.Approval, error) {
	if !canReadAll(p) {
		return nil, cairn.Forbidden(cairn.EForbidden, "the approval queue needs the approver or auditor role")
	}
	var out []*cairn.Approval
	f.RawOnly = true
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListApprovals(p.Tenant, f)
		return err
	})
	return out, err
}

// MaxRunJobs is how many of a run's jobs GetRun returns (the first, in
// submission order); GET /jobs?run_id= pages through all of them.
const MaxRunJobs = 10000

// GetRun returns a run and its first MaxRunJobs jobs, with JobsTruncated
// set when it has more.
func (s *Service) GetRun(ctx context.Context, p cairn.Principal, runID string) (*cairn.Run, error) {
	if err := validID("run_id", runID); err != nil {
		return nil, err
	}
	var r *cairn.Run
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		if r, err = s.visibleRun(tx, p, runID); err != nil {
			return err
		}
		if r.Jobs, err = tx.ListRunJobs(p.Tenant, runID, MaxRunJobs+1); err != nil {
			return err
		}
		if len(r.Jobs) > MaxRunJobs {
			r.Jobs, r.JobsTruncated = r.Jobs[:MaxRunJobs], true
		}
		jobsView(p, r.Jobs)
		return s.hideGateInputs(tx, p, r)
	})
	return r, err
}

func (s *Service) visibleRun(tx cairn.ReadTx, p cairn.Principal, runID string) (*cairn.Run, error) {
	if !canReadAll(p) && !p.Has(cairn.RoleAgent) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading runs needs the auditor, approver or agent role")
	}
	r, err := tx.GetRun(p.Tenant, runID)
	if err != nil {
		return nil, err
	}
	if !canReadAll(p) && r.StartedBy != p.ID {
		return nil, cairn.NotFound("run %q not found", runID)
	}
	return r, nil
}

// Timeline is audit query 4: the run's events oldest first after seq.
// A pruned event is listed in its place as a marker (Event.Pruned).
func (s *Service) Timeline(ctx context.Context, p cairn.Principal, runID string, page cairn.Page) ([]*cairn.Event, error) {
	if err := validID("run_id", runID); err != nil {
		return nil, err
	}
	var out []*cairn.Event
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		if _, err := s.visibleRun(tx, p, runID); err != nil {
			return err
		}
		var err error
		if out, err = tx.ListEvents(p.Tenant, cairn.EventFilter{RunID: runID, Page: page, RawOnly: true, WithPruned: true}); err != nil {
			return err
		}
		return eventsView(tx, p, out, nil)
	})
	return out, err
}

// Payload returns a job's context or result payload. A QUARANTINEd result is
// withheld from everyone but auditor and admin; a REDACTed one is served
// redacted unless an auditor or admin asks for the original.
func (s *Service) Payload(ctx context.Context, p cairn.Principal, jobID string, result, original bool) (*cairn.Payload, error) {
	var out *cairn.Payload
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		j, err := s.visibleJob(tx, p, jobID)
		if err != nil {
			return err
		}
		if err := s.payloadAccess(tx, p); err != nil {
			return err
		}
		if !result {
			out, err = tx.GetPayload(p.Tenant, j.ContextPtr)
			return err
		}
		if j.ResultPtr == "" {
			return cairn.NotFound("job %q has no result", jobID)
		}
		privileged := p.Has(cairn.RoleAuditor)
		if j.OutputSafety != nil {
			switch j.OutputSafety.Decision {
			case cairn.OutputQuarantine:
				if !privileged {
					return cairn.Forbidden(cairn.CodeOutputQuarantined, "the result of job %q is quarantined by output rule %s", jobID, j.OutputSafety.RuleID)
				}
			case cairn.OutputRedact:
				if !(privileged && original) {
					out, err = tx.GetPayload(p.Tenant, redactedPtr(jobID))
					return err
				}
			}
		}
		out, err = tx.GetPayload(p.Tenant, string(j.ResultPtr))
		return err
	})
	return out, err
}

// Evidence joins the decision record for a job: the seed's decision-record.json.
func (s *Service) Evidence(ctx context.Context, p cairn.Principal, jobID string) (*cairn.DecisionRecord, error) {
	var rec *cairn.DecisionRecord
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		j, err := s.visibleJob(tx, p, jobID)
		if err != nil {
			return err
		}
		decisions, err := tx.ListDecisions(p.Tenant, jobID)
		if err != nil {
			return err
		}
		events, err := tx.ListEvents(p.Tenant, cairn.EventFilter{JobID: jobID, Page: cairn.Page{Limit: 10000}})
		if err != nil {
			return err
		}
		if err := eventsView(tx, p, events, j); err != nil {
			return err
		}
		rec = &cairn.DecisionRecord{
			RunID: j.RunID, WorkflowStepID: j.WorkflowStepID, JobID: j.JobID, TraceID: j.TraceID,
			Decision: j.Decision, PolicyRuleID: j.PolicyRuleID, PolicyReason: j.PolicyReason,
			PolicySnapshot: j.PolicySnapshot, JobHash: j.JobHash, ApprovalRequired: j.ApprovalRequired,
			ContextPtr: j.ContextPtr, ResultPtr: j.ResultPtr, Timestamp: j.UpdatedAt,
			State: j.State, Action: j.Action, Resource: j.Resource, Submitted: j.SubmittedBy,
			Decisions: decisions, Events: events,
		}
		if j.OutputSafety != nil {
			rec.OutputSafety = &cairn.RecordOutputSafety{Decision: j.OutputSafety.Decision, RuleID: j.OutputSafety.RuleID, Findings: j.OutputSafety.Findings}
		}
		a, err := tx.GetApproval(p.Tenant, jobID)
		switch {
		case err == nil:
			rec.Approval = a
			// For a job that needed approval the record's decision is the one
			// that required it, and the resolution tells the outcome.
			rec.Decision = a.Decision
			rec.PolicyRuleID = a.PolicyRuleID
			rec.PolicyReason = a.PolicyReason
			rec.PolicySnapshot = a.PolicySnapshot
			rec.ApprovalRequired = true
			rec.Resolution = a.Resolution
			rec.ResolvedBy = a.ResolvedBy
			rec.ResolvedComment = a.ResolvedComment
		case !cairn.IsNotFound(err):
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	refs := make([]*cairn.LedgerRef, 0, len(rec.Events))
	for _, e := range rec.Events {
		refs = append(refs, e.Ledger)
	}
	if rec.Proof, err = s.proveEvents(ctx, p.Tenant, refs); err != nil {
		return nil, err
	}
	return rec, nil
}

// LedgerEntries pages through a tenant's ledger (auditor only).
func (s *Service) LedgerEntries(ctx context.Context, p cairn.Principal, from uint64, limit int) ([]*cairn.LedgerEntry, error) {
	if !p.Has(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "the ledger needs the auditor role")
	}
	var out []*cairn.LedgerEntry
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.LedgerEntries(p.Tenant, from, limit)
		return err
	})
	return out, err
}
