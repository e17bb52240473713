package sqlstore

import (
	"reflect"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE x = ? AND y IN (?, ?)`, `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)`},
	} {
		if got := Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Rebind(c.in); got != c.want { // from the cache
			t.Errorf("Rebind(%q) again = %q", c.in, got)
		}
	}
	if got, want := Returning(`INSERT INTO t(a) VALUES (?)`), `INSERT INTO t(a) VALUES ($1) RETURNING seq`; got != want {
		t.Errorf("Returning = %q, want %q", got, want)
	}
}

func TestWhere(t *testing.T) {
	since := time.Unix(10, 0)
	w := &Where{}
	w.Add("tenant = ?", "t1")
	w.Eq("state", "")
	w.Eq("action", "db.read")
	w.Span("created_at", since, time.Time{})
	w.Before(42)
	q, args := w.Page("seq, body", "jobs", "seq DESC", 5)
	if want := `SELECT seq, body FROM jobs WHERE tenant = ? AND action = ? AND created_at >= ? AND seq < ? ORDER BY seq DESC LIMIT ?`; q != want {
		t.Fatalf("query %q, want %q", q, want)
	}
	if want := []any{"t1", "db.read", since.UnixNano(), int64(42), 5}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args %v, want %v", args, want)
	}
	q, args = (&Where{}).Page("seq", "policy_audit", "seq DESC", 1)
	if q != `SELECT seq FROM policy_audit WHERE true ORDER BY seq DESC LIMIT ?` || len(args) != 1 {
		t.Fatalf("empty where: %q %v", q, args)
	}
}

func TestDialectHints(t *testing.T) {
	lite, pg := &Dialect{Hints: true}, &Dialect{}
	if lite.IndexedBy("ledger", "ledger_job") != "ledger INDEXED BY ledger_job" || lite.NotIndexed("jobs") != "jobs NOT INDEXED" {
		t.Error("SQLite's hints are missing")
	}
	if pg.IndexedBy("ledger", "ledger_job") != "ledger" || pg.NotIndexed("jobs") != "jobs" {
		t.Error("hints given to an engine without them")
	}
}

func TestWriteCheck(t *testing.T) {
	errOne := func() error { return errNotInserted }
	if err := (Write{One: errOne}).Check(0); err != errNotInserted {
		t.Errorf("no row changed: %v", err)
	}
	if err := (Write{One: errOne}).Check(1); err != nil {
		t.Errorf("one row changed: %v", err)
	}
	if err := (Write{}).Check(0); err != nil {
		t.Errorf("unchecked write: %v", err)
	}
}
