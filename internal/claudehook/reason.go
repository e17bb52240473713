package claudehook

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/cairnhq/cairn"
)

// decisionText names a job's governing decision, its rule and the rule's
// reason: `Cairn DENY by rule no-fetch ("Nothing is fetched from there")`.
func decisionText(j *cairn.Job) string {
	s := "Cairn " + j.Decision
	if rule := string(j.PolicyRuleID); rule != "" {
		s += " by rule " + rule
	}
	if j.PolicyReason != "" {
		s += fmt.Sprintf(" (%q)", clip(j.PolicyReason, 300))
	}
	return s
}

// approval reads a job's approval from its decision record; nil when there
// is none or it cannot be read (the reasons then say less).
func (h *hook) approval(ctx context.Context, jobID string) *cairn.Approval {
	cctx, cancel := h.call(ctx)
	defer cancel()
	rec, err := h.c.GetEvidence(cctx, jobID)
	if err != nil {
		return nil
	}
	return rec.Approval
}

// approvedBy is ", approved by <who>" for a job that needed approval.
func (h *hook) approvedBy(ctx context.Context, j *cairn.Job) string {
	if !j.ApprovalRequired {
		return ""
	}
	a := h.approval(ctx, j.JobID)
	if a == nil || a.ResolvedBy == "" {
		return ", approved"
	}
	return ", approved by " + string(a.ResolvedBy) + comment(a)
}

func comment(a *cairn.Approval) string {
	if a.ResolvedComment == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", clip(string(a.ResolvedComment), 200))
}

// whoMayApprove says which roles may approve a job, and that its submitter
// (the hook's own principal) may not.
func (h *hook) whoMayApprove(ctx context.Context, j *cairn.Job) string {
	roles := "an approver"
	if a := h.approval(ctx, j.JobID); a != nil && len(a.ApproverRoles) > 0 {
		rs := append([]string(nil), a.ApproverRoles...)
		sort.Strings(rs)
		roles = "a holder of role " + strings.Join(rs, " or ")
	}
	return fmt.Sprintf("%s may approve; %s, the submitter, may not", roles, j.SubmittedBy)
}

// approvalLink is the job's page in the console.
func (h *hook) approvalLink(jobID string) string {
	return strings.TrimRight(h.cfg.Server, "/") + "/approvals/" + url.PathEscape(jobID)
}

// finalReason explains why a job in a final state cannot run.
func (h *hook) finalReason(ctx context.Context, j *cairn.Job, atDispatch bool) string {
	switch j.State {
	case cairn.StateDenied:
		return h.deniedReason(ctx, j, atDispatch)
	case cairn.StateExpired:
		return fmt.Sprintf("%s; the approval of job %s expired before anyone resolved it. Nothing was allowed.", decisionText(j), j.JobID)
	case cairn.StateSucceeded, cairn.StateFailed:
		return fmt.Sprintf("Cairn job %s already ran and is %s; a tool use runs once. Nothing was allowed.", j.JobID, j.State)
	}
	return fmt.Sprintf("Cairn job %s is %s; nothing was allowed.", j.JobID, j.State)
}

// deniedReason explains a DENIED job: a policy DENY (at submit or at
// dispatch) or an approval that was rejected or no longer counts.
func (h *hook) deniedReason(ctx context.Context, j *cairn.Job, atDispatch bool) string {
	when := ""
	if atDispatch {
		when = " at dispatch (the policy re-decided it)"
	}
	if j.Decision == cairn.RequireApproval {
		a := h.approval(ctx, j.JobID)
		if a != nil && a.Resolution == cairn.ResolutionApproved {
			return fmt.Sprintf("%s; job %s was approved by %s, but at dispatch the approval no longer counted. Nothing was allowed.", decisionText(j), j.JobID, a.ResolvedBy)
		}
		if a != nil && a.Resolution != "" {
			return fmt.Sprintf("%s; the approval of job %s was %s by %s%s. Nothing was allowed.", decisionText(j), j.JobID, a.Resolution, a.ResolvedBy, comment(a))
		}
	}
	return fmt.Sprintf("%s%s; job %s. Nothing was allowed.", decisionText(j), when, j.JobID)
}
