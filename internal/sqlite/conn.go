package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/cairnhq/cairn/internal/sqlstore"
)

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// conn runs statements on a read transaction or the writer connection; it
// is the sqlstore.DB of the shared SQL, whose writes it runs at once.
type conn struct {
	ctx   context.Context
	q     querier
	stmts map[string]*sql.Stmt // writer only: prepared statement cache
}

func (c *conn) stmt(query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.q.PrepareContext(c.ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *conn) exec(query string, args ...any) (sql.Result, error) {
	if c.stmts != nil {
		st, err := c.stmt(query)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(c.ctx, args...)
	}
	return c.q.ExecContext(c.ctx, query, args...)
}

func (c *conn) query(query string, args ...any) (*sql.Rows, error) {
	if c.stmts != nil {
		st, err := c.stmt(query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(c.ctx, args...)
	}
	return c.q.QueryContext(c.ctx, query, args...)
}

func (c *conn) row(query string, args ...any) *sql.Row {
	if c.stmts != nil {
		if st, err := c.stmt(query); err == nil {
			return st.QueryRowContext(c.ctx, args...)
		}
	}
	return c.q.QueryRowContext(c.ctx, query, args...)
}

// Query implements sqlstore.DB.
func (c *conn) Query(query string, args ...any) (sqlstore.Rows, error) {
	rows, err := c.query(query, args...)
	if err != nil {
		return nil, err
	}
	return stdRows{rows}, nil
}

// QueryRow implements sqlstore.DB.
func (c *conn) QueryRow(query string, args ...any) sqlstore.Row { return stdRow{c.row(query, args...)} }

// Write implements sqlstore.DB: at once.
func (c *conn) Write(w sqlstore.Write) error {
	res, err := c.exec(w.SQL, w.Args...)
	if err != nil || (w.One == nil && w.Seq == nil) {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if err := w.Check(n); err != nil || w.Seq == nil || n != 1 {
		return err
	}
	*w.Seq, err = res.LastInsertId()
	return err
}

// Exec implements sqlstore.DB: as Write.
func (c *conn) Exec(w sqlstore.Write) error { return c.Write(w) }

type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { r.Rows.Close() }

type stdRow struct{ *sql.Row }

func (r stdRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}
