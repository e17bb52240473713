package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger"
)

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// rtx implements cairn.ReadTx over a read transaction or the writer connection.
type rtx struct {
	ctx   context.Context
	q     querier
	stmts map[string]*sql.Stmt // writer only: prepared statement cache
	// nodes, in read views only, serves and keeps committed Merkle nodes.
	// The writer leaves it nil: what it reads may not be committed yet.
	nodes *ledger.NodeCache
}

func (t *rtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.q.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

func (t *rtx) exec(query string, args ...any) (sql.Result, error) {
	if t.stmts != nil {
		st, err := t.stmt(query)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(t.ctx, args...)
	}
	return t.q.ExecContext(t.ctx, query, args...)
}

func (t *rtx) query(query string, args ...any) (*sql.Rows, error) {
	if t.stmts != nil {
		st, err := t.stmt(query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(t.ctx, args...)
	}
	return t.q.QueryContext(t.ctx, query, args...)
}

func (t *rtx) row(query string, args ...any) *sql.Row {
	if t.stmts != nil {
		if st, err := t.stmt(query); err == nil {
			return st.QueryRowContext(t.ctx, args...)
		}
	}
	return t.q.QueryRowContext(t.ctx, query, args...)
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func optNanos(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanBodies reads rows of one JSON body column into fresh values.
func scanBodies[T any](rows *sql.Rows, err error, seq bool) ([]*T, []int64, error) {
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []*T
	var seqs []int64
	for rows.Next() {
		var body string
		var sq int64
		if seq {
			err = rows.Scan(&sq, &body)
		} else {
			err = rows.Scan(&body)
		}
		if err != nil {
			return nil, nil, err
		}
		v := new(T)
		if err := json.Unmarshal([]byte(body), v); err != nil {
			return nil, nil, fmt.Errorf("sqlite: corrupt row: %w", err)
		}
		out = append(out, v)
		seqs = append(seqs, sq)
	}
	return out, seqs, rows.Err()
}

func one[T any](rows *sql.Rows, err error) (*T, error) {
	vs, _, err := scanBodies[T](rows, err, false)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, cairn.NotFound("not found")
	}
	return vs[0], nil
}

// --- keys and tenants ---

type keyRow struct {
	cairn.Key
	StoredHash string `json:"hash"`
}

func (t *rtx) KeyByHash(hash string) (*cairn.Key, error) {
	kr, err := one[keyRow](t.query(`SELECT body FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, err
	}
	kr.Key.Hash = kr.StoredHash
	return &kr.Key, nil
}

func (t *rtx) ListKeys(tenant string, p cairn.Page) ([]*cairn.Key, error) {
	rows, err := t.query(`SELECT rowid, body FROM api_keys WHERE tenant = ? AND rowid > ? ORDER BY rowid LIMIT ?`, tenant, p.After, p.Limit)
	krs, seqs, err := scanBodies[keyRow](rows, err, true)
	if err != nil {
		return nil, err
	}
	out := make([]*cairn.Key, len(krs))
	for i, kr := range krs {
		k := kr.Key
		k.Hash = ""
		k.Seq = seqs[i]
		out[i] = &k
	}
	return out, nil
}

func (t *rtx) TenantExists(tenant string) (bool, error) {
	var n int
	err := t.row(`SELECT count(*) FROM tenants WHERE tenant = ?`, tenant).Scan(&n)
	return n > 0, err
}

// --- jobs ---

func (t *rtx) JobIDsFrom(tenant, from string, limit int) ([]string, error) {
	return stringColumn(t.query(`SELECT job_id FROM jobs WHERE tenant = ? AND job_id >= ? ORDER BY job_id LIMIT ?`, tenant, from, limit))
}

// stringColumn reads a one-column result of strings.
func stringColumn(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *rtx) GetJob(tenant, jobID string) (*cairn.Job, error) {
	rows, err := t.query(`SELECT seq, body FROM jobs WHERE tenant = ? AND job_id = ?`, tenant, jobID)
	js, seqs, err := scanBodies[cairn.Job](rows, err, true)
	if err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, cairn.NotFound("job %q not found", jobID)
	}
	js[0].Seq = seqs[0]
	return js[0], nil
}

func (t *rtx) ListJobs(tenant string, f cairn.JobFilter) ([]*cairn.Job, error) {
	var where []string
	args := []any{tenant}
	where = append(where, "tenant = ?")
	add := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	add("state", f.State)
	add("action", f.Action)
	add("run_id", f.RunID)
	add("decision", f.Decision)
	add("policy_rule_id", f.PolicyRuleID)
	add("submitted_by", f.SubmittedBy)
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, nanos(f.Until))
	}
	if f.After > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.After)
	}
	args = append(args, f.Limit)
	// state and run_id have indexes; for the other filters the newest-first
	// walk of the primary key is the right plan (SQLite would otherwise pick
	// the (tenant, job_id) key and sort every job of the tenant).
	from := "jobs"
	if f.State == "" && f.RunID == "" {
		from = "jobs NOT INDEXED"
	}
	rows, err := t.query(`SELECT seq, body FROM `+from+` WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...)
	js, seqs, err := scanBodies[cairn.Job](rows, err, true)
	for i := range js {
		js[i].Seq = seqs[i]
	}
	return js, err
}

// leasable is the condition of the partial indexes jobs_queued and
// jobs_queued_action (migration 0006); a query must state it to use them.
// The lease queries name their index (INDEXED BY): SQLite fails them
// rather than fall back to a walk of jobs_state.
const leasable = `state = 'QUEUED' AND executor IS NULL`

func (t *rtx) LeasableJobs(tenant string, actions []string, limit int) ([]*cairn.Job, error) {
	if actions == nil {
		rows, err := t.query(`SELECT seq, body FROM jobs INDEXED BY jobs_queued WHERE tenant = ? AND `+leasable+` ORDER BY seq LIMIT ?`, tenant, limit)
		return jobsWithSeq(rows, err)
	}
	// The oldest limit of each action (index seeks), then the oldest limit
	// of those: the jobs of other actions are never read.
	var seqs []int64
	for _, a := range actions {
		rows, err := t.query(`SELECT seq FROM jobs INDEXED BY jobs_queued_action WHERE tenant = ? AND `+leasable+` AND action = ? ORDER BY seq LIMIT ?`, tenant, a, limit)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var sq int64
			if err := rows.Scan(&sq); err != nil {
				rows.Close()
				return nil, err
			}
			seqs = append(seqs, sq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	slices.Sort(seqs)
	seqs = seqs[:min(limit, len(seqs))]
	args := make([]any, 0, len(seqs)+1)
	args = append(args, tenant)
	for _, sq := range seqs {
		args = append(args, sq)
	}
	rows, err := t.query(`SELECT seq, body FROM jobs WHERE tenant = ? AND seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`) ORDER BY seq`, args...)
	return jobsWithSeq(rows, err)
}

// QueuedActions walks jobs_queued_action by skip scan: each step seeks the
// first action after the previous one.
func (t *rtx) QueuedActions(tenant, from string, limit int) ([]string, error) {
	rows, err := t.query(`WITH RECURSIVE a(action, n) AS (
		SELECT (SELECT action FROM jobs INDEXED BY jobs_queued_action WHERE tenant = ?1 AND `+leasable+` AND action >= ?2 ORDER BY action LIMIT 1), 1
		UNION ALL
		SELECT (SELECT action FROM jobs INDEXED BY jobs_queued_action WHERE tenant = ?1 AND `+leasable+` AND action > a.action ORDER BY action LIMIT 1), a.n + 1
		FROM a WHERE a.action IS NOT NULL AND a.n < ?3
	) SELECT action FROM a WHERE action IS NOT NULL`, tenant, from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func jobsWithSeq(rows *sql.Rows, err error) ([]*cairn.Job, error) {
	js, seqs, err := scanBodies[cairn.Job](rows, err, true)
	for i := range js {
		js[i].Seq = seqs[i]
	}
	return js, err
}

func (t *rtx) ListRunJobs(tenant, runID string, limit int) ([]*cairn.Job, error) {
	rows, err := t.query(`SELECT seq, body FROM jobs WHERE tenant = ? AND run_id = ? ORDER BY seq LIMIT ?`, tenant, runID, limit)
	js, seqs, err := scanBodies[cairn.Job](rows, err, true)
	for i := range js {
		js[i].Seq = seqs[i]
	}
	return js, err
}

// openRunJobsQuery counts a run's open jobs through jobs_open_by_run
// (migration 0007), whose WHERE its own matches.
const openRunJobsQuery = `SELECT count(*) FROM jobs WHERE tenant = ? AND run_id = ? AND state IN ('PENDING_APPROVAL', 'QUEUED', 'RUNNING')`

func (t *rtx) OpenRunJobs(tenant, runID string) (int, error) {
	var n int
	err := t.row(openRunJobsQuery, tenant, runID).Scan(&n)
	return n, err
}

func (t *rtx) GetPayload(tenant, ptr string) (*cairn.Payload, error) {
	p := &cairn.Payload{Tenant: tenant, Ptr: ptr}
	err := t.row(`SELECT sha256, data FROM payloads WHERE tenant = ? AND ptr = ?`, tenant, ptr).Scan(&p.SHA256, &p.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cairn.NotFound("payload %q not found", ptr)
	}
	return p, err
}

// --- evidence events ---

func (t *rtx) events(raw bool, query string, args ...any) ([]*cairn.Event, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Event
	for rows.Next() {
		var body, leaf string
		if err := rows.Scan(&body, &leaf); err != nil {
			return nil, err
		}
		if raw {
			ev, err := cairn.APIEventFromLedger(body, leaf)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
			continue
		}
		ev, err := cairn.EventFromLedger(body, leaf)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (t *rtx) ListEvents(tenant string, f cairn.EventFilter) ([]*cairn.Event, error) {
	if f.RunID != "" {
		return t.events(f.RawOnly, `SELECT body, leaf_hash FROM ledger WHERE tenant = ? AND run_id = ? AND run_seq > ? ORDER BY run_seq LIMIT ?`, tenant, f.RunID, f.After, f.Limit)
	}
	return t.events(f.RawOnly, `SELECT body, leaf_hash FROM ledger INDEXED BY ledger_job WHERE tenant = ? AND job_id = ? AND idx >= ? ORDER BY idx LIMIT ?`, tenant, f.JobID, f.After, f.Limit)
}

func (t *rtx) ListDecisions(tenant, jobID string) ([]*cairn.Decision, error) {
	evs, err := t.events(false, `SELECT body, leaf_hash FROM ledger INDEXED BY ledger_job WHERE tenant = ? AND job_id = ? AND type = 'policy_decided' ORDER BY idx`, tenant, jobID)
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

func (t *rtx) GetApproval(tenant, jobID string) (*cairn.Approval, error) {
	rows, err := t.query(`SELECT seq, body FROM approvals WHERE tenant = ? AND job_id = ?`, tenant, jobID)
	as, seqs, err := scanBodies[cairn.Approval](rows, err, true)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, &cairn.Error{Status: 404, Code: cairn.CodeNoApprovalPending, Message: fmt.Sprintf("job %q has no approval", jobID)}
	}
	as[0].Seq = seqs[0]
	as[0].Tenant = tenant
	return as[0], nil
}

func (t *rtx) ListApprovals(tenant string, f cairn.ApprovalFilter) ([]*cairn.Approval, error) {
	where := []string{"tenant = ?"}
	args := []any{tenant}
	if !f.IncludeResolved {
		where = append(where, "status = 'pending'")
	}
	add := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	add("run_id", f.RunID)
	add("policy_rule_id", f.PolicyRuleID)
	add("resolved_by", f.ResolvedBy)
	if !f.Since.IsZero() {
		where = append(where, "requested_at >= ?")
		args = append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "requested_at < ?")
		args = append(args, nanos(f.Until))
	}
	if f.After > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.After)
	}
	args = append(args, f.Limit)
	rows, err := t.query(`SELECT seq, body FROM approvals WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...)
	if f.RawOnly {
		return rawApprovals(rows, err)
	}
	as, seqs, err := scanBodies[cairn.Approval](rows, err, true)
	for i := range as {
		as[i].Seq = seqs[i]
		as[i].Tenant = tenant
	}
	return as, err
}

func rawApprovals(rows *sql.Rows, err error) ([]*cairn.Approval, error) {
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

func (t *rtx) DueApprovals(now time.Time, limit int) ([]*cairn.Approval, error) {
	rows, err := t.query(`SELECT seq, body FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`, nanos(now), limit)
	as, seqs, err := scanBodies[cairn.Approval](rows, err, true)
	if err != nil {
		return nil, err
	}
	// Tenant is not in the body; read it back.
	for i, a := range as {
		a.Seq = seqs[i]
		if err := t.row(`SELECT tenant FROM approvals WHERE seq = ?`, a.Seq).Scan(&a.Tenant); err != nil {
			return nil, err
		}
	}
	return as, nil
}

func (t *rtx) ExpiredLeases(now time.Time, limit int) ([]*cairn.Job, error) {
	rows, err := t.query(`SELECT seq, body FROM jobs WHERE state = 'RUNNING' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?`, nanos(now), limit)
	js, seqs, err := scanBodies[cairn.Job](rows, err, true)
	for i := range js {
		js[i].Seq = seqs[i]
	}
	return js, err
}

func (t *rtx) NextDeadline() (time.Time, error) {
	var a, l, w sql.NullInt64
	if err := t.row(`SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL`).Scan(&a); err != nil {
		return time.Time{}, err
	}
	if err := t.row(`SELECT min(lease_expires_at) FROM jobs WHERE state = 'RUNNING'`).Scan(&l); err != nil {
		return time.Time{}, err
	}
	if err := t.row(`SELECT min(wake_at) FROM runs WHERE wake_at IS NOT NULL`).Scan(&w); err != nil {
		return time.Time{}, err
	}
	var best int64
	for _, v := range []sql.NullInt64{a, l, w} {
		if v.Valid && (best == 0 || v.Int64 < best) {
			best = v.Int64
		}
	}
	if best == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, best).UTC(), nil
}

// --- runs ---

func (t *rtx) GetRun(tenant, runID string) (*cairn.Run, error) {
	rs, err := runsWithSeq(t.query(`SELECT seq, body FROM runs WHERE tenant = ? AND run_id = ?`, tenant, runID))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, cairn.NotFound("run %q not found", runID)
	}
	return rs[0], nil
}

// --- policy ---

func (t *rtx) snapshot(query string, args ...any) (*cairn.Snapshot, error) {
	s := &cairn.Snapshot{}
	var created int64
	err := t.row(query, args...).Scan(&s.ID, &s.SHA256, &s.Text, &created, &s.CreatedBy)
	if err != nil {
		return nil, err
	}
	s.CreatedAt = time.Unix(0, created).UTC()
	return s, nil
}

func (t *rtx) ActiveSnapshot() (*cairn.Snapshot, error) {
	s, err := t.snapshot(`SELECT s.id, s.sha256, s.text, a.activated_at, s.created_by FROM policy_active a JOIN snapshots s ON s.id = a.snapshot_id WHERE a.one = 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return s, err
}

func (t *rtx) GetSnapshot(id string) (*cairn.Snapshot, error) {
	s, err := t.snapshot(`SELECT id, sha256, text, created_at, created_by FROM snapshots WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cairn.NotFound("policy snapshot %q not found", id)
	}
	return s, err
}

func (t *rtx) ListSnapshots(p cairn.Page) ([]*cairn.Snapshot, error) {
	q := `SELECT rowid, id, sha256, text, created_at, created_by FROM snapshots WHERE (? = 0 OR rowid < ?) ORDER BY rowid DESC LIMIT ?`
	rows, err := t.query(q, p.After, p.After, p.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Snapshot
	for rows.Next() {
		s := &cairn.Snapshot{}
		var rowid, created int64
		if err := rows.Scan(&rowid, &s.ID, &s.SHA256, &s.Text, &created, &s.CreatedBy); err != nil {
			return nil, err
		}
		s.CreatedAt = time.Unix(0, created).UTC()
		s.Seq = rowid
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *rtx) ListPolicyAudit(f cairn.AuditFilter) ([]*cairn.PolicyAudit, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if !f.Since.IsZero() {
		where = append(where, "timestamp >= ?")
		args = append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "timestamp < ?")
		args = append(args, nanos(f.Until))
	}
	if f.After > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.After)
	}
	args = append(args, f.Limit)
	rows, err := t.query(`SELECT seq, body FROM policy_audit WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...)
	as, seqs, err := scanBodies[cairn.PolicyAudit](rows, err, true)
	for i := range as {
		as[i].Seq = seqs[i]
	}
	return as, err
}

// --- ledger ---

func (t *rtx) LedgerSize(tenant string) (uint64, error) {
	var n sql.NullInt64
	err := t.row(`SELECT max(idx) FROM ledger WHERE tenant = ?`, tenant).Scan(&n)
	if err != nil || !n.Valid {
		return 0, err
	}
	return uint64(n.Int64) + 1, nil
}

func (t *rtx) LedgerEntries(tenant string, from uint64, limit int) ([]*cairn.LedgerEntry, error) {
	rows, err := t.query(`SELECT idx, body, leaf_hash, prev_hash FROM ledger WHERE tenant = ? AND idx >= ? ORDER BY idx LIMIT ?`, tenant, from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.LedgerEntry
	for rows.Next() {
		e := &cairn.LedgerEntry{Tenant: tenant}
		var body string
		if err := rows.Scan(&e.Index, &body, &e.LeafHash, &e.PrevHash); err != nil {
			return nil, err
		}
		e.Body = json.RawMessage(body)
		out = append(out, e)
	}
	return out, rows.Err()
}

// --- writes ---

// wtx implements cairn.Tx on the writer connection.
type wtx struct {
	rtx
	s           *Store
	heads       *ledger.Heads            // ledger heads as this op sees them (op or batch tier)
	newNodes    map[string][]ledger.Node // Merkle nodes this op created
	active      *string                  // the active snapshot id as this op read or set it
	batchActive *string                  // as earlier ops of the batch left it
	after       []func()
}

func isUnique(err error) bool { return strings.Contains(err.Error(), "UNIQUE") }

func (t *wtx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

func (t *wtx) CreateTenant(tenant string, at time.Time) error {
	_, err := t.exec(`INSERT INTO tenants(tenant, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, tenant, nanos(at))
	return err
}

func (t *wtx) InsertKey(k *cairn.Key) error {
	body, err := json.Marshal(keyRow{Key: *k, StoredHash: k.Hash})
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO api_keys(key_id, tenant, hash, body, created_at) VALUES (?, ?, ?, ?, ?)`, k.KeyID, k.Tenant, k.Hash, string(body), nanos(k.CreatedAt))
	return err
}

func (t *wtx) RevokeKey(tenant, keyID string, at time.Time) error {
	kr, err := one[keyRow](t.query(`SELECT body FROM api_keys WHERE tenant = ? AND key_id = ?`, tenant, keyID))
	if err != nil {
		return err
	}
	if kr.RevokedAt != nil {
		return cairn.Conflict(cairn.EConflict, "key %q is already revoked", keyID)
	}
	kr.RevokedAt = &at
	body, err := json.Marshal(kr)
	if err != nil {
		return err
	}
	_, err = t.exec(`UPDATE api_keys SET body = ?, revoked_at = ? WHERE tenant = ? AND key_id = ?`, string(body), nanos(at), tenant, keyID)
	return err
}

// jobExecutor is the principal a job is bound to ("" for none), stored in
// the executor column that keeps such jobs out of glob leases' indexes.
func jobExecutor(j *cairn.Job) string { return j.Executor }

func (t *wtx) InsertJob(j *cairn.Job) error {
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	res, err := t.exec(`INSERT INTO jobs(tenant, job_id, run_id, state, action, decision, policy_rule_id, submitted_by, created_at, lease_expires_at, executor, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		j.Tenant, j.JobID, nullStr(string(j.RunID)), j.State, j.Action, j.Decision, nullStr(string(j.PolicyRuleID)), j.SubmittedBy, nanos(j.CreatedAt), optNanos(j.LeaseExpiresAt), nullStr(jobExecutor(j)), string(body))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return cairn.Conflict(cairn.CodeJobConflict, "job %q already exists", j.JobID)
		}
		return err
	}
	j.Seq, err = res.LastInsertId()
	return err
}

func (t *wtx) UpdateJob(j *cairn.Job) error {
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE jobs SET state = ?, decision = ?, policy_rule_id = ?, lease_expires_at = ?, executor = ?, body = ? WHERE tenant = ? AND job_id = ?`,
		j.State, j.Decision, nullStr(string(j.PolicyRuleID)), optNanos(j.LeaseExpiresAt), nullStr(jobExecutor(j)), string(body), j.Tenant, j.JobID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return cairn.NotFound("job %q not found", j.JobID)
	}
	return nil
}

func (t *wtx) PutPayload(p *cairn.Payload) error {
	_, err := t.exec(`INSERT INTO payloads(tenant, ptr, sha256, data) VALUES (?,?,?,?)`, p.Tenant, p.Ptr, p.SHA256, p.Data)
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return cairn.Conflict(cairn.EConflict, "payload %q already stored", p.Ptr)
	}
	return err
}

func (t *wtx) InsertApproval(a *cairn.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res, err := t.exec(`INSERT INTO approvals(tenant, job_id, status, run_id, policy_rule_id, resolved_by, requested_at, expires_at, body) VALUES (?,?,?,?,?,?,?,?,?)`,
		a.Tenant, a.JobID, a.Status, nullStr(string(a.RunID)), nullStr(string(a.PolicyRuleID)), nullStr(string(a.ResolvedBy)), nanos(a.RequestedAt), optNanos(a.ExpiresAt), string(body))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return cairn.Conflict(cairn.EConflict, "job %q already has an approval", a.JobID)
		}
		return err
	}
	a.Seq, err = res.LastInsertId()
	return err
}

func (t *wtx) ResolveApproval(a *cairn.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE approvals SET status = ?, resolved_by = ?, body = ? WHERE tenant = ? AND job_id = ? AND status = 'pending'`,
		a.Status, nullStr(string(a.ResolvedBy)), string(body), a.Tenant, a.JobID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return cairn.Conflict(cairn.CodeApprovalAlreadyResolved, "approval for job %q is already resolved", a.JobID)
	}
	return nil
}

// runBody is the stored JSON of a run: the run without its jobs.
func runBody(r *cairn.Run) (string, error) {
	r2 := *r
	r2.Jobs = nil
	body, err := json.Marshal(&r2)
	return string(body), err
}

// InsertRun stores a new run and sets r.Seq.
func (t *wtx) InsertRun(r *cairn.Run) error {
	body, err := runBody(r)
	if err != nil {
		return err
	}
	res, err := t.exec(`INSERT INTO runs(tenant, run_id, workflow_id, status, started_by, wake_at, body) VALUES (?,?,?,?,?,?,?)`,
		r.Tenant, r.RunID, nullStr(r.WorkflowID), r.Status, r.StartedBy, optNanos(r.WakeAt), body)
	if err != nil {
		if isUnique(err) {
			return cairn.Conflict(cairn.CodeRunConflict, "run %q already exists", r.RunID)
		}
		return err
	}
	r.Seq, err = res.LastInsertId()
	return err
}

// UpdateRun replaces the run's body and its indexed copies (seq stays).
func (t *wtx) UpdateRun(r *cairn.Run) error {
	body, err := runBody(r)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE runs SET workflow_id = ?, status = ?, started_by = ?, wake_at = ?, body = ? WHERE tenant = ? AND run_id = ?`,
		nullStr(r.WorkflowID), r.Status, r.StartedBy, optNanos(r.WakeAt), body, r.Tenant, r.RunID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return cairn.NotFound("run %q not found", r.RunID)
	}
	return nil
}

func (t *wtx) InsertSnapshot(s *cairn.Snapshot) error {
	_, err := t.exec(`INSERT INTO snapshots(id, sha256, text, created_at, created_by) VALUES (?,?,?,?,?) ON CONFLICT(id) DO NOTHING`, s.ID, s.SHA256, s.Text, nanos(s.CreatedAt), s.CreatedBy)
	return err
}

func (t *wtx) SetActiveSnapshot(id string, at time.Time) error {
	_, err := t.exec(`INSERT INTO policy_active(one, snapshot_id, activated_at) VALUES (1, ?, ?) ON CONFLICT(one) DO UPDATE SET snapshot_id = excluded.snapshot_id, activated_at = excluded.activated_at`, id, nanos(at))
	if err == nil {
		t.active = &id
	}
	return err
}

// ActiveSnapshotID is the active snapshot id as this op sees it: set by
// it, or by earlier ops of the batch, or committed. The writer is the
// store's only writer, so it keeps the committed id (Store.active) and
// reads the table only once after opening or a failed commit.
func (t *wtx) ActiveSnapshotID() (string, error) {
	switch {
	case t.active != nil:
		return *t.active, nil
	case t.batchActive != nil:
		return *t.batchActive, nil
	case t.s.activeOK:
		return t.s.active, nil
	}
	var id string
	err := t.row(`SELECT snapshot_id FROM policy_active WHERE one = 1`).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	t.active = &id
	return id, nil
}

func (t *wtx) InsertPolicyAudit(a *cairn.PolicyAudit) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res, err := t.exec(`INSERT INTO policy_audit(action, actor, timestamp, body) VALUES (?,?,?,?)`, a.Action, a.Actor, nanos(a.Timestamp), string(body))
	if err != nil {
		return err
	}
	a.Seq, err = res.LastInsertId()
	return err
}

// head returns the tenant's ledger head as this op sees it: from the
// writer's tiers of heads, else from the ledger table.
func (t *wtx) head(tenant string) (*ledger.Head, error) {
	if h := t.heads.Get(tenant); h != nil {
		return h, nil
	}
	var idx sql.NullInt64
	var hash sql.NullString
	err := t.row(`SELECT idx, leaf_hash FROM ledger WHERE tenant = ? ORDER BY idx DESC LIMIT 1`, tenant).Scan(&idx, &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	h := &ledger.Head{}
	if err == nil {
		h.Size, h.Hash = uint64(idx.Int64)+1, hash.String
	}
	t.heads.Put(tenant, h)
	return h, nil
}

// RunHead implements ledger.Source: the run's last timeline seq in the
// ledger, as this transaction sees it.
func (t *wtx) RunHead(tenant, runID string) (int64, error) {
	var n sql.NullInt64
	err := t.row(`SELECT max(run_seq) FROM ledger WHERE tenant = ? AND run_id = ?`, tenant, runID).Scan(&n)
	return n.Int64, err
}

// Nodes implements ledger.Source.
func (t *wtx) Nodes(tenant string) ledger.NodeReader { return nodeReader{t: &t.rtx, tenant: tenant} }

// maintainTree is switched off only by benchmarks that measure what
// persisting the tree costs (export_test.go); production code never
// changes it.
var maintainTree = true

// AppendEvent appends through the ledger kernel and writes the row and the
// persisted Merkle nodes.
func (t *wtx) AppendEvent(ev *cairn.Event) error {
	r, nodes, err := sqlstore.AppendEvent(ev, t.head, t)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	var runSeq any
	if r.RunSeq > 0 {
		runSeq = r.RunSeq
	}
	if _, err := t.exec(`INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, body, leaf_hash, prev_hash) VALUES (?,?,?,?,?,?,?,?,?)`,
		r.Tenant, r.Index, r.Type, nullStr(r.RunID), runSeq, nullStr(r.JobID), string(r.Body), r.LeafHex, r.PrevHash); err != nil {
		return err
	}
	if !maintainTree {
		return nil
	}
	if t.newNodes == nil {
		t.newNodes = map[string][]ledger.Node{}
	}
	t.newNodes[r.Tenant] = append(t.newNodes[r.Tenant], nodes...)
	for _, n := range nodes {
		if n.Level < ledger.StoredLevel {
			continue
		}
		if _, err := t.exec(`INSERT INTO ledger_nodes(tenant, level, idx, hash) VALUES (?,?,?,?)`, r.Tenant, n.Level, n.Index, n.Hash[:]); err != nil {
			return err
		}
	}
	return nil
}

var _ cairn.Tx = (*wtx)(nil)
