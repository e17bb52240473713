package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// rtx implements cairn.ReadTx over a read transaction (View) or, with b
// set, the writer's transaction. Write transactions hold the store's write
// lock, so their reads need no row locks: nothing else writes meanwhile.
type rtx struct {
	ctx context.Context
	q   querier
	b   *batch // write transactions only
	// nodes, in read views only, serves and keeps committed Merkle nodes
	// (read-through: every replica appends to the one ledger).
	nodes *ledger.NodeCache
}

func (t *rtx) query(sql string, args ...any) (pgx.Rows, error) {
	return t.q.Query(t.ctx, sql, args...)
}

func (t *rtx) row(sql string, args ...any) pgx.Row {
	return t.q.QueryRow(t.ctx, sql, args...)
}

// ledgerRead makes the transaction's buffered ledger rows visible before a
// read of the ledger tables.
func (t *rtx) ledgerRead() error {
	if t.b != nil {
		return t.b.flush()
	}
	return nil
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

// scanBodies reads rows of (seq, body) or (body) into fresh values.
func scanBodies[T any](rows pgx.Rows, err error, seq bool) ([]*T, []int64, error) {
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []*T
	var seqs []int64
	for rows.Next() {
		var body []byte
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
		if err := json.Unmarshal(body, v); err != nil {
			return nil, nil, fmt.Errorf("postgres: corrupt row: %w", err)
		}
		out = append(out, v)
		seqs = append(seqs, sq)
	}
	return out, seqs, rows.Err()
}

func one[T any](rows pgx.Rows, err error) (*T, error) {
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
	kr, err := one[keyRow](t.query(`SELECT body FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		return nil, err
	}
	kr.Key.Hash = kr.StoredHash
	return &kr.Key, nil
}

func (t *rtx) ListKeys(tenant string, p cairn.Page) ([]*cairn.Key, error) {
	rows, err := t.query(`SELECT seq, body FROM api_keys WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3`, tenant, p.After, p.Limit)
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
	var ok bool
	err := t.row(`SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant = $1)`, tenant).Scan(&ok)
	return ok, err
}

// --- jobs ---

func jobsWithSeq(rows pgx.Rows, err error) ([]*cairn.Job, error) {
	js, seqs, err := scanBodies[cairn.Job](rows, err, true)
	for i := range js {
		js[i].Seq = seqs[i]
	}
	return js, err
}

func (t *rtx) JobIDsFrom(tenant, from string, limit int) ([]string, error) {
	rows, err := t.query(`SELECT job_id FROM jobs WHERE tenant = $1 AND job_id >= $2 ORDER BY job_id LIMIT $3`, tenant, from, limit)
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
	js, err := jobsWithSeq(t.query(`SELECT seq, body FROM jobs WHERE tenant = $1 AND job_id = $2`, tenant, jobID))
	if err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, cairn.NotFound("job %q not found", jobID)
	}
	return js[0], nil
}

// where builds a conjunction with numbered parameters.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

func (w *where) limit(n int) string {
	w.args = append(w.args, n)
	return " LIMIT $" + strconv.Itoa(len(w.args))
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

func (t *rtx) ListJobs(tenant string, f cairn.JobFilter) ([]*cairn.Job, error) {
	w := &where{}
	w.add("tenant = ?", tenant)
	w.eq("state", f.State)
	w.eq("action", f.Action)
	w.eq("run_id", f.RunID)
	w.eq("decision", f.Decision)
	w.eq("policy_rule_id", f.PolicyRuleID)
	w.eq("submitted_by", f.SubmittedBy)
	if !f.Since.IsZero() {
		w.add("created_at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("created_at < ?", nanos(f.Until))
	}
	if f.After > 0 {
		w.add("seq < ?", f.After)
	}
	q := `SELECT seq, body FROM jobs WHERE ` + w.sql() + ` ORDER BY seq DESC` + w.limit(f.Limit)
	return jobsWithSeq(t.query(q, w.args...))
}

// leasable is the condition of the partial indexes jobs_queued and
// jobs_queued_action (migration 0005); a query must state it to use them.
const leasable = `state = 'QUEUED' AND executor IS NULL`

// The lease queries (TestLeasePlan checks their plans).
const (
	// leasableAny ($1 tenant, $2 limit): the oldest leasable jobs.
	leasableAny = `SELECT seq, body FROM jobs WHERE tenant = $1 AND ` + leasable + ` ORDER BY seq LIMIT $2`
	// leasableOf ($1 tenant, $2 actions, $3 limit): the oldest $3 of each
	// action (index-only seeks), then the oldest $3 of those.
	leasableOf = `SELECT seq, body FROM jobs WHERE tenant = $1 AND seq IN (
		SELECT q.seq FROM unnest($2::text[]) AS a(action)
		CROSS JOIN LATERAL (SELECT seq FROM jobs WHERE tenant = $1 AND ` + leasable + ` AND action = a.action ORDER BY seq LIMIT $3) q
		ORDER BY q.seq LIMIT $3
	) ORDER BY seq`
	// queuedActions ($1 tenant, $2 from, $3 limit): a recursive skip scan.
	queuedActions = `WITH RECURSIVE a(action, n) AS (
		(SELECT action, 1 FROM jobs WHERE tenant = $1 AND ` + leasable + ` AND action >= $2 ORDER BY action LIMIT 1)
		UNION ALL
		SELECT (SELECT j.action FROM jobs j WHERE j.tenant = $1 AND j.state = 'QUEUED' AND j.executor IS NULL AND j.action > a.action ORDER BY j.action LIMIT 1), a.n + 1
		FROM a WHERE a.action IS NOT NULL AND a.n < $3::int
	) SELECT action FROM a WHERE action IS NOT NULL`
)

func (t *rtx) LeasableJobs(tenant string, actions []string, limit int) ([]*cairn.Job, error) {
	if actions == nil {
		return jobsWithSeq(t.query(leasableAny, tenant, limit))
	}
	if len(actions) == 0 {
		return nil, nil
	}
	// The jobs of other actions are never read.
	return jobsWithSeq(t.query(leasableOf, tenant, actions, limit))
}

// QueuedActions walks jobs_queued_action by recursive skip scan: each step
// seeks the first action after the previous one.
func (t *rtx) QueuedActions(tenant, from string, limit int) ([]string, error) {
	rows, err := t.query(queuedActions, tenant, from, limit)
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

func (t *rtx) ListRunJobs(tenant, runID string, limit int) ([]*cairn.Job, error) {
	return jobsWithSeq(t.query(`SELECT seq, body FROM jobs WHERE tenant = $1 AND run_id = $2 ORDER BY seq LIMIT $3`, tenant, runID, limit))
}

func (t *rtx) OpenRunJobs(tenant, runID string) (int, error) {
	var n int
	err := t.row(`SELECT count(*) FROM jobs WHERE tenant = $1 AND run_id = $2 AND state IN ('PENDING_APPROVAL', 'QUEUED', 'RUNNING')`, tenant, runID).Scan(&n)
	return n, err
}

func (t *rtx) GetPayload(tenant, ptr string) (*cairn.Payload, error) {
	p := &cairn.Payload{Tenant: tenant, Ptr: ptr}
	err := t.row(`SELECT sha256, data FROM payloads WHERE tenant = $1 AND ptr = $2`, tenant, ptr).Scan(&p.SHA256, &p.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, cairn.NotFound("payload %q not found", ptr)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// --- evidence events ---

func (t *rtx) events(raw bool, query string, args ...any) ([]*cairn.Event, error) {
	if err := t.ledgerRead(); err != nil {
		return nil, err
	}
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
		return t.events(f.RawOnly, `SELECT body, leaf_hash FROM ledger WHERE tenant = $1 AND run_id = $2 AND run_seq > $3 ORDER BY run_seq LIMIT $4`, tenant, f.RunID, f.After, f.Limit)
	}
	return t.events(f.RawOnly, `SELECT body, leaf_hash FROM ledger WHERE tenant = $1 AND job_id = $2 AND idx >= $3 ORDER BY idx LIMIT $4`, tenant, f.JobID, f.After, f.Limit)
}

func (t *rtx) ListDecisions(tenant, jobID string) ([]*cairn.Decision, error) {
	evs, err := t.events(false, `SELECT body, leaf_hash FROM ledger WHERE tenant = $1 AND job_id = $2 AND type = 'policy_decided' ORDER BY idx`, tenant, jobID)
	if err != nil {
		return nil, err
	}
	out := make([]*cairn.Decision, 0, len(evs))
	for _, ev := range evs {
		d, err := decisionOf(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// decisionOf extracts the decision a policy_decided event carries.
func decisionOf(ev *cairn.Event) (*cairn.Decision, error) {
	raw, err := json.Marshal(ev.Data["decision"])
	if err != nil {
		return nil, err
	}
	var d cairn.Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("postgres: corrupt decision event: %w", err)
	}
	d.Ledger = ev.Ledger
	return &d, nil
}

// --- approvals ---

func (t *rtx) GetApproval(tenant, jobID string) (*cairn.Approval, error) {
	rows, err := t.query(`SELECT seq, body FROM approvals WHERE tenant = $1 AND job_id = $2`, tenant, jobID)
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
	w := &where{}
	w.add("tenant = ?", tenant)
	if !f.IncludeResolved {
		w.conds = append(w.conds, "status = 'pending'")
	}
	w.eq("run_id", f.RunID)
	w.eq("policy_rule_id", f.PolicyRuleID)
	w.eq("resolved_by", f.ResolvedBy)
	if !f.Since.IsZero() {
		w.add("requested_at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("requested_at < ?", nanos(f.Until))
	}
	if f.After > 0 {
		w.add("seq < ?", f.After)
	}
	q := `SELECT seq, body FROM approvals WHERE ` + w.sql() + ` ORDER BY seq DESC` + w.limit(f.Limit)
	rows, err := t.query(q, w.args...)
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

func rawApprovals(rows pgx.Rows, err error) ([]*cairn.Approval, error) {
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
	rows, err := t.query(`SELECT seq, tenant, body FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2`, nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Approval
	for rows.Next() {
		var seq int64
		var tenant string
		var body []byte
		if err := rows.Scan(&seq, &tenant, &body); err != nil {
			return nil, err
		}
		a := &cairn.Approval{}
		if err := json.Unmarshal(body, a); err != nil {
			return nil, fmt.Errorf("postgres: corrupt row: %w", err)
		}
		a.Seq, a.Tenant = seq, tenant
		out = append(out, a)
	}
	return out, rows.Err()
}

func (t *rtx) ExpiredLeases(now time.Time, limit int) ([]*cairn.Job, error) {
	return jobsWithSeq(t.query(`SELECT seq, body FROM jobs WHERE state = 'RUNNING' AND lease_expires_at <= $1 ORDER BY lease_expires_at LIMIT $2`, nanos(now), limit))
}

func (t *rtx) NextDeadline() (time.Time, error) {
	var a, l, w *int64
	err := t.row(`SELECT (SELECT min(expires_at) FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL),
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

// --- runs ---

// GetRun in a write transaction answers from what the writer knows when it
// can prove it exact (see batch.runBody): a submit to an existing run then
// costs no round trip.
func (t *rtx) GetRun(tenant, runID string) (*cairn.Run, error) {
	key := runKey(tenant, runID)
	var rr runRow
	if t.b != nil {
		rr, _ = t.b.runBody(key)
	}
	if rr.body == nil {
		err := t.row(`SELECT seq, body FROM runs WHERE tenant = $1 AND run_id = $2`, tenant, runID).Scan(&rr.seq, &rr.body)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, cairn.NotFound("run %q not found", runID)
		}
		if err != nil {
			return nil, err
		}
		if t.b != nil {
			t.b.runRead[key] = rr
		}
	}
	r := new(cairn.Run)
	if err := json.Unmarshal(rr.body, r); err != nil {
		return nil, fmt.Errorf("postgres: corrupt row: %w", err)
	}
	r.Seq = rr.seq
	return r, nil
}

func runKey(tenant, runID string) string { return tenant + "\x00" + runID }

// runBody is the stored JSON of a run: the run without its jobs.
func runBody(r *cairn.Run) ([]byte, error) {
	r2 := *r
	r2.Jobs = nil
	return json.Marshal(&r2)
}

// --- policy ---

func (t *rtx) snapshot(query string, args ...any) (*cairn.Snapshot, error) {
	s := &cairn.Snapshot{}
	var created int64
	if err := t.row(query, args...).Scan(&s.ID, &s.SHA256, &s.Text, &created, &s.CreatedBy); err != nil {
		return nil, err
	}
	s.CreatedAt = time.Unix(0, created).UTC()
	return s, nil
}

func (t *rtx) ActiveSnapshot() (*cairn.Snapshot, error) {
	s, err := t.snapshot(`SELECT s.id, s.sha256, s.text, a.activated_at, s.created_by FROM policy_active a JOIN snapshots s ON s.id = a.snapshot_id WHERE a.one = 1`)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return s, err
}

func (t *rtx) GetSnapshot(id string) (*cairn.Snapshot, error) {
	s, err := t.snapshot(`SELECT id, sha256, text, created_at, created_by FROM snapshots WHERE id = $1`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, cairn.NotFound("policy snapshot %q not found", id)
	}
	return s, err
}

func (t *rtx) ListSnapshots(p cairn.Page) ([]*cairn.Snapshot, error) {
	rows, err := t.query(`SELECT seq, id, sha256, text, created_at, created_by FROM snapshots WHERE ($1 = 0 OR seq < $1) ORDER BY seq DESC LIMIT $2`, p.After, p.Limit)
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

func (t *rtx) ListPolicyAudit(f cairn.AuditFilter) ([]*cairn.PolicyAudit, error) {
	w := &where{conds: []string{"true"}}
	w.eq("action", f.Action)
	w.eq("actor", f.Actor)
	if !f.Since.IsZero() {
		w.add("timestamp >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("timestamp < ?", nanos(f.Until))
	}
	if f.After > 0 {
		w.add("seq < ?", f.After)
	}
	q := `SELECT seq, body FROM policy_audit WHERE ` + w.sql() + ` ORDER BY seq DESC` + w.limit(f.Limit)
	rows, err := t.query(q, w.args...)
	as, seqs, err := scanBodies[cairn.PolicyAudit](rows, err, true)
	for i := range as {
		as[i].Seq = seqs[i]
	}
	return as, err
}

// --- ledger ---

func (t *rtx) LedgerSize(tenant string) (uint64, error) {
	if err := t.ledgerRead(); err != nil {
		return 0, err
	}
	var n *int64
	if err := t.row(`SELECT max(idx) FROM ledger WHERE tenant = $1`, tenant).Scan(&n); err != nil || n == nil {
		return 0, err
	}
	return uint64(*n) + 1, nil
}

func (t *rtx) LedgerEntries(tenant string, from uint64, limit int) ([]*cairn.LedgerEntry, error) {
	if err := t.ledgerRead(); err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT idx, body, leaf_hash, prev_hash FROM ledger WHERE tenant = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, tenant, int64(from), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.LedgerEntry
	for rows.Next() {
		e := &cairn.LedgerEntry{Tenant: tenant}
		var idx int64
		var body string
		if err := rows.Scan(&idx, &body, &e.LeafHash, &e.PrevHash); err != nil {
			return nil, err
		}
		e.Index = uint64(idx)
		e.Body = json.RawMessage(body)
		out = append(out, e)
	}
	return out, rows.Err()
}

// --- writes ---

// wtx implements cairn.Tx for one Update inside the writer's batch.
type wtx struct {
	rtx
	after []func()
}

func (t *wtx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

func (t *wtx) deferWrite(check func(pgconn.CommandTag) error, sql string, args ...any) {
	t.b.deferWrite(pendingWrite{sql: sql, args: args, check: check})
}

// one1 checks that the statement changed exactly one row, else fails with err().
func one1(err func() error) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return err()
		}
		return nil
	}
}

func (t *wtx) CreateTenant(tenant string, at time.Time) error {
	t.deferWrite(nil, `INSERT INTO tenants(tenant, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, tenant, nanos(at))
	return nil
}

func (t *wtx) InsertKey(k *cairn.Key) error {
	body, err := json.Marshal(keyRow{Key: *k, StoredHash: k.Hash})
	if err != nil {
		return err
	}
	t.deferWrite(nil, `INSERT INTO api_keys(key_id, tenant, hash, body, created_at) VALUES ($1, $2, $3, $4, $5)`, k.KeyID, k.Tenant, k.Hash, string(body), nanos(k.CreatedAt))
	return nil
}

func (t *wtx) RevokeKey(tenant, keyID string, at time.Time) error {
	kr, err := one[keyRow](t.query(`SELECT body FROM api_keys WHERE tenant = $1 AND key_id = $2`, tenant, keyID))
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
	t.deferWrite(nil, `UPDATE api_keys SET body = $1, revoked_at = $2 WHERE tenant = $3 AND key_id = $4`, string(body), nanos(at), tenant, keyID)
	return nil
}

// errJobExists fails an optimistic (deferred) InsertJob that found the job:
// the batch is re-run guarded, where InsertJob answers job_id_conflict at
// once and the Update (Submit) handles it.
var errJobExists = errors.New("postgres: job exists; re-run without deferring the insert")

const insertJobSeq = `INSERT INTO jobs(tenant, job_id, run_id, state, action, decision, policy_rule_id, submitted_by, created_at, lease_expires_at, executor, body, seq)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (tenant, job_id) DO NOTHING RETURNING seq`

const insertJob = `INSERT INTO jobs(tenant, job_id, run_id, state, action, decision, policy_rule_id, submitted_by, created_at, lease_expires_at, executor, body)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (tenant, job_id) DO NOTHING RETURNING seq`

// jobExecutor is the principal a job is bound to ("" for none), stored in
// the executor column that keeps such jobs out of glob leases' indexes.
func jobExecutor(j *cairn.Job) string { return j.Executor }

// InsertJob inserts with ON CONFLICT DO NOTHING: a duplicate is reported as
// job_id_conflict and, unlike a failed INSERT in PostgreSQL, leaves the
// transaction usable (Submit then reads the existing job). In an optimistic
// (unguarded) run the insert is deferred like other writes and assumed new.
func (t *wtx) InsertJob(j *cairn.Job) error {
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	args := []any{j.Tenant, j.JobID, nullStr(string(j.RunID)), j.State, j.Action, j.Decision, nullStr(string(j.PolicyRuleID)), j.SubmittedBy, nanos(j.CreatedAt), optNanos(j.LeaseExpiresAt), nullStr(jobExecutor(j)), string(body)}
	if t.b.optimistic {
		seq, err := t.b.nextJobSeq()
		if err != nil {
			return err
		}
		j.Seq = seq
		t.b.deferWrite(pendingWrite{sql: insertJobSeq, args: append(args, seq), ret: []any{new(int64)}, noRow: errJobExists})
	} else {
		var seq int64
		err = t.row(insertJob, args...).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return cairn.Conflict(cairn.CodeJobConflict, "job %q already exists", j.JobID)
		}
		if err != nil {
			return err
		}
		j.Seq = seq
	}
	if j.State == cairn.StateQueued {
		t.b.noteQueued(j)
	}
	return nil
}

func (t *wtx) UpdateJob(j *cairn.Job) error {
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	id := j.JobID
	t.deferWrite(one1(func() error { return cairn.NotFound("job %q not found", id) }),
		`UPDATE jobs SET state = $1, decision = $2, policy_rule_id = $3, lease_expires_at = $4, executor = $5, body = $6 WHERE tenant = $7 AND job_id = $8`,
		j.State, j.Decision, nullStr(string(j.PolicyRuleID)), optNanos(j.LeaseExpiresAt), nullStr(jobExecutor(j)), string(body), j.Tenant, j.JobID)
	if j.State == cairn.StateQueued {
		t.b.noteQueued(j)
	}
	return nil
}

func (t *wtx) PutPayload(p *cairn.Payload) error {
	ptr := p.Ptr
	t.deferWrite(one1(func() error { return cairn.Conflict(cairn.EConflict, "payload %q already stored", ptr) }),
		`INSERT INTO payloads(tenant, ptr, sha256, data) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`, p.Tenant, p.Ptr, p.SHA256, p.Data)
	return nil
}

func (t *wtx) InsertApproval(a *cairn.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	t.b.deferWrite(pendingWrite{
		sql: `INSERT INTO approvals(tenant, job_id, status, run_id, policy_rule_id, resolved_by, requested_at, expires_at, body)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (tenant, job_id) DO NOTHING RETURNING seq`,
		args:  []any{a.Tenant, a.JobID, a.Status, nullStr(string(a.RunID)), nullStr(string(a.PolicyRuleID)), nullStr(string(a.ResolvedBy)), nanos(a.RequestedAt), optNanos(a.ExpiresAt), string(body)},
		ret:   []any{&a.Seq},
		noRow: cairn.Conflict(cairn.EConflict, "job %q already has an approval", a.JobID),
	})
	return nil
}

func (t *wtx) ResolveApproval(a *cairn.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	id := a.JobID
	t.deferWrite(one1(func() error {
		return cairn.Conflict(cairn.CodeApprovalAlreadyResolved, "approval for job %q is already resolved", id)
	}), `UPDATE approvals SET status = $1, resolved_by = $2, body = $3 WHERE tenant = $4 AND job_id = $5 AND status = 'pending'`,
		a.Status, nullStr(string(a.ResolvedBy)), string(body), a.Tenant, a.JobID)
	return nil
}

// InsertRun draws r.Seq and defers the insert. It reports a run that exists
// already as a lost race (it can only have been created by a concurrent
// transaction that the write lock did not order, such as an import): the
// Update is re-run and then finds the run.
func (t *wtx) InsertRun(r *cairn.Run) error {
	body, err := runBody(r)
	if err != nil {
		return err
	}
	seq, err := t.b.nextRunSeq()
	if err != nil {
		return err
	}
	id := r.RunID
	t.deferWrite(one1(func() error { return fmt.Errorf("run %q exists: %w", id, errRace) }),
		`INSERT INTO runs(seq, tenant, run_id, workflow_id, status, started_by, wake_at, body) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING`,
		seq, r.Tenant, r.RunID, nullStr(r.WorkflowID), r.Status, r.StartedBy, optNanos(r.WakeAt), string(body))
	r.Seq = seq
	t.b.runs[runKey(r.Tenant, r.RunID)] = runRow{seq: seq, body: body}
	return nil
}

// UpdateRun defers the update; a run that does not exist fails the Update
// with not_found when the write is sent. The writer's run cache keeps the
// body only: the indexed columns (status, started_by…) are copies of it,
// which only the database's lists read.
func (t *wtx) UpdateRun(r *cairn.Run) error {
	body, err := runBody(r)
	if err != nil {
		return err
	}
	id := r.RunID
	t.deferWrite(one1(func() error { return cairn.NotFound("run %q not found", id) }),
		`UPDATE runs SET workflow_id = $1, status = $2, started_by = $3, wake_at = $4, body = $5 WHERE tenant = $6 AND run_id = $7`,
		nullStr(r.WorkflowID), r.Status, r.StartedBy, optNanos(r.WakeAt), string(body), r.Tenant, r.RunID)
	key := runKey(r.Tenant, r.RunID)
	if known, ok := t.b.runBody(key); ok {
		t.b.runs[key] = runRow{seq: known.seq, body: body}
	} else {
		delete(t.b.runs, key) // updating a run this writer has not seen: let the next read ask the database
	}
	return nil
}

func (t *wtx) InsertSnapshot(s *cairn.Snapshot) error {
	t.deferWrite(nil, `INSERT INTO snapshots(id, sha256, text, created_at, created_by) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (id) DO NOTHING`, s.ID, s.SHA256, s.Text, nanos(s.CreatedAt), s.CreatedBy)
	return nil
}

func (t *wtx) SetActiveSnapshot(id string, at time.Time) error {
	t.b.active = id
	t.deferWrite(nil, `INSERT INTO policy_active(one, snapshot_id, activated_at) VALUES (1, $1, $2) ON CONFLICT (one) DO UPDATE SET snapshot_id = excluded.snapshot_id, activated_at = excluded.activated_at`, id, nanos(at))
	return nil
}

// ActiveSnapshotID was read when the transaction took the write lock (see
// batch.begin) and follows SetActiveSnapshot: it costs no round trip.
func (t *wtx) ActiveSnapshotID() (string, error) { return t.b.active, nil }

func (t *wtx) InsertPolicyAudit(a *cairn.PolicyAudit) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	t.b.deferWrite(pendingWrite{sql: `INSERT INTO policy_audit(action, actor, timestamp, body) VALUES ($1,$2,$3,$4) RETURNING seq`,
		args: []any{a.Action, a.Actor, nanos(a.Timestamp), string(body)}, ret: []any{&a.Seq}})
	return nil
}

var (
	_ cairn.Tx     = (*wtx)(nil)
	_ cairn.ReadTx = (*rtx)(nil)
)
