package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cairnhq/cairn"
)

// Page selects one page of a list: at most Limit items (0 = the server's
// default, 100) starting at Cursor (a previous answer's next_cursor; "" =
// the first page).
type Page struct {
	Limit  int
	Cursor string
}

func (p Page) values() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}

func setStr(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setTime(q url.Values, k string, t time.Time) {
	if !t.IsZero() {
		q.Set(k, cairn.Timestamp(t))
	}
}

// JobFilter selects jobs for ListJobs (newest first). Empty fields do not
// filter; Since and Until bound created_at.
type JobFilter struct {
	State, Action, RunID, Decision, PolicyRuleID, SubmittedBy string
	Since, Until                                              time.Time
	Page
}

// ApprovalFilter selects approvals for ListApprovals. Without
// IncludeResolved only pending approvals are listed.
type ApprovalFilter struct {
	IncludeResolved                 bool
	RunID, PolicyRuleID, ResolvedBy string
	Since, Until                    time.Time
	Page
}

// TimelineFilter pages a run's timeline (oldest first). After is the last
// seq already seen (0 = from the start); Cursor, if set, takes precedence.
type TimelineFilter struct {
	After int64
	Page
}

// AuditFilter selects policy audit entries (newest first).
type AuditFilter struct {
	Action, Actor string // action: publish | rollback
	Since, Until  time.Time
	Page
}

// LedgerFilter pages a tenant's ledger from index From (0-based).
type LedgerFilter struct {
	From uint64
	Page
}

func jobPath(id string, rest ...string) string {
	p := apiPrefix + "/jobs/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func get[T any](ctx context.Context, c *Client, path string, q url.Values) (*T, error) {
	out := new(T)
	if _, err := c.call(ctx, request{method: http.MethodGet, path: path, query: q, idempotent: true}, out); err != nil {
		return nil, err
	}
	return out, nil
}

func post[T any](ctx context.Context, c *Client, path string, body any) (*T, error) {
	out := new(T)
	if _, err := c.call(ctx, request{method: http.MethodPost, path: path, body: body}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ---- Jobs ----

// SubmitJob submits an action (POST /jobs). The policy decision is in the
// answer: a DENY is a job in state DENIED, not an error. With req.JobID set
// the call is idempotent and is retried on transport errors.
func (c *Client) SubmitJob(ctx context.Context, req cairn.SubmitRequest) (*cairn.Job, error) {
	j, _, err := c.SubmitJobReplayed(ctx, req)
	return j, err
}

// SubmitJobReplayed is SubmitJob that also reports whether the server
// answered with an existing job (200, an idempotent replay of the same
// job_id and job_hash) rather than creating one (201).
func (c *Client) SubmitJobReplayed(ctx context.Context, req cairn.SubmitRequest) (job *cairn.Job, replayed bool, err error) {
	job = new(cairn.Job)
	resp, err := c.call(ctx, request{
		method:     http.MethodPost,
		path:       apiPrefix + "/jobs",
		body:       req,
		idempotent: req.JobID != "",
	}, job)
	if err != nil {
		return nil, false, err
	}
	return job, resp.status == http.StatusOK, nil
}

// SubmitAndLease submits a job and, when policy lets it run now, leases it
// to the caller in the same write (req.Lease; defaulted when nil). The
// lease is nil when the job was not dispatched: it was denied, waits for
// approval, or is an idempotent replay (lease it by id then). The caller
// checks the lease's receipt as for WorkerLease.
func (c *Client) SubmitAndLease(ctx context.Context, req cairn.SubmitRequest) (*cairn.Job, *cairn.LeasedJob, error) {
	return c.SubmitAndLeaseFor(ctx, req, "")
}

// SubmitAndLeaseFor is SubmitAndLease where the lease is taken by the
// principal of executorKey (sent as Cairn-Executor-Key), not by the
// submitter: an integration that holds both the agent's key and its own
// executor key submits as the agent and leases as itself in one write.
// An empty executorKey is SubmitAndLease.
func (c *Client) SubmitAndLeaseFor(ctx context.Context, req cairn.SubmitRequest, executorKey string) (*cairn.Job, *cairn.LeasedJob, error) {
	if req.Lease == nil {
		req.Lease = &cairn.SubmitLease{}
	}
	var out cairn.SubmitResponse
	out.Job = new(cairn.Job)
	if _, err := c.call(ctx, request{
		method:      http.MethodPost,
		path:        apiPrefix + "/jobs",
		body:        req,
		idempotent:  req.JobID != "",
		executorKey: executorKey,
	}, &out); err != nil {
		return nil, nil, err
	}
	return out.Job, out.Lease, nil
}

// GetJob returns a job's current state (audit query 1).
func (c *Client) GetJob(ctx context.Context, jobID string) (*cairn.Job, error) {
	return get[cairn.Job](ctx, c, jobPath(jobID), nil)
}

// ListJobs returns one page of jobs, newest first.
func (c *Client) ListJobs(ctx context.Context, f JobFilter) (*cairn.List[*cairn.Job], error) {
	q := f.Page.values()
	setStr(q, "state", f.State)
	setStr(q, "action", f.Action)
	setStr(q, "run_id", f.RunID)
	setStr(q, "decision", f.Decision)
	setStr(q, "policy_rule_id", f.PolicyRuleID)
	setStr(q, "submitted_by", f.SubmittedBy)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	return get[cairn.List[*cairn.Job]](ctx, c, apiPrefix+"/jobs", q)
}

// ListDecisions returns one page of a job's policy evaluations, oldest
// first (audit query 2).
func (c *Client) ListDecisions(ctx context.Context, jobID string, p Page) (*cairn.List[*cairn.Decision], error) {
	return get[cairn.List[*cairn.Decision]](ctx, c, jobPath(jobID, "decisions"), p.values())
}

// GetEvidence returns a job's joined decision record (decision-record.json).
func (c *Client) GetEvidence(ctx context.Context, jobID string) (*cairn.DecisionRecord, error) {
	return get[cairn.DecisionRecord](ctx, c, jobPath(jobID, "evidence"), nil)
}

// GetContext returns the job's stored input payload (context_ptr).
func (c *Client) GetContext(ctx context.Context, jobID string) (json.RawMessage, error) {
	return c.raw(ctx, jobPath(jobID, "context"))
}

// GetResult returns the job's stored result (result_ptr), redacted if its
// output verdict was REDACT. A quarantined result is an *APIError with code
// cairn.CodeOutputQuarantined.
func (c *Client) GetResult(ctx context.Context, jobID string) (json.RawMessage, error) {
	return c.raw(ctx, jobPath(jobID, "result"))
}

func (c *Client) raw(ctx context.Context, path string) (json.RawMessage, error) {
	resp, err := c.call(ctx, request{method: http.MethodGet, path: path, idempotent: true}, nil)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(resp.body), nil
}

// CompleteJob reports the outcome of a leased job.
func (c *Client) CompleteJob(ctx context.Context, jobID string, req cairn.CompleteRequest) (*cairn.Job, error) {
	return post[cairn.Job](ctx, c, jobPath(jobID, "complete"), req)
}

// ---- Approvals ----

// ListApprovals returns one page of the approval queue (audit query 3).
func (c *Client) ListApprovals(ctx context.Context, f ApprovalFilter) (*cairn.List[*cairn.Approval], error) {
	q := f.Page.values()
	q.Set("include_resolved", strconv.FormatBool(f.IncludeResolved))
	setStr(q, "run_id", f.RunID)
	setStr(q, "policy_rule_id", f.PolicyRuleID)
	setStr(q, "resolved_by", f.ResolvedBy)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	return get[cairn.List[*cairn.Approval]](ctx, c, apiPrefix+"/approvals", q)
}

// Approve approves the pending approval of a job. req.JobHash must be the
// job_hash the approver reviewed.
func (c *Client) Approve(ctx context.Context, jobID string, req cairn.ResolveRequest) (*cairn.Approval, error) {
	return post[cairn.Approval](ctx, c, apiPrefix+"/approvals/"+url.PathEscape(jobID)+"/approve", req)
}

// Reject rejects the pending approval of a job.
func (c *Client) Reject(ctx context.Context, jobID string, req cairn.ResolveRequest) (*cairn.Approval, error) {
	return post[cairn.Approval](ctx, c, apiPrefix+"/approvals/"+url.PathEscape(jobID)+"/reject", req)
}

// ---- Workers ----

// Lease asks for jobs to run, waiting up to req.WaitMS for one to be ready.
// The context must outlive the wait.
func (c *Client) Lease(ctx context.Context, req cairn.LeaseRequest) (*cairn.LeaseResponse, error) {
	return post[cairn.LeaseResponse](ctx, c, apiPrefix+"/workers/lease", req)
}

// ---- Runs ----

// GetRun returns a workflow run and its jobs.
func (c *Client) GetRun(ctx context.Context, runID string) (*cairn.Run, error) {
	return get[cairn.Run](ctx, c, apiPrefix+"/workflow-runs/"+url.PathEscape(runID), nil)
}

// Timeline returns one page of a run's timeline, oldest first (audit
// query 4). An event pruned by retention is a marker with Pruned and
// PrunedBy set and no Timestamp, Actor or Data.
func (c *Client) Timeline(ctx context.Context, runID string, f TimelineFilter) (*cairn.List[*cairn.Event], error) {
	q := f.Page.values()
	if f.After > 0 && f.Cursor == "" {
		q.Set("after", strconv.FormatInt(f.After, 10))
	}
	return get[cairn.List[*cairn.Event]](ctx, c, apiPrefix+"/workflow-runs/"+url.PathEscape(runID)+"/timeline", q)
}

// ---- Policy ----

// GetPolicy returns the active policy snapshot and its text.
func (c *Client) GetPolicy(ctx context.Context) (*cairn.ActivePolicy, error) {
	return get[cairn.ActivePolicy](ctx, c, apiPrefix+"/policy", nil)
}

// PublishPolicy publishes a policy bundle. An invalid bundle is an
// *APIError with code cairn.EPolicy naming the line.
func (c *Client) PublishPolicy(ctx context.Context, req cairn.PublishRequest) (*cairn.PolicyChange, error) {
	return post[cairn.PolicyChange](ctx, c, apiPrefix+"/policy/publish", req)
}

// RollbackPolicy makes an earlier snapshot active again.
func (c *Client) RollbackPolicy(ctx context.Context, req cairn.RollbackRequest) (*cairn.PolicyChange, error) {
	return post[cairn.PolicyChange](ctx, c, apiPrefix+"/policy/rollback", req)
}

// ListSnapshots returns one page of published policy snapshots.
func (c *Client) ListSnapshots(ctx context.Context, p Page) (*cairn.List[*cairn.Snapshot], error) {
	return get[cairn.List[*cairn.Snapshot]](ctx, c, apiPrefix+"/policy/snapshots", p.values())
}

// GetSnapshot returns a published snapshot by its id
// (cfg:system:policy#sha256:<hex>).
func (c *Client) GetSnapshot(ctx context.Context, id string) (*cairn.Snapshot, error) {
	return get[cairn.Snapshot](ctx, c, apiPrefix+"/policy/snapshots/"+url.PathEscape(id), nil)
}

// PolicyAudit returns one page of the publish/rollback audit stream, newest
// first (audit query 5).
func (c *Client) PolicyAudit(ctx context.Context, f AuditFilter) (*cairn.List[*cairn.PolicyAudit], error) {
	q := f.Page.values()
	setStr(q, "action", f.Action)
	setStr(q, "actor", f.Actor)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	return get[cairn.List[*cairn.PolicyAudit]](ctx, c, apiPrefix+"/policy/audit", q)
}

// Simulate evaluates a job against the active policy, a snapshot or a
// candidate bundle without side effects.
func (c *Client) Simulate(ctx context.Context, req cairn.SimulateRequest) (*cairn.SimulateResponse, error) {
	return post[cairn.SimulateResponse](ctx, c, apiPrefix+"/policy/simulate", req)
}

// ---- Keys ----

// CreateKey creates an API key. The returned Key is shown once.
func (c *Client) CreateKey(ctx context.Context, req cairn.CreateKeyRequest) (*cairn.CreatedKey, error) {
	return post[cairn.CreatedKey](ctx, c, apiPrefix+"/keys", req)
}

// ListKeys returns one page of the tenant's keys (never their secrets).
func (c *Client) ListKeys(ctx context.Context, p Page) (*cairn.List[*cairn.Key], error) {
	return get[cairn.List[*cairn.Key]](ctx, c, apiPrefix+"/keys", p.values())
}

// RevokeKey revokes a key.
func (c *Client) RevokeKey(ctx context.Context, keyID string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: apiPrefix + "/keys/" + url.PathEscape(keyID)}, nil)
	return err
}

// ---- Ledger ----

// LedgerEntries returns one page of the caller's tenant ledger.
func (c *Client) LedgerEntries(ctx context.Context, f LedgerFilter) (*cairn.List[*cairn.LedgerEntry], error) {
	q := f.Page.values()
	if f.Cursor == "" {
		q.Set("from", strconv.FormatUint(f.From, 10))
	}
	return get[cairn.List[*cairn.LedgerEntry]](ctx, c, apiPrefix+"/ledger/entries", q)
}

// ---- Health ----

// Healthz reports whether the server process is up (GET /healthz).
func (c *Client) Healthz(ctx context.Context) error { return c.probe(ctx, "/healthz") }

// Readyz reports whether the server can reach its store (GET /readyz).
func (c *Client) Readyz(ctx context.Context) error { return c.probe(ctx, "/readyz") }

func (c *Client) probe(ctx context.Context, path string) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: path, noAuth: true, noRetry: true}, nil)
	return err
}

// CancelJob ends an open job (pending approval, queued or running) before
// it completes: POST /api/v1/jobs/{id}/cancel.
func (c *Client) CancelJob(ctx context.Context, jobID string, req cairn.CancelRequest) (*cairn.Job, error) {
	return post[cairn.Job](ctx, c, jobPath(jobID, "cancel"), req)
}

// Denies asks which actions the active policy denies for the caller
// whatever the input: POST /api/v1/policy/denies.
func (c *Client) Denies(ctx context.Context, req cairn.DeniesRequest) (*cairn.DeniesResponse, error) {
	return post[cairn.DeniesResponse](ctx, c, apiPrefix+"/policy/denies", req)
}
