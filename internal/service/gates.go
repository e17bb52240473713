package service

import (
	"context"
	"slices"

	"github.com/cairnhq/cairn"
)

// VoteGate records an approver's answer to a step's gate. The approver needs
// one of the gate's roles, must not be the principal who started the run,
// must send the job_hash the gate shows, and votes once; a gate opens when
// Quorum distinct approvers approved it, and closes at the first rejection.
// A retry of the same vote returns the run unchanged. Its phases: the
// voter may vote on the gate (votableGate), has not voted yet (priorVote),
// the gate is open (gateOpen), and the engine counts it (castVote).
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
		r, st, err := votableGate(tx, p, runID, stepID)
		if err != nil {
			return err
		}
		if retry, err := priorVote(st.Gate, p.ID, resolution, req.JobHash); err != nil || retry {
			out = r
			return err
		}
		if err := gateOpen(st, stepID); err != nil {
			return err
		}
		out = r
		if expired, err = s.castVote(tx, r, st, p.ID, resolution, req); err != nil {
			return err
		}
		return s.hideGateInputs(tx, p, r)
	})
	if err != nil {
		return nil, err
	}
	if expired {
		return nil, cairn.Conflict(cairn.CodeApprovalExpired, "the gate has expired")
	}
	return out, nil
}

// castVote has the engine count by's vote on the open gate of step st,
// unless the gate's deadline has passed: then it expires the gate, with its
// evidence, and reports expired.
func (s *Service) castVote(tx cairn.Tx, r *cairn.Run, st *cairn.StepState, by, resolution string, req cairn.GateVoteRequest) (expired bool, err error) {
	e, err := s.runEngine(tx, r, s.now())
	if err != nil {
		return false, err
	}
	if g := st.Gate; g.ExpiresAt != nil && !e.now.Before(*g.ExpiresAt) {
		if err := e.tick(); err != nil {
			return false, err
		}
		return true, e.advanceAndSave()
	}
	if req.JobHash != st.Gate.JobHash {
		return false, cairn.Conflict(cairn.CodeJobHashMismatch, "job_hash does not match the job the gate releases")
	}
	if err := e.vote(e.def.Step(st.StepID), st, by, resolution, req.Comment); err != nil {
		return false, err
	}
	return false, e.advanceAndSave()
}

// votableGate reads the run and the step whose gate p would vote on: p
// needs one of the gate's roles and must not have started or rerun the run.
func votableGate(tx cairn.Tx, p cairn.Principal, runID, stepID string) (*cairn.Run, *cairn.StepState, error) {
	r, err := tx.GetRun(p.Tenant, runID)
	if err != nil {
		return nil, nil, err
	}
	st := r.Step(stepID)
	if !r.IsWorkflow() || st == nil || st.Gate == nil {
		return nil, nil, cairn.NotFound("run %q has no gate on step %q", runID, truncate(stepID, 64))
	}
	if !slices.ContainsFunc(st.Gate.ApproverRoles, p.Has) {
		return nil, nil, cairn.Forbidden(cairn.CodeRoleNotAllowed, "the gate allows approvers with roles %v", st.Gate.ApproverRoles)
	}
	if self, err := requestedBy(tx, r, p.ID); err != nil {
		return nil, nil, err
	} else if self {
		return nil, nil, cairn.Forbidden(cairn.CodeSelfApprovalForbidden, "a principal who started or reran a run (or a run it reruns) cannot approve its gates")
	}
	return r, st, nil
}

// priorVote looks for a vote of by on g: the same vote again is a retry
// (answered with the run as it is); any other is refused.
func priorVote(g *cairn.GateState, by, resolution, jobHash string) (retry bool, err error) {
	for _, v := range g.Votes {
		if !samePrincipal(v.By, by) {
			continue
		}
		if v.By != by {
			return false, cairn.Conflict(cairn.CodeAlreadyVoted, "%s already %s this gate", v.By, v.Resolution)
		}
		if v.Resolution == resolution && jobHash == g.JobHash {
			return true, nil // a retry of this approver's vote
		}
		return false, cairn.Conflict(cairn.CodeAlreadyVoted, "%s already %s this gate", by, v.Resolution)
	}
	return false, nil
}

// gateOpen refuses a vote on a gate that expired or is no longer pending.
func gateOpen(st *cairn.StepState, stepID string) error {
	g := st.Gate
	if g.Status == cairn.GateExpired {
		return cairn.Conflict(cairn.CodeApprovalExpired, "the gate expired at %s", cairn.Timestamp(*g.ExpiresAt))
	}
	if g.Status != cairn.GatePending || st.Status != cairn.StepWaitingApproval {
		return cairn.Conflict(cairn.CodeGateNotPending, "the gate on step %q is %s", stepID, g.Status)
	}
	return nil
}
