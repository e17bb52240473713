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
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// leaseMargin is added to call_timeout for the job's lease, so the lease
// outlives the upstream call and its completion.
const leaseMargin = 30 * time.Second

// execute leases the job as its executor (no log, no run: the lease
// carries the dispatch decision's receipt), calls the upstream, completes
// the job and answers with what the output check allows.
func (c *call) execute(ctx context.Context) *mcp.CallToolResult {
	leased, err := c.lease(ctx)
	if err != nil && ctx.Err() != nil {
		// The lease may have been taken before the client gave up.
		c.cancel("the MCP client cancelled the call (notifications/cancelled) before it ran")
		return refusal(c.job, "cancelled")
	}
	if err != nil {
		return c.apiFailure(err, "nothing was run")
	}
	if leased == nil {
		c.g.pending.forget(c.key)
		if j, err := c.who.client.GetJob(ctx, c.job.JobID); err == nil {
			c.job = j
			if j.State == cairn.StateDenied {
				return c.denied()
			}
		}
		return refusal(c.job, "job %s could not be dispatched (state %s); nothing was run", c.job.JobID, c.job.State)
	}
	c.g.pending.forget(c.key)
	c.job.State = cairn.StateRunning
	finished := c.s.during(c.u.cfg.Name, ctx)
	uctx, meta := upstreamTrace(ctx, c.req.Params.Meta, leased)
	res, callErr := c.u.call(uctx, c.g.cfg.CallTimeout, &mcp.CallToolParams{
		Meta: meta, Name: c.tool, Arguments: argsOrEmpty(c.args),
	})
	finished()
	if callErr != nil && ctx.Err() != nil {
		c.cancel("the MCP client cancelled the call (notifications/cancelled) while the upstream ran it")
		return refusal(c.job, "cancelled")
	}
	done, err := c.complete(leased.LeaseID, res, callErr)
	if err != nil {
		return c.apiFailure(err, "the upstream ran, but its result could not be recorded and is withheld")
	}
	c.job = done
	if callErr != nil {
		return refusal(done, "the upstream failed: %v (job %s is FAILED)", callErr, done.JobID)
	}
	return c.released(ctx, res)
}

// lease takes the job by id, verifying its dispatch receipt when the log
// key is pinned. nil without error means the dispatch re-decision did not
// let it run.
func (c *call) lease(ctx context.Context) (*cairn.LeasedJob, error) {
	j := c.leased
	if j == nil {
		lr, err := c.g.worker.Lease(ctx, cairn.LeaseRequest{
			WorkerID: c.g.workerID, JobID: c.job.JobID, Actions: []string{c.action()},
			LeaseMS: c.leaseMS(),
		})
		if err != nil {
			return nil, err
		}
		if len(lr.Jobs) == 0 {
			return nil, nil
		}
		j = lr.Jobs[0]
	}
	if c.g.verifyReceipt != nil {
		if err := c.g.verifyReceipt(j); err != nil {
			c.g.log.Error("mcp gateway: dispatch receipt does not verify; not running", "job_id", j.JobID, "error", err.Error())
			c.complete(j.LeaseID, nil, fmt.Errorf("the dispatch receipt did not verify: %v", err))
			return nil, fmt.Errorf("the dispatch receipt of job %s does not verify against the pinned log key", j.JobID)
		}
	}
	c.job.Decision, c.job.PolicySnapshot = j.Decision, cairn.Opt(j.PolicySnapshot)
	return j, nil
}

// leaseMS is the lease a call takes: the upstream call's timeout and a
// margin for its completion.
func (c *call) leaseMS() int { return int((c.g.cfg.CallTimeout + leaseMargin).Milliseconds()) }

// complete records the outcome. A result the server cannot take (too
// large) is recorded as a failure without it.
func (c *call) complete(leaseID string, res *mcp.CallToolResult, callErr error) (*cairn.Job, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := cairn.CompleteRequest{LeaseID: leaseID, Status: "succeeded"}
	switch {
	case callErr != nil:
		req.Status, req.Error = "failed", clipText(callErr.Error(), 2000)
	default:
		raw, err := json.Marshal(res)
		if err != nil {
			req.Status, req.Error = "failed", "the upstream result cannot be encoded: "+err.Error()
			break
		}
		req.Result = raw
		if res.IsError {
			req.Status, req.Error = "failed", "the tool reported an error (isError)"
		}
	}
	j, err := c.g.worker.CompleteJob(ctx, c.job.JobID, req)
	var api *client.APIError
	if err != nil && errors.As(err, &api) && api.Field == "result" {
		req.Status, req.Result = "failed", nil
		req.Error = "the upstream result was refused: " + clipText(api.Message, 500)
		j, err = c.g.worker.CompleteJob(ctx, c.job.JobID, req)
		if err == nil {
			return j, fmt.Errorf("the upstream result was refused by Cairn: %s", api.Message)
		}
	}
	return j, err
}

// released answers with the upstream result as the output check allows:
// unchanged, redacted, or withheld.
func (c *call) released(ctx context.Context, res *mcp.CallToolResult) *mcp.CallToolResult {
	safety := c.job.OutputSafety
	switch {
	case safety == nil || safety.Decision == cairn.OutputAllow:
		return withMeta(res, c.job)
	case safety.Decision == cairn.OutputRedact:
		raw, err := c.who.client.GetResult(ctx, c.job.JobID)
		if err != nil {
			return c.apiFailure(err, "the redacted result could not be read and is withheld")
		}
		var red mcp.CallToolResult
		if err := json.Unmarshal(raw, &red); err != nil {
			red = mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(raw)}}}
		}
		red.IsError = res.IsError
		return withMeta(&red, c.job)
	default:
		types := map[string]bool{}
		var list []string
		for _, f := range safety.Findings {
			if !types[f.Type] {
				types[f.Type] = true
				list = append(list, f.Type)
			}
		}
		return refusal(c.job, "the result was quarantined by output rule %s (findings: %s); it is withheld (job %s)",
			orDash(string(safety.RuleID)), orDash(strings.Join(list, ", ")), c.job.JobID)
	}
}

func argsOrEmpty(a json.RawMessage) any {
	if len(a) == 0 {
		return map[string]any{}
	}
	return a
}

// refusal is a tool result with isError: the model reads why.
func refusal(j *cairn.Job, format string, args ...any) *mcp.CallToolResult {
	res := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "Cairn: " + fmt.Sprintf(format, args...)}}}
	return withMeta(res, j)
}

// withMeta adds the evidence an agent or its user can cite.
func withMeta(res *mcp.CallToolResult, j *cairn.Job) *mcp.CallToolResult {
	if j == nil {
		return res
	}
	m := res.GetMeta()
	if m == nil {
		m = map[string]any{}
	}
	m["cairn/job_id"] = j.JobID
	m["cairn/decision"] = j.Decision
	m["cairn/policy_rule_id"] = string(j.PolicyRuleID)
	m["cairn/policy_snapshot"] = string(j.PolicySnapshot)
	res.SetMeta(m)
	return res
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
