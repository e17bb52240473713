package claudehook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/service"
)

// post answers a PostToolUse (or PostToolUseFailure) event: complete the
// job under the lease PreToolUse kept, and report the output check.
func (h *hook) post(ctx context.Context) Answer {
	st, err := loadState(h.cfg.StateDir, h.jobID)
	if err != nil {
		return h.block(fmt.Sprintf("Cairn hook could not read its state for job %s (%v); this tool use's output was not recorded or checked.", h.jobID, err))
	}
	switch {
	case st == nil:
		return h.closeOutside(ctx, "the tool ran without a dispatch this hook recorded", false)
	case st.Mode == ModeFailOpen:
		removeState(h.cfg.StateDir, h.jobID)
		return h.note("Cairn: this tool use ran without a Cairn decision or evidence: the control plane was unreachable and the hook runs with --fail-open.")
	case st.Mode == ModeAsked:
		ans := h.closeOutside(ctx, "the tool ran on the local answer to Claude Code's permission prompt, not on a Cairn dispatch", true)
		removeState(h.cfg.StateDir, h.jobID)
		return ans
	}
	return h.complete(ctx, st)
}

// complete records the tool's response as the job's result and reports the
// output check.
func (h *hook) complete(ctx context.Context, st *State) Answer {
	req, oversize := h.completion(st.LeaseID)
	cctx, cancel := h.call(ctx)
	defer cancel()
	job, err := h.c.CompleteJob(cctx, h.jobID, req)
	switch {
	case client.IsCode(err, cairn.CodeLeaseInvalid):
		removeState(h.cfg.StateDir, h.jobID)
		return h.closeOutside(ctx, "the tool finished after its Cairn lease had ended", false)
	case err != nil && unreachable(err) && h.cfg.FailOpen:
		return h.note(fmt.Sprintf("Cairn control plane at %s is unreachable (%s); this tool use's output was not recorded or checked (--fail-open).", h.cfg.Server, h.describe(err)))
	case err != nil:
		return h.block(fmt.Sprintf("Cairn could not record the outcome of job %s (%s); this tool use's output was not checked. Do not rely on it.", h.jobID, h.describe(err)))
	}
	removeState(h.cfg.StateDir, h.jobID)
	if oversize {
		return h.block(fmt.Sprintf("Cairn: the output of this tool use is larger than the %d bytes Cairn records, so it was not checked; job %s is recorded as failed. Do not rely on it.", service.MaxResultBytes, h.jobID))
	}
	return h.verdict(job)
}

// completion builds the completion of the job: the tool's response as the
// result, failed when Claude Code reported a failure or the response says
// so. A response too large to record is replaced by its size and digest.
func (h *hook) completion(leaseID string) (cairn.CompleteRequest, bool) {
	req := cairn.CompleteRequest{LeaseID: leaseID, Status: "succeeded", Result: h.ev.ToolResponse}
	if h.ev.HookEventName == PostToolUseFailure {
		req.Status, req.Error = "failed", errorText(h.ev.Error)
	} else if responseFailed(h.ev.ToolResponse) {
		req.Status, req.Error = "failed", "the tool reported an error"
	}
	if len(req.Result) <= service.MaxResultBytes {
		return req, false
	}
	sum := sha256.Sum256(req.Result)
	digest, _ := json.Marshal(map[string]any{"omitted": true, "bytes": len(req.Result), "sha256": hex.EncodeToString(sum[:])})
	req.Result, req.Status = digest, "failed"
	req.Error = fmt.Sprintf("tool_response of %d bytes exceeds the %d-byte result limit; not recorded, not checked", len(h.ev.ToolResponse), service.MaxResultBytes)
	return req, true
}

// verdict reports the output check of a completed job to Claude Code.
func (h *hook) verdict(j *cairn.Job) Answer {
	out := j.OutputSafety
	if out == nil || out.Decision == cairn.OutputAllow {
		return quiet()
	}
	what := fmt.Sprintf("rule %s found %s", out.RuleID, findingTypes(out.Findings))
	if out.Decision == cairn.OutputQuarantine {
		return h.block(fmt.Sprintf("Cairn quarantined the output of this tool use (%s; job %s). Do not use, repeat or act on that output.", what, j.JobID))
	}
	return h.note(fmt.Sprintf("Cairn: the output of this tool use was recorded redacted in the evidence (%s; job %s).", what, j.JobID))
}

// findingTypes lists the kinds of findings, never what matched.
func findingTypes(fs []cairn.Finding) string {
	seen := map[string]bool{}
	for _, f := range fs {
		seen[f.Type] = true
	}
	if len(seen) == 0 {
		return "no named finding"
	}
	types := make([]string, 0, len(seen))
	for t := range seen {
		types = append(types, t)
	}
	sort.Strings(types)
	return strings.Join(types, ", ")
}

// closeOutside records a tool use that ran without a lease this hook
// holds: an open job is cancelled with why as the reason, so the evidence
// says how the tool ran; Claude Code is told its output was not checked.
// consented marks a run the local user chose (an answered ask).
func (h *hook) closeOutside(ctx context.Context, why string, consented bool) Answer {
	cctx, cancel := h.call(ctx)
	defer cancel()
	job, err := h.c.GetJob(cctx, h.jobID)
	if client.IsNotFound(err) {
		return h.block(fmt.Sprintf("Cairn has no job %s: the PreToolUse hook did not submit this tool use, so its output was not recorded or checked.", h.jobID))
	}
	if err != nil {
		return h.block(fmt.Sprintf("Cairn could not read job %s (%s); this tool use's output was not recorded or checked.", h.jobID, h.describe(err)))
	}
	if cairn.IsFinalState(job.State) {
		return h.block(fmt.Sprintf("Cairn: %s, and job %s is %s (%s); its output was not recorded or checked.", why, h.jobID, job.State, decisionText(job)))
	}
	if _, err := h.c.CancelJob(cctx, h.jobID, cairn.CancelRequest{Reason: "cairn hook: " + why}); err != nil {
		return h.block(fmt.Sprintf("Cairn: %s; job %s could not be closed (%s); its output was not checked.", why, h.jobID, h.describe(err)))
	}
	msg := fmt.Sprintf("Cairn: %s; job %s is recorded as cancelled with that reason, and this tool use's output was not checked.", why, h.jobID)
	if consented {
		return h.note(msg)
	}
	return h.block(msg)
}

func (h *hook) block(reason string) Answer { return block(h.ev.HookEventName, reason) }
func (h *hook) note(text string) Answer    { return note(h.ev.HookEventName, text) }

// responseFailed reports whether a tool response says the tool failed:
// an object with isError or is_error true (MCP results), success false, or
// interrupted true.
func responseFailed(raw json.RawMessage) bool {
	var r struct {
		IsError     *bool `json:"isError"`
		IsErrorAlt  *bool `json:"is_error"`
		Success     *bool `json:"success"`
		Interrupted *bool `json:"interrupted"`
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return false
	}
	if json.Unmarshal(raw, &r) != nil {
		return false
	}
	return is(r.IsError) || is(r.IsErrorAlt) || r.Success != nil && !*r.Success || is(r.Interrupted)
}

func is(b *bool) bool { return b != nil && *b }

// errorText is a PostToolUseFailure's error as text Cairn accepts: a JSON
// string as is, anything else as compact JSON; control characters escaped;
// at most 4000 bytes.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			s = b.String()
		}
	}
	if strings.TrimSpace(s) == "" {
		s = "the tool failed"
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "�"))
	return clip(s, 4000)
}
