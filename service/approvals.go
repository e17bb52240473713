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
		now := cairn.Now()
		a, err := tx.GetApproval(p.Tenant, jobID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(a.ApproverRoles, p.Has) {
			return cairn.Forbidden(cairn.CodeRoleNotAllowed, "rule %s allows approvers with roles %v", a.PolicyRuleID, a.ApproverRoles)
		}
		if samePrincipal(a.RequestedBy, p.ID) {
			return cairn.Forbidden(cairn.CodeSelfApprovalForbidden, "the submitter of a job cannot resolve its approval")
		}
		if a.RunID != "" {
			// A workflow run's jobs are submitted for its starter; whoever
			// started or reran a run of its chain cannot approve them either.
			r, err := tx.GetRun(p.Tenant, string(a.RunID))
			if err != nil && !cairn.IsNotFound(err) {
				return err
			}
			if err == nil {
				if self, err := requestedBy(tx, r, p.ID); err != nil {
					return err
				} else if self {
					return cairn.Forbidden(cairn.CodeSelfApprovalForbidden, "a principal who started or reran the job's run cannot resolve its approval")
				}
			}
		}
		if a.Status != cairn.ApprovalPending {
			if string(a.ResolvedBy) == p.ID && string(a.Resolution) == resolution && req.JobHash == a.JobHash {
				// A retry of this approver's own resolution (its answer was
				// lost): answer it again; nothing new is recorded.
				out = a
				return nil
			}
			if a.Resolution == cairn.ResolutionExpired {
				return cairn.Conflict(cairn.CodeApprovalExpired, "the approval expired at %s", cairn.Timestamp(*a.ExpiresAt))
			}
			return cairn.Conflict(cairn.CodeApprovalAlreadyResolved, "the approval was already %s by %s", a.Resolution, a.ResolvedBy)
		}
		if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
			// Expire it now, with its evidence, then refuse.
			if err := s.resolve(tx, a, cairn.ResolutionExpired, "cairn", "", now); err != nil {
				return err
			}
			expired = true
			return nil
		}
		if req.JobHash != a.JobHash {
			return cairn.Conflict(cairn.CodeJobHashMismatch, "job_hash does not match the job awaiting approval")
		}
		// The approver's roles now: dispatch checks them against the rule
		// in force then, which may have been tightened meanwhile.
		a.ResolverRoles = slices.Clone(p.Roles)
		if err := s.resolve(tx, a, resolution, p.ID, req.Comment, now); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	if expired {
		return nil, cairn.Conflict(cairn.CodeApprovalExpired, "the approval has expired")
	}
	return out, nil
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
