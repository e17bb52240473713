package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/jobrow"
	"github.com/cairnhq/cairn/ledger/tree"
)

// Reader implements the reads of cairn.ReadTx that both engines answer
// with the same SQL. A store embeds it in its read transaction and adds
// (or overrides) what differs: the lease queries, and the PostgreSQL
// writer's cached runs.
type Reader struct {
	DB DB
	D  *Dialect
	// Nodes, in read views only, serves and keeps committed Merkle nodes.
	// Writers leave it nil: what they read may not be committed yet.
	Nodes *tree.NodeCache
	// FlushBodies, when set, is called before every read of ledger_bodies:
	// a writer that holds appended entries' bodies back (to store a
	// transaction's entries as one row, ADR 0045) writes them then.
	FlushBodies func() error
}

// Bodies reads rows of (seq, body) into fresh values, setting each one's
// seq with setSeq.
func Bodies[T any](d *Dialect, rows Rows, err error, setSeq func(*T, int64)) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		var stored []byte
		var seq int64
		if err := rows.Scan(&seq, &stored); err != nil {
			return nil, err
		}
		body, err := Unpack(stored)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name, err)
		}
		v := new(T)
		if err := json.Unmarshal(body, v); err != nil {
			return nil, fmt.Errorf("%s: corrupt row: %w", d.Name, err)
		}
		setSeq(v, seq)
		out = append(out, v)
	}
	return out, rows.Err()
}

// Column reads a one-column result.
func Column[T any](rows Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// first returns the first of a result: nil, nil when it is empty.
func first[T any](vs []*T, err error) (*T, error) {
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return vs[0], nil
}

// JobSelect are the columns a job is read from: its row's columns and its
// body, which holds only what they do not (jobrow, ADR 0047).
const JobSelect = `seq, tenant, job_id, run_id, state, action, decision, policy_rule_id, submitted_by, created_at, lease_expires_at, executor, body`

// Jobs reads rows of JobSelect as jobs.
func (r *Reader) Jobs(rows Rows, err error) ([]*cairn.Job, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Job
	for rows.Next() {
		var c jobrow.Columns
		var seq int64
		var runID, ruleID, executor *string
		var stored []byte
		if err := rows.Scan(&seq, &c.Tenant, &c.JobID, &runID, &c.State, &c.Action, &c.Decision, &ruleID, &c.SubmittedBy,
			&c.CreatedAt, &c.LeaseExpiresAt, &executor, &stored); err != nil {
			return nil, err
		}
		c.RunID, c.PolicyRuleID, c.Executor = deref(runID), deref(ruleID), deref(executor)
		body, err := Unpack(stored)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.D.Name, err)
		}
		j, err := jobrow.Decode(&c, body)
		if err != nil {
			return nil, fmt.Errorf("%s: corrupt row: %w", r.D.Name, err)
		}
		j.Seq = seq
		out = append(out, j)
	}
	return out, rows.Err()
}

// deref is a nullable text column's value, "" for NULL.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Runs reads rows of (seq, body) as runs.
func (r *Reader) Runs(rows Rows, err error) ([]*cairn.Run, error) {
	return Bodies(r.D, rows, err, func(x *cairn.Run, seq int64) { x.Seq = seq })
}

func (r *Reader) workflows(rows Rows, err error) ([]*cairn.Workflow, error) {
	return Bodies(r.D, rows, err, func(w *cairn.Workflow, seq int64) { w.Seq = seq })
}

func (r *Reader) query(q string, args ...any) (Rows, error) { return r.DB.Query(q, args...) }
func (r *Reader) row(q string, args ...any) Row             { return r.DB.QueryRow(q, args...) }

// --- keys and tenants ---

// KeyRow is an API key as stored: the key and its hash.
type KeyRow struct {
	cairn.Key
	StoredHash string `json:"hash"`
}

func (r *Reader) keyRows(q string, args ...any) ([]*KeyRow, error) {
	rows, err := r.query(q, args...)
	return Bodies(r.D, rows, err, func(k *KeyRow, seq int64) { k.Seq = seq })
}

// KeyByHash implements cairn.ReadTx.
func (r *Reader) KeyByHash(hash string) (*cairn.Key, error) {
	kr, err := first(r.keyRows(`SELECT 0, body FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, err
	}
	if kr == nil {
		return nil, cairn.NotFound("not found")
	}
	kr.Key.Hash = kr.StoredHash
	return &kr.Key, nil
}

// ListKeys implements cairn.ReadTx.
func (r *Reader) ListKeys(tenant string, p cairn.Page) ([]*cairn.Key, error) {
	krs, err := r.keyRows(`SELECT `+r.D.RowSeq+`, body FROM api_keys WHERE tenant = ? AND `+r.D.RowSeq+` > ? ORDER BY `+r.D.RowSeq+` LIMIT ?`, tenant, p.After, p.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]*cairn.Key, len(krs))
	for i, kr := range krs {
		k := kr.Key
		k.Hash = ""
		out[i] = &k
	}
	return out, nil
}

// TenantExists implements cairn.ReadTx.
func (r *Reader) TenantExists(tenant string) (bool, error) {
	var n int
	err := r.row(`SELECT count(*) FROM tenants WHERE tenant = ?`, tenant).Scan(&n)
	return n > 0, err
}

// --- jobs ---

// JobIDsFrom implements cairn.ReadTx.
func (r *Reader) JobIDsFrom(tenant, from string, limit int) ([]string, error) {
	return Column[string](r.query(`SELECT job_id FROM jobs WHERE tenant = ? AND job_id >= ? ORDER BY job_id LIMIT ?`, tenant, from, limit))
}

// GetJob implements cairn.ReadTx.
func (r *Reader) GetJob(tenant, jobID string) (*cairn.Job, error) {
	j, err := first(r.Jobs(r.query(`SELECT `+JobSelect+` FROM jobs WHERE tenant = ? AND job_id = ?`, tenant, jobID)))
	if j == nil && err == nil {
		return nil, cairn.NotFound("job %q not found", jobID)
	}
	return j, err
}

// ListJobsQuery is ListJobs' statement. state and run_id have indexes;
// for the other filters the newest-first walk of the primary key is the
// right plan (SQLite would otherwise pick the (tenant, job_id) key and sort
// every job of the tenant).
func ListJobsQuery(d *Dialect, tenant string, f cairn.JobFilter) (string, []any) {
	w := &Where{}
	w.Add("tenant = ?", tenant)
	w.Eq("state", f.State)
	w.Eq("action", f.Action)
	w.Eq("run_id", f.RunID)
	w.Eq("decision", f.Decision)
	w.Eq("policy_rule_id", f.PolicyRuleID)
	w.Eq("submitted_by", f.SubmittedBy)
	w.Span("created_at", f.Since, f.Until)
	w.Before(f.After)
	from := "jobs"
	if f.State == "" && f.RunID == "" {
		from = d.NotIndexed("jobs")
	}
	return w.Page(JobSelect, from, "seq DESC", f.Limit)
}

// ListJobs implements cairn.ReadTx.
func (r *Reader) ListJobs(tenant string, f cairn.JobFilter) ([]*cairn.Job, error) {
	q, args := ListJobsQuery(r.D, tenant, f)
	return r.Jobs(r.query(q, args...))
}

// ListRunJobs implements cairn.ReadTx.
func (r *Reader) ListRunJobs(tenant, runID string, limit int) ([]*cairn.Job, error) {
	return r.Jobs(r.query(`SELECT `+JobSelect+` FROM jobs WHERE tenant = ? AND run_id = ? ORDER BY seq LIMIT ?`, tenant, runID, limit))
}

// OpenRunJobsQuery counts a run's open jobs through jobs_open_by_run,
// whose WHERE its own matches. SQLite is told to: since its 0012 jobs_run
// has the same columns (ADR 0047), and its planner would take either.
func OpenRunJobsQuery(d *Dialect) string {
	return `SELECT count(*) FROM ` + d.IndexedBy("jobs", "jobs_open_by_run") + ` WHERE tenant = ? AND run_id = ? AND state IN ('PENDING_APPROVAL', 'QUEUED', 'RUNNING')`
}

// OpenRunJobs implements cairn.ReadTx.
func (r *Reader) OpenRunJobs(tenant, runID string) (int, error) {
	var n int
	err := r.row(OpenRunJobsQuery(r.D), tenant, runID).Scan(&n)
	return n, err
}

// GetPayload implements cairn.ReadTx.
func (r *Reader) GetPayload(tenant, ptr string) (*cairn.Payload, error) {
	p := &cairn.Payload{Tenant: tenant, Ptr: ptr}
	var keyID *string
	var sum []byte
	err := r.row(`SELECT sha256, data, key_id FROM payloads WHERE tenant = ? AND ptr = ?`, tenant, ptr).Scan(&sum, &p.Data, &keyID)
	if errors.Is(err, ErrNoRows) {
		return nil, cairn.NotFound("payload %q not found", ptr)
	}
	if err != nil {
		return nil, err
	}
	p.SHA256, p.KeyID = PayloadHashText(sum), payloadKeyOf(keyID)
	return p, nil
}

// ExpiredLeases implements cairn.ReadTx.
func (r *Reader) ExpiredLeases(now time.Time, limit int) ([]*cairn.Job, error) {
	return r.Jobs(r.query(`SELECT `+JobSelect+` FROM jobs WHERE state = 'RUNNING' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?`, Nanos(now), limit))
}

// --- evidence events ---

func (r *Reader) events(raw bool, q string, args ...any) ([]*cairn.Event, error) {
	if err := r.beforeBodies(); err != nil {
		return nil, err
	}
	rows, err := r.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Event
	c := &bodyCache{name: r.D.Name}
	for rows.Next() {
		var idx, first, n int64
		var stored, leafBytes []byte
		if err := rows.Scan(&idx, &first, &n, &stored, &leafBytes); err != nil {
			return nil, err
		}
		b, err := c.entry(storedRow{first: uint64(first), n: int(n), body: stored}, uint64(idx))
		if err != nil {
			return nil, err
		}
		leaf, err := leafHex(leafBytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.D.Name, err)
		}
		body := string(b)
		var ev *cairn.Event
		if raw {
			ev, err = cairn.APIEventFromLedger(body, leaf)
		} else {
			ev, err = cairn.EventFromLedger(body, leaf)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// eventCols are what events scans: the entry's index, its body row and
// its leaf hash.
const eventCols = `SELECT l.idx, b.idx, b.n, b.body, l.leaf_hash FROM `

// ListEvents implements cairn.ReadTx.
func (r *Reader) ListEvents(tenant string, f cairn.EventFilter) ([]*cairn.Event, error) {
	if f.RunID != "" && f.WithPruned {
		// Only a compacted tenant has pruned entries; the plain join is
		// cheaper (BENCHMARKS.md "Run timelines with pruned markers").
		last, err := r.LastCompaction(tenant)
		if err != nil {
			return nil, err
		}
		if last != nil {
			return r.runEvents(tenant, f)
		}
	}
	if f.RunID != "" {
		return r.events(f.RawOnly, eventCols+`ledger l`+JoinBody+` WHERE l.tenant = ? AND l.run_id = ? AND l.run_seq > ? ORDER BY l.run_seq LIMIT ?`, tenant, f.RunID, f.After, f.Limit)
	}
	return r.events(f.RawOnly, eventCols+r.D.IndexedBy("ledger AS l", "ledger_job")+JoinBody+` WHERE l.tenant = ? AND l.job_id = ? AND l.idx >= ? ORDER BY l.idx LIMIT ?`, tenant, f.JobID, f.After, f.Limit)
}

// ListDecisions implements cairn.ReadTx.
func (r *Reader) ListDecisions(tenant, jobID string) ([]*cairn.Decision, error) {
	evs, err := r.events(false, eventCols+r.D.IndexedBy("ledger AS l", "ledger_job")+JoinBody+` WHERE l.tenant = ? AND l.job_id = ? AND l.type = 'policy_decided' ORDER BY l.idx`, tenant, jobID)
	if err != nil {
		return nil, err
	}
	out := make([]*cairn.Decision, 0, len(evs))
	for _, ev := range evs {
		d, err := cairn.DecisionOf(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// --- approvals ---

func (r *Reader) approvals(tenant string, rows Rows, err error) ([]*cairn.Approval, error) {
	return Bodies(r.D, rows, err, func(a *cairn.Approval, seq int64) { a.Seq, a.Tenant = seq, tenant })
}

// GetApproval implements cairn.ReadTx.
func (r *Reader) GetApproval(tenant, jobID string) (*cairn.Approval, error) {
	rows, err := r.query(`SELECT seq, body FROM approvals WHERE tenant = ? AND job_id = ?`, tenant, jobID)
	a, err := first(r.approvals(tenant, rows, err))
	if a == nil && err == nil {
		return nil, &cairn.Error{Code: cairn.CodeNoApprovalPending, Message: fmt.Sprintf("job %q has no approval", jobID)}
	}
	return a, err
}

// ListApprovals implements cairn.ReadTx.
func (r *Reader) ListApprovals(tenant string, f cairn.ApprovalFilter) ([]*cairn.Approval, error) {
	w := &Where{}
	w.Add("tenant = ?", tenant)
	if !f.IncludeResolved {
		w.Add("status = 'pending'")
	}
	w.Eq("run_id", f.RunID)
	w.Eq("policy_rule_id", f.PolicyRuleID)
	w.Eq("resolved_by", f.ResolvedBy)
	w.Span("requested_at", f.Since, f.Until)
	w.Before(f.After)
	q, args := w.Page("seq, body", "approvals", "seq DESC", f.Limit)
	rows, err := r.query(q, args...)
	if !f.RawOnly {
		return r.approvals(tenant, rows, err)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Approval
	for rows.Next() {
		a := &cairn.Approval{}
		var body []byte
		if err := rows.Scan(&a.Seq, &body); err != nil {
			return nil, err
		}
		a.Raw = body
		out = append(out, a)
	}
	return out, rows.Err()
}

// DueApprovals implements cairn.ReadTx.
func (r *Reader) DueApprovals(now time.Time, limit int) ([]*cairn.Approval, error) {
	rows, err := r.query(`SELECT seq, tenant, body FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`, Nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Approval
	for rows.Next() {
		a := &cairn.Approval{}
		var body []byte
		if err := rows.Scan(&a.Seq, &a.Tenant, &body); err != nil {
			return nil, err
		}
		seq, tenant := a.Seq, a.Tenant
		if err := json.Unmarshal(body, a); err != nil {
			return nil, fmt.Errorf("%s: corrupt row: %w", r.D.Name, err)
		}
		a.Seq, a.Tenant = seq, tenant
		out = append(out, a)
	}
	return out, rows.Err()
}

// NextDeadline implements cairn.ReadTx.
func (r *Reader) NextDeadline() (time.Time, error) {
	var a, l, w *int64
	err := r.row(`SELECT (SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL),
		(SELECT min(lease_expires_at) FROM jobs WHERE state = 'RUNNING'),
		(SELECT min(wake_at) FROM runs WHERE wake_at IS NOT NULL)`).Scan(&a, &l, &w)
	if err != nil {
		return time.Time{}, err
	}
	var best int64
	for _, v := range []*int64{a, l, w} {
		if v != nil && (best == 0 || *v < best) {
			best = *v
		}
	}
	if best == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, best).UTC(), nil
}

// --- runs and workflows ---

// GetRun implements cairn.ReadTx.
func (r *Reader) GetRun(tenant, runID string) (*cairn.Run, error) {
	run, err := first(r.Runs(r.query(`SELECT seq, body FROM runs WHERE tenant = ? AND run_id = ?`, tenant, runID)))
	if run == nil && err == nil {
		return nil, cairn.NotFound("run %q not found", runID)
	}
	return run, err
}

// ListRunsQuery is ListRuns' statement. Every filter is an indexed column
// and the order is seq, so a page walks one index newest first: runs_tenant,
// runs_status, runs_workflow, runs_started_by (the starter, with or without
// a workflow) or runs_started_by_status (the starter and a status). The
// stores' TestListRunsPlan checks the planners' choice.
func ListRunsQuery(tenant string, f cairn.RunFilter) (string, []any) {
	w := &Where{}
	w.Add("tenant = ?", tenant)
	w.Eq("workflow_id", f.WorkflowID)
	w.Eq("status", f.Status)
	w.Eq("started_by", f.StartedBy)
	w.Before(f.After)
	return w.Page("seq, body", "runs", "seq DESC", f.Limit)
}

// ListRuns implements cairn.ReadTx.
func (r *Reader) ListRuns(tenant string, f cairn.RunFilter) ([]*cairn.Run, error) {
	q, args := ListRunsQuery(tenant, f)
	return r.Runs(r.query(q, args...))
}

// DueRuns implements cairn.ReadTx.
func (r *Reader) DueRuns(now time.Time, limit int) ([]*cairn.Run, error) {
	return r.Runs(r.query(`SELECT seq, body FROM runs WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at, seq LIMIT ?`, Nanos(now), limit))
}

// GetWorkflow implements cairn.ReadTx.
func (r *Reader) GetWorkflow(tenant, workflowID string) (*cairn.Workflow, error) {
	wf, err := first(r.workflows(r.query(`SELECT seq, body FROM workflows WHERE tenant = ? AND workflow_id = ?`, tenant, workflowID)))
	if wf == nil && err == nil {
		return nil, cairn.NotFound("workflow %q not found", workflowID)
	}
	return wf, err
}

// LatestWorkflow implements cairn.ReadTx.
func (r *Reader) LatestWorkflow(tenant, name string) (*cairn.Workflow, error) {
	wf, err := first(r.workflows(r.query(`SELECT seq, body FROM workflows WHERE tenant = ? AND name = ? ORDER BY version DESC LIMIT 1`, tenant, name)))
	if wf == nil && err == nil {
		return nil, cairn.NotFound("workflow %q not found", name)
	}
	return wf, err
}

// ListWorkflows implements cairn.ReadTx.
func (r *Reader) ListWorkflows(tenant string, f cairn.WorkflowFilter) ([]*cairn.Workflow, error) {
	w := &Where{}
	w.Add("tenant = ?", tenant)
	w.Eq("name", f.Name)
	w.Before(f.After)
	q, args := w.Page("seq, body", "workflows", "seq DESC", f.Limit)
	return r.workflows(r.query(q, args...))
}

// --- policy ---

func (r *Reader) snapshot(q string, args ...any) (*cairn.Snapshot, error) {
	s := &cairn.Snapshot{}
	var created int64
	if err := r.row(q, args...).Scan(&s.ID, &s.SHA256, &s.Text, &created, &s.CreatedBy); err != nil {
		return nil, err
	}
	s.CreatedAt = time.Unix(0, created).UTC()
	return s, nil
}

// ActiveSnapshot implements cairn.ReadTx.
func (r *Reader) ActiveSnapshot() (*cairn.Snapshot, error) {
	s, err := r.snapshot(`SELECT s.id, s.sha256, s.text, a.activated_at, s.created_by FROM policy_active a JOIN snapshots s ON s.id = a.snapshot_id WHERE a.one = 1`)
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	return s, err
}

// GetSnapshot implements cairn.ReadTx.
func (r *Reader) GetSnapshot(id string) (*cairn.Snapshot, error) {
	s, err := r.snapshot(`SELECT id, sha256, text, created_at, created_by FROM snapshots WHERE id = ?`, id)
	if errors.Is(err, ErrNoRows) {
		return nil, cairn.NotFound("policy snapshot %q not found", id)
	}
	return s, err
}

// ListSnapshots implements cairn.ReadTx.
func (r *Reader) ListSnapshots(p cairn.Page) ([]*cairn.Snapshot, error) {
	w := &Where{}
	if p.After > 0 {
		w.Add(r.D.RowSeq+" < ?", p.After)
	}
	q, args := w.Page(r.D.RowSeq+", id, sha256, text, created_at, created_by", "snapshots", r.D.RowSeq+" DESC", p.Limit)
	rows, err := r.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Snapshot
	for rows.Next() {
		s := &cairn.Snapshot{}
		var created int64
		if err := rows.Scan(&s.Seq, &s.ID, &s.SHA256, &s.Text, &created, &s.CreatedBy); err != nil {
			return nil, err
		}
		s.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// ListPolicyAudit implements cairn.ReadTx.
func (r *Reader) ListPolicyAudit(f cairn.AuditFilter) ([]*cairn.PolicyAudit, error) {
	w := &Where{}
	w.Eq("action", f.Action)
	w.Eq("actor", f.Actor)
	w.Span("timestamp", f.Since, f.Until)
	w.Before(f.After)
	q, args := w.Page("seq, body", "policy_audit", "seq DESC", f.Limit)
	rows, err := r.query(q, args...)
	return Bodies(r.D, rows, err, func(a *cairn.PolicyAudit, seq int64) { a.Seq = seq })
}

// StoreSecret implements cairn.ReadTx.
func (r *Reader) StoreSecret(name string) (*cairn.StoreSecret, error) {
	s := &cairn.StoreSecret{Name: name}
	var at int64
	err := r.row(`SELECT value, source, recorded_at FROM store_secrets WHERE name = ?`, name).Scan(&s.Value, &s.Source, &at)
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.RecordedAt = time.Unix(0, at).UTC()
	return s, nil
}
