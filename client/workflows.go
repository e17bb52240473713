package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cairnhq/cairn"
)

// RunFilter selects runs for ListRuns (newest first).
type RunFilter struct {
	WorkflowID, Status string
	Page
}

// WorkflowFilter selects registered workflows (newest first).
type WorkflowFilter struct {
	Name string
	Page
}

func runPath(id string, rest ...string) string {
	p := apiPrefix + "/workflow-runs/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// RegisterWorkflow registers a workflow definition (POST /workflows). The
// same text registered again returns the stored workflow; the call is
// therefore retried on transport errors.
func (c *Client) RegisterWorkflow(ctx context.Context, definition string) (*cairn.Workflow, error) {
	out := new(cairn.Workflow)
	_, err := c.call(ctx, request{method: http.MethodPost, path: apiPrefix + "/workflows",
		body: cairn.RegisterWorkflowRequest{Definition: definition}, idempotent: true}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetWorkflow returns a registered workflow by id, or by name (its latest version).
func (c *Client) GetWorkflow(ctx context.Context, id string) (*cairn.Workflow, error) {
	return get[cairn.Workflow](ctx, c, apiPrefix+"/workflows/"+url.PathEscape(id), nil)
}

// ListWorkflows returns one page of registered workflows.
func (c *Client) ListWorkflows(ctx context.Context, f WorkflowFilter) (*cairn.List[*cairn.Workflow], error) {
	q := f.Page.values()
	setStr(q, "name", f.Name)
	return get[cairn.List[*cairn.Workflow]](ctx, c, apiPrefix+"/workflows", q)
}

// StartRun starts a workflow run. With req.RunID set the call is
// idempotent and is retried on transport errors.
func (c *Client) StartRun(ctx context.Context, req cairn.StartRunRequest) (*cairn.Run, error) {
	out := new(cairn.Run)
	_, err := c.call(ctx, request{method: http.MethodPost, path: apiPrefix + "/workflow-runs", body: req, idempotent: req.RunID != ""}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListRuns returns one page of runs.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) (*cairn.List[*cairn.Run], error) {
	q := f.Page.values()
	setStr(q, "workflow_id", f.WorkflowID)
	setStr(q, "status", f.Status)
	return get[cairn.List[*cairn.Run]](ctx, c, apiPrefix+"/workflow-runs", q)
}

// CancelRun cancels a workflow run; cancelling a cancelled run is a no-op.
func (c *Client) CancelRun(ctx context.Context, runID, reason string) (*cairn.Run, error) {
	out := new(cairn.Run)
	_, err := c.call(ctx, request{method: http.MethodPost, path: runPath(runID, "cancel"), body: cairn.CancelRunRequest{Reason: reason}, idempotent: true}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RerunRun starts a new run linked to a finished one, from req.FromStep
// (default: its first failed step).
func (c *Client) RerunRun(ctx context.Context, runID string, req cairn.RerunRequest) (*cairn.Run, error) {
	out := new(cairn.Run)
	_, err := c.call(ctx, request{method: http.MethodPost, path: runPath(runID, "rerun"), body: req, idempotent: req.RunID != ""}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ApproveGate records an approval of a step's gate. req.JobHash must be the
// gate's job_hash. A retry of the same vote is answered, not recorded twice.
func (c *Client) ApproveGate(ctx context.Context, runID, stepID string, req cairn.GateVoteRequest) (*cairn.Run, error) {
	return c.gateVote(ctx, runID, stepID, "approve", req)
}

// RejectGate rejects a step's gate.
func (c *Client) RejectGate(ctx context.Context, runID, stepID string, req cairn.GateVoteRequest) (*cairn.Run, error) {
	return c.gateVote(ctx, runID, stepID, "reject", req)
}

func (c *Client) gateVote(ctx context.Context, runID, stepID, verb string, req cairn.GateVoteRequest) (*cairn.Run, error) {
	out := new(cairn.Run)
	_, err := c.call(ctx, request{method: http.MethodPost, path: runPath(runID, "steps", url.PathEscape(stepID), verb), body: req, idempotent: true}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
