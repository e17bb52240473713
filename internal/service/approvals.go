package service

import (
	"context"
	"slices"
	"strings"

	"github.com/cairnhq/cairn"
)

// Resolve approves or rejects the pending approval of a job. The approver
// must send the job_hash it reviewed, hold a role the deciding rule allows,
// and not be the submitter. It is safe to retry: the same approver sending
// the same resolution and job_hash again gets the recorded approval back.
// Its phases: p may resolve the approval (resolvableApproval), a resolved
// one is answered or refused (resolvedBefore), and a pending one expires
// at its deadline or is resolved.
func (s *Service) Resolve(ctx context.Context, p cairn.Principal, jobID string, approve bool, req cairn.ResolveRequest) (*cairn.Approval, error) {
	if err := validID("job_id", jobID); err != nil {
		return nil, err
	}
	resolution, err := validVerdict(approve, req.JobHash, "you reviewed", req.Comment)
	if err != nil {
		return nil, err
	}
	var out *cairn.Approval
	var expired bool
	err = s.update(ctx, func(tx cairn.Tx) error {
		now := s.now()
		a, err := resolvableApproval(tx, p, jobID)
		if err != nil {
			return err
		}
		if a.Status != cairn.ApprovalPending {
			out = a
			return resolvedBefore(a, p.ID, resolution, req.JobHash)
		}
		if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
			// Expire it now, with its evidence, then refuse.
			expired = true
			return s.resolve(tx, a, cairn.ResolutionExpired, "cairn", "", now)
		}
		if req.JobHash != a.JobHash {
			return cairn.Conflict(cairn.CodeJobHashMismatch, "job_hash does not match the job awaiting approval")
		}
		// The approver's roles now: dispatch checks them against the rule
		// in force then, which may have been tightened meanwhile.
		a.ResolverRoles = slices.Clone(p.Roles)
		out = a
		return s.resolve(tx, a, resolution, p.ID, req.Comment, now)
	})
	if err != nil {
		return nil, err
	}
	if expired {
		return nil, cairn.Conflict(cairn.CodeApprovalExpired, "the approval has expired")
	}
	return out, nil
}

// resolvableApproval reads the approval of job jobID that p would resolve:
// p needs a role the deciding rule allows and must be neither the job's
// submitter nor a principal who started or reran the job's run.
func resolvableApproval(tx cairn.Tx, p cairn.Principal, jobID string) (*cairn.Approval, error) {
	a, err := tx.GetApproval(p.Tenant, jobID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(a.ApproverRoles, p.Has) {
		return nil, cairn.Forbidden(cairn.CodeRoleNotAllowed, "rule %s allows approvers with roles %v", a.PolicyRuleID, a.ApproverRoles)
	}
	if samePrincipal(a.RequestedBy, p.ID) {
		return nil, cairn.Forbidden(cairn.CodeSelfApprovalForbidden, "the submitter of a job cannot resolve its approval")
	}
	if a.RunID == "" {
		return a, nil
	}
	// A workflow run's jobs are submitted for its starter; whoever started
	// or reran a run of its chain cannot approve them either.
	r, err := tx.GetRun(p.Tenant, string(a.RunID))
	if cairn.IsNotFound(err) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	if self, err := requestedBy(tx, r, p.ID); err != nil {
		return nil, err
	} else if self {
		return nil, cairn.Forbidden(cairn.CodeSelfApprovalForbidden, "a principal who started or reran the job's run cannot resolve its approval")
	}
	return a, nil
}

// resolvedBefore answers a resolution of an approval that is no longer
// pending: a retry of by's own resolution (its answer was lost) is
// answered again, with nothing new recorded (nil); anything else is refused.
func resolvedBefore(a *cairn.Approval, by, resolution, jobHash string) error {
	if string(a.ResolvedBy) == by && string(a.Resolution) == resolution && jobHash == a.JobHash {
		return nil
	}
	if a.Resolution == cairn.ResolutionExpired {
		return cairn.Conflict(cairn.CodeApprovalExpired, "the approval expired at %s", cairn.Timestamp(*a.ExpiresAt))
	}
	return cairn.Conflict(cairn.CodeApprovalAlreadyResolved, "the approval was already %s by %s", a.Resolution, a.ResolvedBy)
}

// samePrincipal reports whether two principal ids name the same principal.
// Ids are compared without regard to case: a key made for "Agent-7" must not
// pass for a second person beside "agent-7" (new keys cannot differ from an
// existing principal by case only; see CreateKey).
func samePrincipal(a, b string) bool { return strings.EqualFold(a, b) }

// validVerdict checks an approver's answer (the job_hash it reviewed and a
// comment) and returns the resolution it records.
func validVerdict(approve bool, jobHash, which, comment string) (string, error) {
	if jobHash == "" {
		return "", cairn.Invalid("job_hash", "is required: send the job_hash %s", which)
	}
	if !isLowerHex64(jobHash) {
		return "", cairn.Invalid("job_hash", "must be 64 lowercase hex characters")
	}
	if err := validText("comment", comment, 4096); err != nil {
		return "", err
	}
	if approve {
		return cairn.ResolutionApproved, nil
	}
	return cairn.ResolutionRejected, nil
}
