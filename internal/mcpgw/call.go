package mcpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callTool is one tools/call: one Cairn job, decided before anything
// runs, gated by approval where policy says so, leased by the gateway as
// its executor (the dispatch re-decision and its receipt), run upstream,
// completed with the result, and answered with what the output check
// allows. Every failure to reach Cairn refuses the call: nothing runs
// without a recorded decision, and no result is returned without its
// evidence.
func (g *Gateway) callTool(ctx context.Context, s *session, req *mcp.CallToolRequest, u *upstream, tool string) (*mcp.CallToolResult, error) {
	ctx, end := tracing.StartTool(ctx, req.Params.Meta, req.Params.Name, s.sessionID(), u.cfg.Name)
	who, err := g.identity(ctx, req)
	if err != nil {
		end(true, "")
		return refusal(nil, "%v", err), nil
	}
	c := &call{g: g, s: s, req: req, u: u, tool: tool, who: who, args: req.Params.Arguments}
	res := c.run(ctx)
	end(res.IsError, c.jobID())
	return res, nil
}

// call carries one tools/call through the loop.
type call struct {
	g    *Gateway
	s    *session
	req  *mcp.CallToolRequest
	u    *upstream
	tool string
	who  *identity
	args json.RawMessage
	key  string // resume key: principal, upstream, tool, canonical arguments
	job  *cairn.Job
	// leased is the lease taken with the submit, when it was.
	leased *cairn.LeasedJob
	// resumedEnded: the identical call's pending approval was since
	// rejected, expired or cancelled.
	resumedEnded bool
}

func (c *call) action() string { return "mcp." + c.u.cfg.Name + "." + c.tool }

func (c *call) run(ctx context.Context) *mcp.CallToolResult {
	resource, err := c.u.cfg.resourceFor(c.args)
	if err != nil {
		return refusal(nil, "%v; nothing was run", err)
	}
	c.key, err = resumeKey(c.who.principal, c.u.cfg.Name, c.tool, c.args)
	if err != nil {
		return refusal(nil, "the arguments are not valid JSON (%v); nothing was run", err)
	}
	if err := c.submitOrResume(ctx, resource); err != nil {
		if ctx.Err() != nil && c.job != nil {
			// The submit may have been recorded before the client gave up.
			c.cancel("the MCP client cancelled the call (notifications/cancelled) before it ran")
			return refusal(c.job, "cancelled")
		}
		c.job = nil // no job was recorded
		return c.apiFailure(err, "nothing was run")
	}
	if c.resumedEnded {
		return c.resolvedOtherwise(ctx)
	}
	if c.job.State == cairn.StatePendingApproval {
		if res := c.waitApproval(ctx); res != nil {
			return res
		}
	}
	switch c.job.State {
	case cairn.StateQueued:
	case cairn.StateRunning:
		if c.leased == nil {
			c.g.pending.forget(c.key)
			return refusal(c.job, "job %s is %s; nothing was run", c.job.JobID, c.job.State)
		}
	case cairn.StateDenied:
		c.g.pending.forget(c.key)
		return c.denied()
	default:
		c.g.pending.forget(c.key)
		return refusal(c.job, "job %s is %s; nothing was run", c.job.JobID, c.job.State)
	}
	return c.execute(ctx)
}

// submitOrResume resumes the job of an identical call that is waiting for
// (or has just received) its approval, or submits a new one.
func (c *call) submitOrResume(ctx context.Context, resource string) error {
	if id, ok := c.g.pending.lookup(c.key); ok {
		j, err := c.who.client.GetJob(ctx, id)
		switch {
		case err != nil:
		case j.State == cairn.StatePendingApproval || j.State == cairn.StateQueued:
			c.job = j
			return nil
		case j.State == cairn.StateDenied || j.State == cairn.StateExpired || j.State == cairn.StateCancelled:
			c.job, c.resumedEnded = j, true // said plainly once, then forgotten
			return nil
		}
		c.g.pending.forget(c.key)
		if err != nil && !client.IsNotFound(err) {
			return err
		}
	}
	input := c.args
	if len(input) == 0 {
		input = nil
	}
	c.job = &cairn.Job{JobID: newJobID()}
	req := cairn.SubmitRequest{
		JobID: c.job.JobID, RunID: c.s.runID(), TraceID: traceID(c.req.Params.Meta),
		Action: c.action(), Resource: resource, Labels: c.u.cfg.Labels, Input: input,
		Executor: c.g.self.ID,
	}
	// An allowed job is leased by the gateway in the same write as its
	// submit: over HTTP the agent's key submits and the gateway's key, sent
	// beside it, takes the lease; over stdio the gateway's key does both.
	req.Lease = &cairn.SubmitLease{WorkerID: c.g.workerID, LeaseMS: c.leaseMS()}
	executorKey := c.g.workerKey
	if c.who.client == c.g.worker {
		executorKey = ""
	}
	j, leased, err := c.who.client.SubmitAndLeaseFor(ctx, req, executorKey)
	c.leased = leased
	if err != nil {
		return err
	}
	c.job = j
	if j.State == cairn.StatePendingApproval {
		c.g.pending.remember(c.key, j.JobID)
	}
	return nil
}

// waitApproval polls the job until a human resolves it or approval_wait
// runs out, telling a client that asked for progress what it waits for.
// It returns the answer when the call ends here, nil when the job moved on.
func (c *call) waitApproval(ctx context.Context) *mcp.CallToolResult {
	roles := c.approverRoles(ctx)
	deadline := time.Now().Add(c.g.cfg.ApprovalWait)
	pause := 100 * time.Millisecond
	var progress float64
	nextNote := time.Time{}
	for {
		if time.Now().After(nextNote) {
			progress++
			c.notify(ctx, progress, fmt.Sprintf("waiting for approval of job %s by %s: %s", c.job.JobID, roles, c.link()))
			nextNote = time.Now().Add(5 * time.Second)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return refusal(c.job, "approval is pending: job %s needs approval by %s (rule %s: %s). Approve it at %s, then make the identical call again to run it; nothing was run.",
				c.job.JobID, roles, c.job.PolicyRuleID, c.job.PolicyReason, c.link())
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			c.cancel("the MCP client cancelled the call while it waited for approval")
			return refusal(c.job, "cancelled")
		case <-t.C:
		}
		pause = min(pause*2, time.Second)
		j, err := c.who.client.GetJob(ctx, c.job.JobID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return c.apiFailure(err, "nothing was run")
		}
		c.job = j
		if j.State != cairn.StatePendingApproval {
			return c.resolvedOtherwise(ctx)
		}
	}
}

// resolvedOtherwise says plainly what became of an approval that was not
// granted; nil when it was.
func (c *call) resolvedOtherwise(ctx context.Context) *mcp.CallToolResult {
	switch c.job.State {
	case cairn.StateQueued:
		return nil
	case cairn.StateDenied, cairn.StateExpired, cairn.StateCancelled:
		c.g.pending.forget(c.key)
		how := strings.ToLower(c.job.State)
		if rec, err := c.who.client.GetEvidence(ctx, c.job.JobID); err == nil && rec.Resolution != "" {
			how = fmt.Sprintf("%s by %s", rec.Resolution, orDash(string(rec.ResolvedBy)))
			if rec.ResolvedComment != "" {
				how += fmt.Sprintf(" (%q)", string(rec.ResolvedComment))
			}
			if rec.Resolution == cairn.ResolutionExpired {
				how = "expired before anyone approved it"
			}
		}
		return refusal(c.job, "the approval of job %s was %s; nothing was run", c.job.JobID, how)
	}
	return nil
}

// approverRoles names who may approve, from the submit decision.
func (c *call) approverRoles(ctx context.Context) string {
	ds, err := c.who.client.ListDecisions(ctx, c.job.JobID, client.Page{})
	if err == nil {
		for _, d := range ds.Items {
			if d.Approval != nil && len(d.Approval.ApproverRoles) > 0 {
				return "a principal with role " + strings.Join(d.Approval.ApproverRoles, " or ")
			}
		}
	}
	return "an approver"
}

func (c *call) link() string { return c.g.server + "/approvals/" + c.job.JobID }

// notify sends a progress notification when the client asked for them.
func (c *call) notify(ctx context.Context, progress float64, msg string) {
	tok := c.req.Params.GetProgressToken()
	ss := c.s.downstream()
	if tok == nil || ss == nil {
		return
	}
	ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: progress, Message: msg})
}

// cancel records that the client gave up on the call.
func (c *call) cancel(reason string) {
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	// The gateway is the executor of every job it submits, so its own key
	// may cancel the job in any open state.
	if _, err := c.g.worker.CancelJob(ctx, c.job.JobID, cairn.CancelRequest{Reason: reason}); err != nil {
		c.g.log.Warn("mcp gateway: cancelling a job failed", "job_id", c.job.JobID, "error", err.Error())
	}
	c.g.pending.forget(c.key)
}

func (c *call) denied() *mcp.CallToolResult {
	return refusal(c.job, "denied by policy rule %s: %s (job %s); nothing was run", orDash(string(c.job.PolicyRuleID)), c.job.PolicyReason, c.job.JobID)
}

// apiFailure refuses a call because Cairn could not be asked or answered
// with an error.
func (c *call) apiFailure(err error, what string) *mcp.CallToolResult {
	var api *client.APIError
	if errors.As(err, &api) {
		return refusal(c.job, "the control plane refused the call: %s; %s", api.Error(), what)
	}
	c.g.log.Warn("mcp gateway: control plane unreachable", "error", err.Error())
	return refusal(c.job, "the control plane is unreachable; %s", what)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
