package sqlstore

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rows is a result set, as database/sql and pgx both give one (the
// stores adapt theirs).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result. Scan returns ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// ErrNoRows is what Row.Scan returns for an empty result, whatever the
// driver's own error is.
var ErrNoRows = errors.New("sqlstore: no rows in result set")

// DB is a store's transaction as the shared SQL sees it. Statements are
// written with ? placeholders; the store rebinds them for its engine
// (Rebind) and runs them in its transaction.
type DB interface {
	Query(query string, args ...any) (Rows, error)
	QueryRow(query string, args ...any) Row
	// Write runs a write at once (SQLite) or defers it into the
	// transaction's pipeline (PostgreSQL), where its outcome is checked when
	// the answer arrives and a failure fails the Update (Write then returns
	// nil now, and Seq is set when the pipeline is sent).
	Write(w Write) error
	// Exec runs a write at once on every engine: for the writes whose
	// outcome the caller needs before it goes on.
	Exec(w Write) error
}

// Write is a write statement and how to judge its outcome.
type Write struct {
	SQL  string
	Args []any
	// One, when set, is the error when the statement did not change
	// exactly one row (an insert that met a conflict with ON CONFLICT DO
	// NOTHING, an update that found nothing).
	One func() error
	// Seq, when set, receives the seq of the row an INSERT created (SQLite:
	// the last insert rowid; PostgreSQL: RETURNING seq, see Returning).
	Seq *int64
}

// Check judges a write that changed n rows.
func (w Write) Check(n int64) error {
	if w.One != nil && n != 1 {
		return w.One()
	}
	return nil
}

// Dialect is what differs in the statements of the two engines.
type Dialect struct {
	// Name prefixes the errors of the shared code ("sqlite", "postgres").
	Name string
	// RowSeq is the column that orders api_keys and snapshots by insertion
	// (SQLite's implicit rowid; PostgreSQL's seq column).
	RowSeq string
	// Hints enables SQLite's index hints (INDEXED BY, NOT INDEXED), without
	// which its planner picks a worse index for some lists.
	Hints bool
}

// IndexedBy names the index a query must use, where the engine takes hints.
func (d *Dialect) IndexedBy(table, index string) string {
	if d.Hints {
		return table + " INDEXED BY " + index
	}
	return table
}

// NotIndexed makes the engine walk the table's primary key, where it takes
// hints.
func (d *Dialect) NotIndexed(table string) string {
	if d.Hints {
		return table + " NOT INDEXED"
	}
	return table
}

var rebound, returning sync.Map // string -> string

// Returning is Rebind(query + " RETURNING seq"), once per statement text.
func Returning(query string) string {
	if v, ok := returning.Load(query); ok {
		return v.(string)
	}
	out := Rebind(query + " RETURNING seq")
	returning.Store(query, out)
	return out
}

// Rebind rewrites ? placeholders as $1, $2 … (PostgreSQL's), once per
// statement text. The shared statements have no ? inside literals.
func Rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	out := b.String()
	rebound.Store(query, out)
	return out
}

// Where builds a conjunction with ? parameters.
type Where struct {
	conds []string
	args  []any
}

// Add adds a condition and its arguments.
func (w *Where) Add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// Eq adds col = v when v is not empty.
func (w *Where) Eq(col, v string) {
	if v != "" {
		w.Add(col+" = ?", v)
	}
}

// Span adds since <= col < until, each bound when it is set.
func (w *Where) Span(col string, since, until time.Time) {
	if !since.IsZero() {
		w.Add(col+" >= ?", since.UnixNano())
	}
	if !until.IsZero() {
		w.Add(col+" < ?", until.UnixNano())
	}
}

// Before adds seq < after (a newest-first keyset page) when after is set.
func (w *Where) Before(after int64) {
	if after > 0 {
		w.Add("seq < ?", after)
	}
}

// Page returns the statement SELECT cols FROM from WHERE … ORDER BY order
// LIMIT limit and its arguments.
func (w *Where) Page(cols, from, order string, limit int) (string, []any) {
	conds := "true"
	if len(w.conds) > 0 {
		conds = strings.Join(w.conds, " AND ")
	}
	return `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + conds + ` ORDER BY ` + order + ` LIMIT ?`, append(w.args, limit)
}

// Nanos is a time as the stores keep it: Unix nanoseconds.
func Nanos(t time.Time) int64 { return t.UnixNano() }

// OptNanos is an optional time: NULL when unset.
func OptNanos(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// NullStr is an optional string: NULL when empty.
func NullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
