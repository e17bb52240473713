package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger/tree"
)

// dialect is PostgreSQL's: seq columns order keys and snapshots; no index
// hints.
var dialect = &sqlstore.Dialect{Name: "postgres", RowSeq: "seq"}

// rtx implements cairn.ReadTx over a read transaction (View) or, with a
// batch, the writer's transaction: the shared SQL (sqlstore.Reader), the
// lease queries and the writer's cached runs. Write transactions hold the
// store's write lock, so their reads need no row locks: nothing else writes
// meanwhile.
type rtx struct {
	sqlstore.Reader
	c *conn
}

func newRtx(c *conn, nodes *tree.NodeCache) rtx {
	return rtx{Reader: sqlstore.Reader{DB: c, D: dialect, Nodes: nodes}, c: c}
}

// leasable is the condition of the partial indexes jobs_queued and
// jobs_queued_action (migration 0005); a query must state it to use them.
const leasable = `state = 'QUEUED' AND executor IS NULL`

// The lease queries (TestLeasePlan checks their plans).
const (
	// leasableAny ($1 tenant, $2 limit): the oldest leasable jobs.
	leasableAny = `SELECT ` + sqlstore.JobSelect + ` FROM jobs WHERE tenant = $1 AND ` + leasable + ` ORDER BY seq LIMIT $2`
	// leasableOf ($1 tenant, $2 actions, $3 limit): the oldest $3 of each
	// action (index-only seeks), then the oldest $3 of those.
	leasableOf = `SELECT ` + sqlstore.JobSelect + ` FROM jobs WHERE tenant = $1 AND seq IN (
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

// LeasableJobs implements cairn.ReadTx through the partial indexes.
func (t *rtx) LeasableJobs(tenant string, actions []string, limit int) ([]*cairn.Job, error) {
	if actions == nil {
		return t.Jobs(t.c.q.Query(t.c.ctx, leasableAny, tenant, limit))
	}
	if len(actions) == 0 {
		return nil, nil
	}
	// The jobs of other actions are never read.
	return t.Jobs(t.c.q.Query(t.c.ctx, leasableOf, tenant, actions, limit))
}

// QueuedActions walks jobs_queued_action by recursive skip scan: each step
// seeks the first action after the previous one.
func (t *rtx) QueuedActions(tenant, from string, limit int) ([]string, error) {
	return sqlstore.Column[string](t.c.q.Query(t.c.ctx, queuedActions, tenant, from, limit))
}

// GetRun in a write transaction answers from what the writer knows when it
// can prove it exact (see batch.runBody): a submit to an existing run then
// costs no round trip.
func (t *rtx) GetRun(tenant, runID string) (*cairn.Run, error) {
	key := runKey(tenant, runID)
	var rr runRow
	if t.c.b != nil {
		rr, _ = t.c.b.runBody(key)
	}
	if rr.body == nil {
		err := t.DB.QueryRow(`SELECT seq, body FROM runs WHERE tenant = ? AND run_id = ?`, tenant, runID).Scan(&rr.seq, &rr.body)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, cairn.NotFound("run %q not found", runID)
		}
		if err != nil {
			return nil, err
		}
		if t.c.b != nil {
			t.c.b.runRead[key] = rr
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

// --- writes ---

// wtx implements cairn.Tx for one Update inside the writer's batch: the
// shared SQL (sqlstore.Writer), deferred into the batch's pipeline, and
// what the writer adds: seqs drawn ahead, its run cache, queued-job notes.
type wtx struct {
	rtx
	sqlstore.Writer
	b     *batch
	after []func()
}

func newWtx(b *batch) *wtx {
	c := &conn{ctx: b.ctx, q: wq{b}, b: b}
	t := &wtx{rtx: newRtx(c, nil), Writer: sqlstore.Writer{DB: c, D: dialect}, b: b}
	// A read of ledger_bodies takes the bodies held back with it.
	t.FlushBodies = func() error { b.bodiesDue = true; return nil }
	return t
}

// AfterCommit implements cairn.Tx.
func (t *wtx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// errJobExists fails an optimistic (deferred) InsertJob that found the job:
// the batch is re-run guarded, where InsertJob answers job_id_conflict at
// once and the Update (Submit) handles it.
var errJobExists = errors.New("postgres: job exists; re-run without deferring the insert")

const insertJobSeq = `INSERT INTO jobs(` + sqlstore.JobColumns + `, seq)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (tenant, job_id) DO NOTHING RETURNING seq`

// InsertJob inserts with ON CONFLICT DO NOTHING: a duplicate is reported as
// job_id_conflict and, unlike a failed INSERT in PostgreSQL, leaves the
// transaction usable (Submit then reads the existing job). In an optimistic
// (unguarded) run the insert is deferred like other writes and assumed new.
func (t *wtx) InsertJob(j *cairn.Job) error {
	if !t.b.optimistic {
		if err := t.Writer.InsertJob(j); err != nil {
			return err
		}
	} else {
		args, err := sqlstore.JobArgs(j)
		if err != nil {
			return err
		}
		seq, err := t.b.nextJobSeq()
		if err != nil {
			return err
		}
		j.Seq = seq
		t.b.deferWrite(pendingWrite{sql: insertJobSeq, args: append(args, seq), ret: []any{new(int64)}, noRow: func() error { return errJobExists }})
	}
	if j.State == cairn.StateQueued {
		t.b.noteQueued(j)
	}
	return nil
}

// UpdateJob also notes a job that became QUEUED (NOTIFY at commit).
func (t *wtx) UpdateJob(j *cairn.Job) error {
	if err := t.Writer.UpdateJob(j); err != nil {
		return err
	}
	if j.State == cairn.StateQueued {
		t.b.noteQueued(j)
	}
	return nil
}

// InsertRun draws r.Seq and defers the insert. It reports a run that exists
// already as a lost race (it can only have been created by a concurrent
// transaction that the write lock did not order, such as an import): the
// Update is re-run and then finds the run.
func (t *wtx) InsertRun(r *cairn.Run) error {
	body, err := sqlstore.RunBody(r)
	if err != nil {
		return err
	}
	seq, err := t.b.nextRunSeq()
	if err != nil {
		return err
	}
	id := r.RunID
	t.DB.Write(sqlstore.Write{SQL: `INSERT INTO runs(seq, tenant, run_id, workflow_id, status, started_by, wake_at, body) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{seq, r.Tenant, r.RunID, sqlstore.NullStr(r.WorkflowID), r.Status, r.StartedBy, sqlstore.OptNanos(r.WakeAt), string(body)},
		One:  func() error { return fmt.Errorf("run %q exists: %w", id, errRace) }})
	r.Seq = seq
	t.b.runs[runKey(r.Tenant, r.RunID)] = runRow{seq: seq, body: body}
	return nil
}

// UpdateRun defers the update; a run that does not exist fails the Update
// with not_found when the write is sent. The writer's run cache keeps the
// body only: the indexed columns (status, started_by…) are copies of it,
// which only the database's lists read.
func (t *wtx) UpdateRun(r *cairn.Run) error {
	body, err := sqlstore.RunBody(r)
	if err != nil {
		return err
	}
	if err := t.Writer.UpdateRunBody(r, body); err != nil {
		return err
	}
	key := runKey(r.Tenant, r.RunID)
	if known, ok := t.b.runBody(key); ok {
		t.b.runs[key] = runRow{seq: known.seq, body: body}
	} else {
		delete(t.b.runs, key) // updating a run this writer has not seen: let the next read ask the database
	}
	return nil
}

// SetActiveSnapshot also keeps the id for ActiveSnapshotID.
func (t *wtx) SetActiveSnapshot(id string, at time.Time) error {
	t.b.active = id
	return t.Writer.SetActiveSnapshot(id, at)
}

// ActiveSnapshotID was read when the transaction took the write lock (see
// batch.begin) and follows SetActiveSnapshot: it costs no round trip.
func (t *wtx) ActiveSnapshotID() (string, error) { return t.b.active, nil }

// conn runs the shared SQL on a read transaction or the writer's batch,
// rebinding its placeholders; in the batch, its writes are deferred
// (pipeline.go).
type conn struct {
	ctx context.Context
	q   querier
	b   *batch // write transactions only
}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Query implements sqlstore.DB.
func (c *conn) Query(query string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(c.ctx, sqlstore.Rebind(query), args...)
}

// QueryRow implements sqlstore.DB.
func (c *conn) QueryRow(query string, args ...any) sqlstore.Row {
	return pgRow{c.q.QueryRow(c.ctx, sqlstore.Rebind(query), args...)}
}

// Write implements sqlstore.DB: deferred into the batch.
func (c *conn) Write(w sqlstore.Write) error {
	if c.b == nil {
		return errors.New("postgres: write in a read transaction")
	}
	p := pendingWrite{sql: sqlstore.Rebind(w.SQL), args: w.Args, noRow: w.One}
	if w.Seq != nil {
		p.sql, p.ret = sqlstore.Returning(w.SQL), []any{w.Seq}
	} else if w.One != nil {
		p.check = func(tag pgconn.CommandTag) error { return w.Check(tag.RowsAffected()) }
	}
	c.b.deferWrite(p)
	return nil
}

// Exec implements sqlstore.DB: at once (after the deferred writes, in the
// same round trip).
func (c *conn) Exec(w sqlstore.Write) error {
	if w.Seq == nil {
		tag, err := c.q.Exec(c.ctx, sqlstore.Rebind(w.SQL), w.Args...)
		if err != nil {
			return err
		}
		return w.Check(tag.RowsAffected())
	}
	err := c.q.QueryRow(c.ctx, sqlstore.Returning(w.SQL), w.Args...).Scan(w.Seq)
	if errors.Is(err, pgx.ErrNoRows) && w.One != nil {
		return w.One()
	}
	return err
}

type pgRow struct{ pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}

var (
	_ cairn.Tx     = (*wtx)(nil)
	_ cairn.ReadTx = (*rtx)(nil)
)
