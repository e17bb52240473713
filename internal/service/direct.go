package service

import (
	"context"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
)

// leaseNamed leases the one job req.JobID names, if it is QUEUED, matches
// the worker's action globs, and is either unbound or bound to this
// principal as its executor. Integrations that run an agent's action
// themselves lease their own jobs this way.
func (s *Service) leaseNamed(ctx context.Context, p cairn.Principal, req cairn.LeaseRequest, globs []string, leaseFor time.Duration) ([]*cairn.LeasedJob, error) {
	var out []*cairn.LeasedJob
	err := s.update(ctx, func(tx cairn.Tx) error {
		out = out[:0]
		j, err := tx.GetJob(p.Tenant, req.JobID)
		if cairn.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if j.State != cairn.StateQueued || !policy.MatchAction(globs, j.Action) {
			return nil
		}
		if j.Executor != "" && j.Executor != p.ID {
			return nil
		}
		pol, err := s.inForce(tx)
		if err != nil {
			return err
		}
		payload, err := tx.GetPayload(j.Tenant, j.ContextPtr)
		if err != nil {
			return err
		}
		lj, err := s.dispatch(ctx, tx, pol, p, req.WorkerID, j, payload, leaseFor, s.now())
		if lj != nil {
			out = append(out, lj)
		}
		return err
	})
	return out, err
}

// Cancel ends an open job before it completes: a pending approval is
// resolved as cancelled, a queued job never runs, and a running job's lease
// stops counting (its worker's complete gets 409 lease_invalid). The
// submitter may cancel its own job; an admin may cancel any job of its
// tenant; the executor a job is bound to may cancel it. A workflow step's
// job belongs to its run's engine and is cancelled through the run.
func (s *Service) Cancel(ctx context.Context, p cairn.Principal, jobID string, req cairn.CancelRequest) (*cairn.Job, error) {
	if err := validID("job_id", jobID); err != nil {
		return nil, err
	}
	if err := validText("reason", req.Reason, 1024); err != nil {
		return nil, err
	}
	reason := req.Reason
	if reason == "" {
		reason = "cancelled by " + p.ID
	}
	var out *cairn.Job
	err := s.update(ctx, func(tx cairn.Tx) error {
		j, err := tx.GetJob(p.Tenant, jobID)
		if err != nil {
			return err
		}
		if !canCancel(p, j) {
			return cairn.NotFound("job %q not found", jobID)
		}
		if cairn.IsFinalState(j.State) {
			return cairn.Conflict(cairn.CodeJobNotOpen, "job %q is already %s", jobID, j.State)
		}
		if j.RunID != "" && j.WorkflowStepID != "" {
			r, err := tx.GetRun(j.Tenant, string(j.RunID))
			if err != nil {
				return err
			}
			if r.IsWorkflow() {
				return cairn.Conflict(cairn.CodeJobNotOpen, "job %q is a step of workflow run %q; cancel the run instead", jobID, r.RunID)
			}
		}
		now := s.now()
		if j.State == cairn.StatePendingApproval {
			a, err := tx.GetApproval(j.Tenant, j.JobID)
			if err != nil {
				return err
			}
			if err := s.resolveCancelled(tx, a, p.ID, reason, now); err != nil {
				return err
			}
		} else {
			if err := s.cancelOpen(tx, j, p.ID, reason, now); err != nil {
				return err
			}
		}
		out, err = tx.GetJob(p.Tenant, jobID)
		return err
	})
	return out, err
}

// canCancel: the submitter, the executor it is bound to, or an admin.
func canCancel(p cairn.Principal, j *cairn.Job) bool {
	switch {
	case p.Has(cairn.RoleAdmin):
		return true
	case p.Has(cairn.RoleAgent) && j.SubmittedBy == p.ID:
		return true
	case j.Executor != "" && j.Executor == p.ID:
		return true
	}
	return false
}

// resolveCancelled resolves a pending approval as cancelled and then lets
// the job's run notice that it ended.
func (s *Service) resolveCancelled(tx cairn.Tx, a *cairn.Approval, by, reason string, now time.Time) error {
	if err := s.resolve(tx, a, cairn.ResolutionCancelled, by, reason, now); err != nil {
		return err
	}
	j, err := tx.GetJob(a.Tenant, a.JobID)
	if err != nil {
		return err
	}
	return s.runJobChanged(tx, j, now)
}

// cancelOpen makes a QUEUED or RUNNING job CANCELLED, with its evidence.
func (s *Service) cancelOpen(tx cairn.Tx, j *cairn.Job, by, reason string, now time.Time) error {
	lease := j.LeaseID
	if err := transition(j, cairn.StateCancelled, now); err != nil {
		return err
	}
	j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt = "", "", nil
	if err := tx.UpdateJob(j); err != nil {
		return err
	}
	if err := s.appendJob(tx, j, cairn.EventJobStateChanged, by, now, func(e *cairn.Event) {
		e.State = j.State
		e.Data = &cairn.JobStateChangedData{Reason: reason, LeaseID: string(lease)}
	}); err != nil {
		return err
	}
	return s.runJobChanged(tx, j, now)
}
