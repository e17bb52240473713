package sqlstore

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
)

// Retention and legal hold (migrations 0009 SQLite / 0008 PostgreSQL; ADR
// 0046). The deletes of a compaction are all in Compact; the evidence
// tables' triggers allow them only under the compaction's guard row.

// TenantRetention implements cairn.ReadTx.
func (r *Reader) TenantRetention(tenant string) (*cairn.TenantRetention, error) {
	var period, at int64
	tr := &cairn.TenantRetention{Tenant: tenant}
	err := r.row(`SELECT period, set_by, set_at FROM tenant_retention WHERE tenant = ?`, tenant).Scan(&period, &tr.SetBy, &at)
	if err == ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tr.Period, tr.SetAt = time.Duration(period), time.Unix(0, at).UTC()
	return tr, nil
}

func (r *Reader) holds(q string, args ...any) ([]*cairn.Hold, error) {
	rows, err := r.query(q, args...)
	return Bodies(r.D, rows, err, func(h *cairn.Hold, seq int64) { h.Seq = seq })
}

// GetHold implements cairn.ReadTx.
func (r *Reader) GetHold(tenant, holdID string) (*cairn.Hold, error) {
	h, err := first(r.holds(`SELECT seq, body FROM holds WHERE tenant = ? AND hold_id = ?`, tenant, holdID))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, cairn.NotFound("hold %q not found", holdID)
	}
	return h, nil
}

// ListHolds implements cairn.ReadTx: newest first, After a seq.
func (r *Reader) ListHolds(tenant string, f cairn.HoldFilter) ([]*cairn.Hold, error) {
	var w Where
	w.Add("tenant = ?", tenant)
	if f.ActiveOnly {
		w.Add("status = 'active'")
	}
	w.Before(f.After)
	q, args := w.Page("seq, body", "holds", "seq DESC", f.Limit)
	return r.holds(q, args...)
}

func (r *Reader) compaction(q string, args ...any) (*cairn.Compaction, error) {
	c := &cairn.Compaction{}
	var event, from, to, cutoff int64
	err := r.row(q, args...).Scan(&c.Tenant, &event, &from, &to, &cutoff)
	if err == ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.Event, c.From, c.To, c.Cutoff = uint64(event), uint64(from), uint64(to), time.Unix(0, cutoff).UTC()
	return c, nil
}

const compactionCols = `SELECT tenant, event, from_idx, to_idx, cutoff FROM compactions `

// LastCompaction implements cairn.ReadTx.
func (r *Reader) LastCompaction(tenant string) (*cairn.Compaction, error) {
	return r.compaction(compactionCols+`WHERE tenant = ? ORDER BY to_idx DESC LIMIT 1`, tenant)
}

// CompactionOf implements cairn.ReadTx: the compaction whose range holds
// idx, if the entry's body was pruned.
func (r *Reader) CompactionOf(tenant string, idx uint64) (*cairn.Compaction, error) {
	if err := r.beforeBodies(); err != nil {
		return nil, err
	}
	var entries, bodies int
	err := r.row(`SELECT count(*), count(b.idx) FROM ledger l LEFT`+JoinBody+`
		WHERE l.tenant = ? AND l.idx = ?`, tenant, int64(idx)).Scan(&entries, &bodies)
	if err != nil {
		return nil, err
	}
	if entries == 0 || bodies > 0 {
		return nil, nil
	}
	return r.compactionOver(tenant, idx)
}

// compactionOver is the compaction whose range holds idx, if any.
func (r *Reader) compactionOver(tenant string, idx uint64) (*cairn.Compaction, error) {
	c, err := r.compaction(compactionCols+`WHERE tenant = ? AND to_idx > ? ORDER BY to_idx LIMIT 1`, tenant, int64(idx))
	if err != nil || c == nil || c.From > idx {
		return nil, err
	}
	return c, nil
}

// PrunedJob implements cairn.ReadTx. A job's row is removed by the
// compaction whose range holds the job's last ledger entry.
func (r *Reader) PrunedJob(tenant, jobID string) (*cairn.Compaction, error) {
	last, ok, err := r.LastJobEntry(tenant, jobID)
	if err != nil || !ok {
		return nil, err
	}
	return r.compactionOver(tenant, last)
}

// LastJobEntry implements cairn.ReadTx (an index seek on ledger_job).
func (r *Reader) LastJobEntry(tenant, jobID string) (uint64, bool, error) {
	var last *int64
	if err := r.row(`SELECT max(idx) FROM ledger WHERE tenant = ? AND job_id = ?`, tenant, jobID).Scan(&last); err != nil || last == nil {
		return 0, false, err
	}
	return uint64(*last), true, nil
}

// CheckpointSizeAt implements cairn.ReadTx (an index seek on
// checkpoints_time).
func (r *Reader) CheckpointSizeAt(tenant string, t time.Time) (uint64, error) {
	var size int64
	err := r.row(`SELECT size FROM checkpoints WHERE tenant = ? AND created_at <= ? ORDER BY created_at DESC, size DESC LIMIT 1`, tenant, Nanos(t)).Scan(&size)
	if err == ErrNoRows {
		return 0, nil
	}
	return uint64(size), err
}

// LedgerRange implements cairn.ReadTx. Each row says which entries share
// its stored body (BodyFrom, BodyTo): a compaction removes a body row only
// with all of its entries.
func (r *Reader) LedgerRange(tenant string, from, to uint64) ([]cairn.LedgerRow, error) {
	rows, err := r.query(`SELECT idx, type, coalesce(job_id, ''), coalesce(run_id, '')
		FROM ledger WHERE tenant = ? AND idx >= ? AND idx < ? ORDER BY idx`, tenant, int64(from), int64(to))
	if err != nil {
		return nil, err
	}
	var out []cairn.LedgerRow
	for rows.Next() {
		lr := cairn.LedgerRow{Pruned: true}
		var idx int64
		if err := rows.Scan(&idx, &lr.Type, &lr.JobID, &lr.RunID); err != nil {
			rows.Close()
			return nil, err
		}
		lr.Index = uint64(idx)
		out = append(out, lr)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	if err := r.beforeBodies(); err != nil {
		return nil, err
	}
	brs, err := r.bodyRows(tenant, out[0].Index, out[len(out)-1].Index+1)
	if err != nil {
		return nil, err
	}
	k := 0 // brs[k] is the row that may hold out[i]'s body
	for i := range out {
		lr := &out[i]
		for k+1 < len(brs) && brs[k+1].first <= lr.Index {
			k++
		}
		if k < len(brs) && brs[k].first <= lr.Index && lr.Index < brs[k].first+uint64(brs[k].n) {
			lr.Pruned, lr.BodyFrom, lr.BodyTo = false, brs[k].first, brs[k].first+uint64(brs[k].n)
		}
	}
	return out, nil
}

// SetTenantRetention implements cairn.Tx.
func (w *Writer) SetTenantRetention(tr *cairn.TenantRetention) error {
	return w.DB.Write(Write{SQL: `INSERT INTO tenant_retention(tenant, period, set_by, set_at) VALUES (?,?,?,?)
		ON CONFLICT (tenant) DO UPDATE SET period = excluded.period, set_by = excluded.set_by, set_at = excluded.set_at`,
		Args: []any{tr.Tenant, int64(tr.Period), tr.SetBy, Nanos(tr.SetAt)}})
}

// InsertHold implements cairn.Tx.
func (w *Writer) InsertHold(h *cairn.Hold) error {
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	id := h.HoldID
	return w.DB.Exec(Write{SQL: `INSERT INTO holds(tenant, hold_id, scope, target, status, body) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{h.Tenant, h.HoldID, h.Scope, h.ID, h.Status, string(body)}, Seq: &h.Seq,
		One: func() error { return cairn.Conflict(cairn.EConflict, "hold %q exists", id) }})
}

// ReleaseHold implements cairn.Tx.
func (w *Writer) ReleaseHold(h *cairn.Hold) error {
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	id := h.HoldID
	return w.DB.Exec(Write{SQL: `UPDATE holds SET status = ?, body = ? WHERE tenant = ? AND hold_id = ? AND status = 'active'`,
		Args: []any{h.Status, string(body), h.Tenant, h.HoldID},
		One:  func() error { return cairn.Conflict(cairn.EConflict, "hold %q is already released", id) }})
}

// Compact implements cairn.Tx: it records c, writes the guard row, removes
// the planned jobs (rows, approvals, payloads) and deletes the bodies of
// the range's entries that plan.Keep does not hold, then removes the guard.
// Every statement runs at once, in order, in the caller's transaction.
func (w *Writer) Compact(c *cairn.Compaction, plan *cairn.CompactionPlan) error {
	key := []any{c.Tenant, int64(c.Event), int64(c.From), int64(c.To)}
	steps := []Write{
		{SQL: `INSERT INTO compactions(tenant, event, from_idx, to_idx, cutoff) VALUES (?,?,?,?,?)`, Args: append(key[:4:4], Nanos(c.Cutoff))},
		{SQL: `INSERT INTO retention_guard(tenant, event, from_idx, to_idx) VALUES (?,?,?,?)`, Args: key},
	}
	for _, j := range plan.Jobs {
		ptrs := []any{c.Tenant, j.ContextPtr, cairn.ContextPtr(j.JobID), cairn.ResultPtr(j.JobID)}
		if j.ResultPtr != "" {
			ptrs = append(ptrs, string(j.ResultPtr))
		}
		steps = append(steps,
			Write{SQL: `DELETE FROM payloads WHERE tenant = ? AND ptr IN (?` + strings.Repeat(",?", len(ptrs)-2) + `)`, Args: ptrs},
			Write{SQL: `DELETE FROM approvals WHERE tenant = ? AND job_id = ?`, Args: []any{c.Tenant, j.JobID}},
			Write{SQL: `DELETE FROM jobs WHERE tenant = ? AND job_id = ?`, Args: []any{c.Tenant, j.JobID}})
	}
	steps = append(steps, pruneBodies(c, plan.Keep)...)
	steps = append(steps, Write{SQL: `DELETE FROM retention_guard WHERE tenant = ? AND event = ?`, Args: key[:2]})
	for _, s := range steps {
		if err := w.DB.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// pruneBodies deletes the bodies of [c.From, c.To) except the kept ones:
// one statement per run of consecutive indexes that are not kept, which
// deletes the body rows lying wholly inside the run (a row holding a kept
// entry, or one past the range, stays).
func pruneBodies(c *cairn.Compaction, keep map[uint64]bool) []Write {
	var out []Write
	from := c.From
	flush := func(to uint64) {
		if to > from {
			out = append(out, Write{SQL: `DELETE FROM ledger_bodies WHERE tenant = ? AND idx >= ? AND idx < ? AND idx + n <= ?`,
				Args: []any{c.Tenant, int64(from), int64(to), int64(to)}})
		}
	}
	for i := c.From; i < c.To; i++ {
		if keep[i] {
			flush(i)
			from = i + 1
		}
	}
	flush(c.To)
	return out
}
