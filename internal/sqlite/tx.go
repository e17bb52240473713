package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger/tree"
)

// dialect is SQLite's: rowid orders keys and snapshots, and the planner
// takes index hints.
var dialect = &sqlstore.Dialect{Name: "sqlite", RowSeq: "rowid", Hints: true}

// rtx implements cairn.ReadTx over a read transaction or the writer
// connection: the shared SQL (sqlstore.Reader) and the lease queries.
type rtx struct {
	sqlstore.Reader
	c *conn
}

func newRtx(c *conn, nodes *tree.NodeCache) rtx {
	return rtx{Reader: sqlstore.Reader{DB: c, D: dialect, Nodes: nodes}, c: c}
}

// leasable is the condition of the partial indexes jobs_queued and
// jobs_queued_action (migration 0006); a query must state it to use them.
// The lease queries name their index (INDEXED BY): SQLite fails them
// rather than fall back to a walk of jobs_state.
const leasable = `state = 'QUEUED' AND executor IS NULL`

// LeasableJobs implements cairn.ReadTx through the partial indexes.
func (t *rtx) LeasableJobs(tenant string, actions []string, limit int) ([]*cairn.Job, error) {
	if actions == nil {
		return t.Jobs(t.DB.Query(`SELECT `+sqlstore.JobSelect+` FROM jobs INDEXED BY jobs_queued WHERE tenant = ? AND `+leasable+` ORDER BY seq LIMIT ?`, tenant, limit))
	}
	// The oldest limit of each action (index seeks), then the oldest limit
	// of those: the jobs of other actions are never read.
	var seqs []int64
	for _, a := range actions {
		sq, err := sqlstore.Column[int64](t.DB.Query(`SELECT seq FROM jobs INDEXED BY jobs_queued_action WHERE tenant = ? AND `+leasable+` AND action = ? ORDER BY seq LIMIT ?`, tenant, a, limit))
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, sq...)
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
	return t.Jobs(t.DB.Query(`SELECT `+sqlstore.JobSelect+` FROM jobs WHERE tenant = ? AND seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`) ORDER BY seq`, args...))
}

// QueuedActions walks jobs_queued_action by skip scan: each step seeks the
// first action after the previous one.
func (t *rtx) QueuedActions(tenant, from string, limit int) ([]string, error) {
	return sqlstore.Column[string](t.DB.Query(`WITH RECURSIVE a(action, n) AS (
		SELECT (SELECT action FROM jobs INDEXED BY jobs_queued_action WHERE tenant = ?1 AND `+leasable+` AND action >= ?2 ORDER BY action LIMIT 1), 1
		UNION ALL
		SELECT (SELECT action FROM jobs INDEXED BY jobs_queued_action WHERE tenant = ?1 AND `+leasable+` AND action > a.action ORDER BY action LIMIT 1), a.n + 1
		FROM a WHERE a.action IS NOT NULL AND a.n < ?3
	) SELECT action FROM a WHERE action IS NOT NULL`, tenant, from, limit))
}

// --- writes ---

// wtx implements cairn.Tx on the writer connection: the shared SQL
// (sqlstore.Writer), run at once, and the ledger append.
type wtx struct {
	rtx
	sqlstore.Writer
	s           *Store
	heads       *tree.Heads             // ledger heads as this op sees them (op or batch tier)
	newNodes    map[string][]tree.Node  // Merkle nodes this op created
	active      *string                 // the active snapshot id as this op read or set it
	batchActive *string                 // as earlier ops of the batch left it
	bodies      *[]sqlstore.PendingBody // appended entries' bodies not stored yet
	after       []func()
}

// flushBodies stores the bodies the writer holds back as ledger_bodies
// rows, a tenant's consecutive entries as one row (sqlstore.BodyRows): before
// any read of ledger_bodies in the transaction, after each op when the
// batch runs guarded, and before COMMIT.
func flushBodies(c *conn, p *[]sqlstore.PendingBody) error {
	if len(*p) == 0 {
		return nil
	}
	rows, err := sqlstore.BodyRows(*p)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	clear(*p)
	*p = (*p)[:0]
	for len(rows) > 0 {
		n := min(len(rows), sqlstore.MaxBodyRowsPerInsert)
		if _, err := c.exec(sqlstore.InsertBodiesSQL(n), sqlstore.BodyArgs(rows[:n])...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// AfterCommit implements cairn.Tx.
func (t *wtx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// SetActiveSnapshot also keeps the id for ActiveSnapshotID.
func (t *wtx) SetActiveSnapshot(id string, at time.Time) error {
	err := t.Writer.SetActiveSnapshot(id, at)
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
	err := t.c.row(`SELECT snapshot_id FROM policy_active WHERE one = 1`).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	t.active = &id
	return id, nil
}

// Head returns the tenant's ledger head as this op sees it: from the
// writer's tiers of heads, else from the ledger table.
func (t *wtx) Head(tenant string) (*tree.Head, error) {
	if h := t.heads.Get(tenant); h != nil {
		return h, nil
	}
	var idx sql.NullInt64
	var leaf []byte
	err := t.c.row(`SELECT idx, leaf_hash FROM ledger WHERE tenant = ? ORDER BY idx DESC LIMIT 1`, tenant).Scan(&idx, &leaf)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	h := &tree.Head{}
	if err == nil {
		hash, err := sqlstore.LeafHex(leaf)
		if err != nil {
			return nil, fmt.Errorf("sqlite: ledger head: %w", err)
		}
		h.Size, h.Hash = uint64(idx.Int64)+1, hash
	}
	t.heads.Put(tenant, h)
	return h, nil
}

// RunHead implements ledger.Source: the run's last timeline seq in the
// ledger, as this transaction sees it.
func (t *wtx) RunHead(tenant, runID string) (int64, error) {
	var n sql.NullInt64
	err := t.c.row(`SELECT max(run_seq) FROM ledger WHERE tenant = ? AND run_id = ?`, tenant, runID).Scan(&n)
	return n.Int64, err
}

// Nodes implements ledger.Source.
func (t *wtx) Nodes(tenant string) tree.NodeReader { return t.NodeReader(tenant) }

// maintainTree is switched off only by benchmarks that measure what
// persisting the tree costs (export_test.go); production code never
// changes it.
var maintainTree = true

// AppendEvent appends through the ledger kernel and writes the row and the
// persisted Merkle nodes. The entry's body waits in the batch's buffer
// (flushBodies) to be stored with its neighbours as one row.
func (t *wtx) AppendEvent(ev *cairn.Event) error {
	r, nodes, err := sqlstore.AppendEvent(ev, t)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	entry, body := sqlstore.LedgerArgs(&r)
	if _, err := t.c.exec(sqlstore.InsertLedgerSQL, entry...); err != nil {
		return err
	}
	*t.bodies = append(*t.bodies, body)
	if !maintainTree {
		return nil
	}
	if t.newNodes == nil {
		t.newNodes = map[string][]tree.Node{}
	}
	t.newNodes[r.Tenant] = append(t.newNodes[r.Tenant], nodes...)
	for _, n := range nodes {
		if n.Level < tree.StoredLevel {
			continue
		}
		if _, err := t.c.exec(`INSERT INTO ledger_nodes(tenant, level, idx, hash) VALUES (?,?,?,?)`, r.Tenant, n.Level, n.Index, n.Hash[:]); err != nil {
			return err
		}
	}
	return nil
}

var _ cairn.Tx = (*wtx)(nil)
