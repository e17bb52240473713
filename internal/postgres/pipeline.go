package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Writes whose outcome an Update function does not need at once (most of
// them: UpdateJob, PutPayload, appended ledger rows …) are not sent when
// they are called. They wait in the batch and go out in front of the next
// statement whose answer is needed — a read, or COMMIT — in the same round
// trip (a pgx batch: one network exchange, executed in order). Their checks
// (a row was updated, a row was inserted rather than found) run when the
// answers arrive. A failed deferred write fails the Update that queued it:
// the batch is re-run guarded, where each Update's writes are sent before
// its savepoint is released, so the failure is attributed to the right
// Update with its own error (job_id_conflict, not_found, conflict …).

// pendingWrite is a deferred statement and how to check its outcome.
type pendingWrite struct {
	sql   string
	args  []any
	check func(pgconn.CommandTag) error // Exec-style statements
	ret   []any                         // RETURNING targets (QueryRow-style)
	noRow func() error                  // the error when RETURNING gives no row
}

// errDeferred is what a read returns when a deferred write sent ahead of
// it failed: it carries no error code, so no Update function mistakes it
// for the read's own answer (not_found …); the Update fails with the
// deferred write's error.
var errDeferred = errors.New("postgres: an earlier write of this transaction failed")

// defer queues a write.
func (b *batch) deferWrite(p pendingWrite) { b.pend = append(b.pend, p) }

// queuePending adds the deferred writes and unsent ledger rows to pb and
// returns how to read their answers.
func (b *batch) queuePending(pb *pgx.Batch) (func(br pgx.BatchResults) error, error) {
	pend := b.pend
	b.pend = nil
	for _, p := range pend {
		pb.Queue(p.sql, p.args...)
	}
	nrows := pb.Len()
	if err := b.queueRows(pb); err != nil {
		return nil, err
	}
	nrows = pb.Len() - nrows
	return func(br pgx.BatchResults) error {
		for _, p := range pend {
			var err error
			if p.ret != nil {
				err = br.QueryRow().Scan(p.ret...)
				if errors.Is(err, pgx.ErrNoRows) && p.noRow != nil {
					err = p.noRow()
				}
			} else {
				var tag pgconn.CommandTag
				tag, err = br.Exec()
				if err == nil && p.check != nil {
					err = p.check(tag)
				}
			}
			if err != nil {
				return err
			}
		}
		for i := 0; i < nrows; i++ {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (b *batch) hasPending() bool {
	return len(b.pend) > 0 || b.sentL < len(b.ledgerRows) || b.sentN < len(b.nodeRows) ||
		b.bodiesDue && b.sentB < len(b.ledgerRows)
}

// fail records the first deferred failure of the current Update.
func (b *batch) fail(err error) error {
	if b.derr == nil {
		b.derr = err
	}
	return errDeferred
}

// flush sends the deferred writes and buffered ledger rows, bodies too.
func (b *batch) flush() error {
	if b.derr != nil {
		return errDeferred
	}
	b.bodiesDue = true
	if !b.hasPending() {
		b.bodiesDue = false
		return nil
	}
	pb := &pgx.Batch{}
	read, err := b.queuePending(pb)
	if err != nil {
		return b.fail(err)
	}
	defer b.s.roundTrip(time.Now())
	br := b.c.SendBatch(b.ctx, pb)
	err = read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return b.fail(err)
	}
	return nil
}

// wq is the writer's querier: every statement takes the deferred writes
// with it.
type wq struct{ b *batch }

func (q wq) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b := q.b
	if b.derr != nil {
		return pgconn.CommandTag{}, errDeferred
	}
	defer b.s.roundTrip(time.Now())
	if !b.hasPending() {
		return b.c.Exec(ctx, sql, args...)
	}
	pb := &pgx.Batch{}
	read, err := b.queuePending(pb)
	if err != nil {
		return pgconn.CommandTag{}, b.fail(err)
	}
	pb.Queue(sql, args...)
	br := b.c.SendBatch(ctx, pb)
	defer br.Close()
	if err := read(br); err != nil {
		return pgconn.CommandTag{}, b.fail(err)
	}
	return br.Exec()
}

func (q wq) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	b := q.b
	if b.derr != nil {
		return nil, errDeferred
	}
	defer b.s.roundTrip(time.Now())
	if !b.hasPending() {
		return b.c.Query(ctx, sql, args...)
	}
	pb := &pgx.Batch{}
	read, err := b.queuePending(pb)
	if err != nil {
		return nil, b.fail(err)
	}
	pb.Queue(sql, args...)
	br := b.c.SendBatch(ctx, pb)
	if err := read(br); err != nil {
		br.Close()
		return nil, b.fail(err)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (q wq) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := q.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

// batchRows closes its batch with the rows.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.br != nil {
		r.br.Close()
		r.br = nil
	}
}

// row is pgx.Row over Rows (as pgx's own).
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
