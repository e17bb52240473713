package sqlstore

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/jobrow"
)

// Writer implements the writes of cairn.Tx that both engines run with the
// same SQL. Inserts that may conflict use ON CONFLICT DO NOTHING and judge
// the outcome by the rows changed or returned, never by a failed
// statement: a failed statement aborts a PostgreSQL transaction, and the
// same SQL then means the same thing on SQLite. Whether a write runs at
// once or is deferred into the transaction's pipeline is the DB's
// (DB.Write); a write whose outcome the caller needs before it goes on
// uses DB.Exec, which runs at once on every engine. A store embeds a Writer in its write transaction and wraps
// what needs more (PostgreSQL's notes and caches).
type Writer struct {
	DB DB
	D  *Dialect
}

// CreateTenant implements cairn.Tx.
func (w *Writer) CreateTenant(tenant string, at time.Time) error {
	return w.DB.Write(Write{SQL: `INSERT INTO tenants(tenant, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, Args: []any{tenant, Nanos(at)}})
}

// InsertKey implements cairn.Tx.
func (w *Writer) InsertKey(k *cairn.Key) error {
	body, err := json.Marshal(KeyRow{Key: *k, StoredHash: k.Hash})
	if err != nil {
		return err
	}
	return w.DB.Write(Write{SQL: `INSERT INTO api_keys(key_id, tenant, hash, body, created_at) VALUES (?, ?, ?, ?, ?)`,
		Args: []any{k.KeyID, k.Tenant, k.Hash, string(body), Nanos(k.CreatedAt)}})
}

// RevokeKey implements cairn.Tx.
func (w *Writer) RevokeKey(tenant, keyID string, at time.Time) error {
	rows, err := w.DB.Query(`SELECT 0, body FROM api_keys WHERE tenant = ? AND key_id = ?`, tenant, keyID)
	kr, err := first(Bodies(w.D, rows, err, func(*KeyRow, int64) {}))
	if err != nil {
		return err
	}
	if kr == nil {
		return cairn.NotFound("not found")
	}
	if kr.RevokedAt != nil {
		return cairn.Conflict(cairn.EConflict, "key %q is already revoked", keyID)
	}
	kr.RevokedAt = &at
	body, err := json.Marshal(kr)
	if err != nil {
		return err
	}
	return w.DB.Write(Write{SQL: `UPDATE api_keys SET body = ?, revoked_at = ? WHERE tenant = ? AND key_id = ?`, Args: []any{string(body), Nanos(at), tenant, keyID}})
}

// JobColumns are the columns of an inserted job, and JobArgs their values.
const JobColumns = `tenant, job_id, run_id, state, action, decision, policy_rule_id, submitted_by, created_at, lease_expires_at, executor, body`

// JobArgs returns the values of JobColumns for j: its columns
// (jobrow.Of) and its body without what they hold (jobrow.Body), packed.
func JobArgs(j *cairn.Job) ([]any, error) {
	c, packed, err := jobRow(j)
	if err != nil {
		return nil, err
	}
	return []any{c.Tenant, c.JobID, NullStr(c.RunID), c.State, c.Action, c.Decision, NullStr(c.PolicyRuleID), c.SubmittedBy,
		c.CreatedAt, leaseArg(c), NullStr(c.Executor), packed}, nil
}

// jobRow is j's row: its columns and its packed body.
func jobRow(j *cairn.Job) (jobrow.Columns, []byte, error) {
	packed, err := PackJob(j)
	return jobrow.Of(j), packed, err
}

// leaseArg is the lease_expires_at column's value: NULL when unset.
func leaseArg(c jobrow.Columns) any {
	if c.LeaseExpiresAt == nil {
		return nil
	}
	return *c.LeaseExpiresAt
}

// InsertJob implements cairn.Tx at once: a duplicate is job_id_conflict
// and leaves the transaction usable (Submit then reads the existing job).
func (w *Writer) InsertJob(j *cairn.Job) error {
	args, err := JobArgs(j)
	if err != nil {
		return err
	}
	id := j.JobID
	return w.DB.Exec(Write{SQL: InsertJobSQL, Args: args, Seq: &j.Seq,
		One: func() error { return cairn.Conflict(cairn.CodeJobConflict, "job %q already exists", id) }})
}

// InsertJobSQL inserts the JobColumns of a job that does not exist yet.
const InsertJobSQL = `INSERT INTO jobs(` + JobColumns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (tenant, job_id) DO NOTHING`

// UpdateJob implements cairn.Tx. The executor column holds the principal
// a job is bound to, which keeps such jobs out of glob leases' indexes.
//
// The columns a job's body leaves out are the row's (ADR 0047): those an
// update does not set (tenant, job_id, run_id, action, submitted_by,
// created_at) never change.
func (w *Writer) UpdateJob(j *cairn.Job) error {
	c, packed, err := jobRow(j)
	if err != nil {
		return err
	}
	id := j.JobID
	return w.DB.Write(Write{SQL: `UPDATE jobs SET state = ?, decision = ?, policy_rule_id = ?, lease_expires_at = ?, executor = ?, body = ? WHERE tenant = ? AND job_id = ?`,
		Args: []any{c.State, c.Decision, NullStr(c.PolicyRuleID), leaseArg(c), NullStr(c.Executor), packed, c.Tenant, c.JobID},
		One:  func() error { return cairn.NotFound("job %q not found", id) }})
}

// PutPayload implements cairn.Tx.
func (w *Writer) PutPayload(p *cairn.Payload) error {
	ptr := p.Ptr
	args, err := payloadArgs(p)
	if err != nil {
		return err
	}
	return w.DB.Write(Write{SQL: `INSERT INTO payloads(tenant, ptr, sha256, data, key_id) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`, Args: args,
		One: func() error { return cairn.Conflict(cairn.EConflict, "payload %q already stored", ptr) }})
}

// InsertApproval implements cairn.Tx; a.Seq is set when the write runs.
func (w *Writer) InsertApproval(a *cairn.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return w.DB.Write(Write{
		SQL: `INSERT INTO approvals(tenant, job_id, status, run_id, policy_rule_id, resolved_by, requested_at, expires_at, body)
		VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (tenant, job_id) DO NOTHING`,
		Args: []any{a.Tenant, a.JobID, a.Status, NullStr(string(a.RunID)), NullStr(string(a.PolicyRuleID)), NullStr(string(a.ResolvedBy)), Nanos(a.RequestedAt), OptNanos(a.ExpiresAt), string(body)},
		Seq:  &a.Seq,
		One:  func() error { return cairn.Conflict(cairn.EConflict, "job %q already has an approval", a.JobID) },
	})
}

// ResolveApproval implements cairn.Tx.
func (w *Writer) ResolveApproval(a *cairn.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	id := a.JobID
	return w.DB.Write(Write{SQL: `UPDATE approvals SET status = ?, resolved_by = ?, body = ? WHERE tenant = ? AND job_id = ? AND status = 'pending'`,
		Args: []any{a.Status, NullStr(string(a.ResolvedBy)), string(body), a.Tenant, a.JobID},
		One: func() error {
			return cairn.Conflict(cairn.CodeApprovalAlreadyResolved, "approval for job %q is already resolved", id)
		}})
}

// RunBody is the stored JSON of a run: the run without its jobs.
func RunBody(r *cairn.Run) ([]byte, error) {
	r2 := *r
	r2.Jobs = nil
	return json.Marshal(&r2)
}

// InsertRun implements cairn.Tx at once.
func (w *Writer) InsertRun(r *cairn.Run) error {
	body, err := RunBody(r)
	if err != nil {
		return err
	}
	id := r.RunID
	return w.DB.Exec(Write{SQL: `INSERT INTO runs(tenant, run_id, workflow_id, status, started_by, wake_at, body) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{r.Tenant, r.RunID, NullStr(r.WorkflowID), r.Status, r.StartedBy, OptNanos(r.WakeAt), string(body)}, Seq: &r.Seq,
		One: func() error { return cairn.Conflict(cairn.CodeRunConflict, "run %q already exists", id) }})
}

// UpdateRun implements cairn.Tx: it replaces the run's body and its
// indexed copies (seq stays).
func (w *Writer) UpdateRun(r *cairn.Run) error {
	body, err := RunBody(r)
	if err != nil {
		return err
	}
	return w.UpdateRunBody(r, body)
}

// UpdateRunBody is UpdateRun with the body already built.
func (w *Writer) UpdateRunBody(r *cairn.Run, body []byte) error {
	id := r.RunID
	return w.DB.Write(Write{SQL: `UPDATE runs SET workflow_id = ?, status = ?, started_by = ?, wake_at = ?, body = ? WHERE tenant = ? AND run_id = ?`,
		Args: []any{NullStr(r.WorkflowID), r.Status, r.StartedBy, OptNanos(r.WakeAt), string(body), r.Tenant, r.RunID},
		One:  func() error { return cairn.NotFound("run %q not found", id) }})
}

// InsertWorkflow implements cairn.Tx at once, so that a duplicate fails
// only this call (workflow_exists) and leaves the transaction usable.
// Registrations are rare: the round trip is cheap.
func (w *Writer) InsertWorkflow(wf *cairn.Workflow) error {
	body, err := json.Marshal(wf)
	if err != nil {
		return err
	}
	err = w.DB.Exec(Write{SQL: `INSERT INTO workflows(tenant, workflow_id, name, version, created_at, body) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{wf.Tenant, wf.WorkflowID, wf.Name, wf.Version, Nanos(wf.CreatedAt), string(body)}, Seq: &wf.Seq,
		One: func() error { return errNotInserted }})
	if !errors.Is(err, errNotInserted) {
		return err
	}
	var n int
	if err := w.DB.QueryRow(`SELECT count(*) FROM workflows WHERE tenant = ? AND workflow_id = ?`, wf.Tenant, wf.WorkflowID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return cairn.Conflict(cairn.EConflict, "workflow %q already has a version %d", wf.Name, wf.Version)
	}
	return cairn.Conflict(cairn.CodeWorkflowExists, "workflow %q is already registered", wf.WorkflowID)
}

// errNotInserted is InsertWorkflow's One: the insert met a conflict.
var errNotInserted = errors.New("sqlstore: not inserted")

// InsertSnapshot implements cairn.Tx.
func (w *Writer) InsertSnapshot(s *cairn.Snapshot) error {
	return w.DB.Write(Write{SQL: `INSERT INTO snapshots(id, sha256, text, created_at, created_by) VALUES (?,?,?,?,?) ON CONFLICT (id) DO NOTHING`,
		Args: []any{s.ID, s.SHA256, s.Text, Nanos(s.CreatedAt), s.CreatedBy}})
}

// SetActiveSnapshot implements cairn.Tx; the store keeps the id it sets.
func (w *Writer) SetActiveSnapshot(id string, at time.Time) error {
	return w.DB.Write(Write{SQL: `INSERT INTO policy_active(one, snapshot_id, activated_at) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET snapshot_id = excluded.snapshot_id, activated_at = excluded.activated_at`,
		Args: []any{id, Nanos(at)}})
}

// InsertPolicyAudit implements cairn.Tx; a.Seq is set when the write runs.
func (w *Writer) InsertPolicyAudit(a *cairn.PolicyAudit) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return w.DB.Write(Write{SQL: `INSERT INTO policy_audit(action, actor, timestamp, body) VALUES (?,?,?,?)`,
		Args: []any{a.Action, a.Actor, Nanos(a.Timestamp), string(body)}, Seq: &a.Seq})
}

// InsertCheckpoint implements cairn.Tx.
func (w *Writer) InsertCheckpoint(c *cairn.Checkpoint) error {
	return w.DB.Write(Write{SQL: `INSERT INTO checkpoints(tenant, size, root_hash, note, created_at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{c.Tenant, int64(c.Size), c.RootHash, c.Note, Nanos(c.CreatedAt)}})
}

// InsertCosignature implements cairn.Tx.
func (w *Writer) InsertCosignature(tenant string, size uint64, c *cairn.Cosignature) error {
	witness := c.Witness
	return w.DB.Write(Write{SQL: `INSERT INTO cosignatures(tenant, size, witness, note, created_at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{tenant, int64(size), c.Witness, c.Note, Nanos(c.CreatedAt)},
		One: func() error {
			return cairn.Conflict(cairn.EConflict, "witness %q already cosigned checkpoint %d", witness, size)
		}})
}

// RecordStoreSecret implements cairn.Tx.
func (w *Writer) RecordStoreSecret(s *cairn.StoreSecret) error {
	return w.DB.Write(Write{SQL: `INSERT INTO store_secrets(name, value, source, recorded_at) VALUES (?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{s.Name, s.Value, s.Source, Nanos(s.RecordedAt)}})
}
