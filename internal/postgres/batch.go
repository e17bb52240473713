package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger/tree"
)

// batch is one write transaction of the writer: the Updates it runs, the
// ledger heads it has locked, and the ledger and Merkle rows it has not
// sent yet. Ledger rows are buffered and sent in one statement per table
// (before any read, after each Update when guarded, and before COMMIT),
// which saves a round trip per appended event. Their bodies wait longer:
// until a read of ledger_bodies, the end of a guarded Update or COMMIT, so
// that a tenant's entries of the transaction make one row (ADR 0045).
type batch struct {
	s     *Store
	c     *pgx.Conn
	ctx   context.Context
	tx    *tree.Heads // the ledger heads this transaction has locked
	heads *tree.Heads // tx, or the tier of the guarded Update running

	ledgerRows []ledgerRow
	nodeRows   []nodeRow
	sentL      int  // ledgerRows[:sentL] are in the database
	sentB      int  // the bodies of ledgerRows[:sentB] are in the database
	bodiesDue  bool // the next round trip sends the unsent bodies
	sentN      int
	pend       []pendingWrite     // deferred writes (pipeline.go)
	derr       error              // the first deferred write that failed
	optimistic bool               // unguarded: InsertJob is deferred too
	seqs       []int64            // job seqs drawn from the sequence, not used yet
	runSeqs    []int64            // run seqs drawn from the sequence, not used yet
	nops       int                // Updates in the batch (how many seqs to draw)
	notes      []cairn.QueuedNote // jobs that became QUEUED: NOTIFY at commit
	anyOK      bool
	active     string // the active policy snapshot id as this transaction sees it

	epoch      int64             // write_epoch after this transaction's bump
	epochValid bool              // no other writer committed since this writer's last commit
	runs       map[string]runRow // runs written in this transaction
	runRead    map[string]runRow // runs read from the database by this transaction
}

// runRow is a run as stored: its seq and its JSON body. The writer caches
// runs by tenant + "\x00" + run_id: those this transaction wrote (batch.runs)
// or read (batch.runRead), and, across transactions, those of its last
// commit (Store.runs, valid while no other writer committed since). A
// failing Update's entries are dropped with the savepoint (snapshot), a
// failing batch's with the batch.
type runRow struct {
	seq  int64
	body []byte
}

type ledgerRow struct {
	tenant string
	idx    int64
	typ    string
	runID  *string
	runSeq *int64
	jobID  *string
	body   []byte // the canonical envelope (stored by queueBodies)
	leaf   []byte
}

type nodeRow struct {
	tenant string
	level  int32
	idx    int64
	hash   []byte
}

func newBatch(s *Store, c *pgx.Conn) *batch {
	tx := tree.NewHeads()
	return &batch{s: s, c: c, ctx: context.Background(), tx: tx, heads: tx, runs: map[string]runRow{}, runRead: map[string]runRow{}}
}

// snapshot is the batch state before an Update, restored if it fails (the
// Update's ledger heads are a tier of their own, dropped with it).
type snapshot struct {
	nl, nn       int
	sentL, sentN int
	sentB        int
	nnotes       int
	active       string
	runs         map[string]runRow
	runRead      map[string]runRow
}

func (b *batch) save() snapshot {
	return snapshot{nl: len(b.ledgerRows), nn: len(b.nodeRows), sentL: b.sentL, sentN: b.sentN, sentB: b.sentB, nnotes: len(b.notes), active: b.active,
		runs: maps.Clone(b.runs), runRead: maps.Clone(b.runRead)}
}

func (b *batch) restore(s snapshot) {
	b.ledgerRows = b.ledgerRows[:s.nl]
	b.nodeRows = b.nodeRows[:s.nn]
	b.sentL, b.sentN, b.sentB = s.sentL, s.sentN, s.sentB
	b.bodiesDue = false
	b.notes = b.notes[:s.nnotes]
	b.active = s.active
	// A run the failed Update read may show that Update's own writes
	// (read back after they were sent): forget its reads too.
	b.runs, b.runRead = s.runs, s.runRead
	b.pend, b.derr = nil, nil
}

func (b *batch) exec(sql string, args ...any) error {
	_, err := b.c.Exec(b.ctx, sql, args...)
	return err
}

// run begins the transaction and runs every op in it. Unguarded, the first
// failing op stops the run (opFailed); guarded, each op runs inside a
// savepoint and a failing op is rolled back alone. Errors of the connection
// itself are transient.
func (b *batch) run(ops []*sqlstore.Op, guarded bool) (outcome, error) {
	b.optimistic = !guarded
	b.nops = len(ops)
	if err := b.begin(); err != nil {
		return transient, err
	}
	for _, o := range ops {
		o.Err, o.After = nil, nil
		if err := o.Ctx.Err(); err != nil {
			o.Err = err
			if !guarded {
				return opFailed, nil
			}
			continue
		}
		if !guarded {
			t := newWtx(b)
			err := sqlstore.RunSafely(dialect, o.Fn, t)
			if b.derr != nil {
				err = b.derr
			}
			if err != nil {
				if b.c.IsClosed() {
					return transient, err
				}
				o.Err = err
				return opFailed, nil
			}
			o.After = t.after
			b.anyOK = true
			continue
		}
		for try := 0; ; try++ {
			snap := b.save()
			b.heads = b.tx.Child()
			if err := b.exec("SAVEPOINT op"); err != nil {
				return transient, err
			}
			t := newWtx(b)
			err := sqlstore.RunSafely(dialect, o.Fn, t)
			if err == nil {
				err = b.flush()
			}
			if b.derr != nil {
				err = b.derr
			}
			if err == nil {
				err = b.exec("RELEASE SAVEPOINT op")
			}
			if err == nil {
				b.heads.Commit()
				b.heads = b.tx
				o.After = t.after
				b.anyOK = true
				break
			}
			b.heads = b.tx
			if b.c.IsClosed() {
				return transient, err
			}
			if rerr := b.exec("ROLLBACK TO SAVEPOINT op"); rerr != nil {
				return transient, errors.Join(err, rerr)
			}
			b.exec("RELEASE SAVEPOINT op")
			b.restore(snap)
			if isDeadlock(err) {
				// The other transaction waits for locks this batch holds:
				// only rolling back the whole batch lets it finish.
				return transient, err
			}
			if isTransient(err) && try < 3 {
				continue
			}
			o.Err = err
			break
		}
	}
	return ranOK, nil
}

func isDeadlock(err error) bool {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		switch pe.SQLState() {
		case "40P01", "40001", "55P03":
			return true
		}
	}
	return false
}

// queueRows queues the unsent ledger and Merkle rows as multi-row INSERTs
// (cheaper for the server than unnest over arrays), and the unsent bodies
// when they are due.
func (b *batch) queueRows(pb *pgx.Batch) error {
	for rows := b.ledgerRows[b.sentL:]; len(rows) > 0; {
		n := min(len(rows), 64)
		args := make([]any, 0, 7*n)
		for _, r := range rows[:n] {
			args = append(args, r.tenant, r.idx, r.typ, r.runID, r.runSeq, r.jobID, r.leaf)
		}
		pb.Queue(`INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, leaf_hash) VALUES `+placeholders(n, 7), args...)
		rows = rows[n:]
	}
	b.sentL = len(b.ledgerRows)
	for rows := b.nodeRows[b.sentN:]; len(rows) > 0; {
		n := min(len(rows), 64)
		args := make([]any, 0, 4*n)
		for _, r := range rows[:n] {
			args = append(args, r.tenant, r.level, r.idx, r.hash)
		}
		pb.Queue(`INSERT INTO ledger_nodes(tenant, level, idx, hash) VALUES `+placeholders(n, 4), args...)
		rows = rows[n:]
	}
	b.sentN = len(b.nodeRows)
	if b.bodiesDue {
		b.bodiesDue = false
		return b.queueBodies(pb)
	}
	return nil
}

// queueBodies queues the unsent entries' bodies as ledger_bodies rows, a
// tenant's consecutive entries as one row (sqlstore.BodyRows).
func (b *batch) queueBodies(pb *pgx.Batch) error {
	unsent := b.ledgerRows[b.sentB:]
	if len(unsent) == 0 {
		return nil
	}
	pending := make([]sqlstore.PendingBody, len(unsent))
	for i, r := range unsent {
		pending[i] = sqlstore.PendingBody{Tenant: r.tenant, Index: uint64(r.idx), Envelope: r.body}
	}
	rows, err := sqlstore.BodyRows(pending)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for len(rows) > 0 {
		n := min(len(rows), sqlstore.MaxBodyRowsPerInsert)
		pb.Queue(`INSERT INTO ledger_bodies(tenant, idx, n, body) VALUES `+placeholders(n, 4), sqlstore.BodyArgs(rows[:n])...)
		rows = rows[n:]
	}
	b.sentB = len(b.ledgerRows)
	return nil
}

var placeholderCache sync.Map // [2]int -> string

// placeholders returns "($1,…,$cols),(…)" for rows rows.
func placeholders(rows, cols int) string {
	key := [2]int{rows, cols}
	if v, ok := placeholderCache.Load(key); ok {
		return v.(string)
	}
	var sb strings.Builder
	for r := 0; r < rows; r++ {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(r*cols + c + 1))
		}
		sb.WriteByte(')')
	}
	placeholderCache.Store(key, sb.String())
	return sb.String()
}

// finishBatch sends what is left before COMMIT in one round trip: buffered
// rows, the new ledger heads and the queued-job notification.
func (b *batch) finishBatch() error {
	if b.derr != nil {
		return b.derr
	}
	pb := &pgx.Batch{}
	b.bodiesDue = true
	read, err := b.queuePending(pb)
	if err != nil {
		return err
	}
	var tenants, hashes []string
	var sizes []int64
	b.tx.Each(func(tenant string, h *tree.Head) {
		if h.Size != h.Stored {
			tenants = append(tenants, tenant)
			sizes = append(sizes, int64(h.Size))
			hashes = append(hashes, h.Hash)
		}
	})
	if len(tenants) > 0 {
		pb.Queue(`UPDATE ledger_heads h SET size = u.size, hash = u.hash FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(tenant, size, hash) WHERE h.tenant = u.tenant`,
			tenants, sizes, hashes)
	}
	for _, payload := range notePayloads(b.s.schema, b.notes) {
		pb.Queue(`SELECT pg_notify($1, $2)`, notesChannel, payload)
	}
	if pb.Len() == 0 {
		return nil
	}
	br := b.c.SendBatch(b.ctx, pb)
	err = read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// committed moves the heads and runs of this transaction into the
// writer's cache.
func (b *batch) committed() {
	b.s.epoch = b.epoch
	if len(b.s.runs) > 200000 {
		b.s.runs = map[string]runRow{}
	}
	for k, v := range b.runRead {
		b.s.runs[k] = v
	}
	for k, v := range b.runs {
		b.s.runs[k] = v
	}
	b.tx.Each(func(tenant string, h *tree.Head) {
		if h.Tree == nil {
			b.s.heads.Delete(tenant)
			return
		}
		b.s.heads.Put(tenant, h)
	})
}

func (b *batch) rollback() {
	if b.c.IsClosed() {
		return
	}
	if err := b.exec("ROLLBACK"); err != nil {
		b.c.Close(context.Background())
	}
}

// begin starts the transaction in one round trip: BEGIN, wait for the
// store's write lock, bump the write epoch, draw job seqs for the batch and
// read the active policy snapshot id. Under READ COMMITTED each statement
// sees what was committed before it started, and a writer commits before
// it releases the write lock: the id read after the lock is the one in
// force until this transaction commits (ADR 0012).
func (b *batch) begin() error {
	pb := &pgx.Batch{}
	pb.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	pb.Queue(`SELECT pg_advisory_xact_lock($1)`, b.s.writeLock)
	pb.Queue(`UPDATE write_epoch SET n = n + 1 WHERE one = 1 RETURNING n`)
	pb.Queue(`SELECT nextval($1::regclass) FROM generate_series(1, $2)`, b.s.jobSeq, max(b.nops, 8))
	pb.Queue(`SELECT coalesce((SELECT snapshot_id FROM policy_active WHERE one = 1), '')`)
	br := b.c.SendBatch(b.ctx, pb)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	if err := br.QueryRow().Scan(&b.epoch); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	if b.seqs, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return err
	}
	if err := br.QueryRow().Scan(&b.active); err != nil {
		return err
	}
	b.epochValid = b.s.epoch >= 0 && b.epoch == b.s.epoch+1
	if !b.epochValid {
		b.s.runs = map[string]runRow{}
	}
	return br.Close()
}

// runBody returns a run as this transaction sees it without asking the
// database: written by it, read by it, or cached by this writer and still
// exact.
func (b *batch) runBody(key string) (runRow, bool) {
	if r, ok := b.runs[key]; ok {
		return r, true
	}
	if r, ok := b.runRead[key]; ok {
		return r, true
	}
	if b.epochValid {
		r, ok := b.s.runs[key]
		return r, ok
	}
	return runRow{}, false
}

// nextRunSeq draws a run seq from the runs sequence, a block at a time (the
// first InsertRun of a batch costs a round trip, shared with the writes
// pending then), so that InsertRun sets r.Seq at once and its insert can
// be deferred. Under the write lock the values follow commit order.
func (b *batch) nextRunSeq() (int64, error) {
	if len(b.runSeqs) == 0 {
		rows, err := wq{b}.Query(b.ctx, `SELECT nextval($1::regclass) FROM generate_series(1, $2)`, b.s.runSeq, max(b.nops, 8))
		if err != nil {
			return 0, err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return 0, err
		}
		b.runSeqs = seqs
	}
	v := b.runSeqs[0]
	b.runSeqs = b.runSeqs[1:]
	return v, nil
}

// nextJobSeq draws a job seq from the jobs sequence, a block at a time, so
// that a deferred InsertJob can set j.Seq at once. Drawn and unused values
// leave gaps, as any sequence does; under the write lock the values follow
// commit order.
func (b *batch) nextJobSeq() (int64, error) {
	if len(b.seqs) == 0 {
		rows, err := wq{b}.Query(b.ctx, `SELECT nextval($1::regclass) FROM generate_series(1, $2)`, b.s.jobSeq, max(b.nops, 8))
		if err != nil {
			return 0, err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return 0, err
		}
		b.seqs = seqs
	}
	v := b.seqs[0]
	b.seqs = b.seqs[1:]
	return v, nil
}

// head locks the tenant's ledger_heads row (creating it on the tenant's
// first append) and returns the head as of this transaction. The writer's
// committed head of the tenant (Store.heads) is used only when the locked
// row still shows the same size and hash: the ledger is append-only and
// each entry's body commits to the previous leaf hash, so an equal (size,
// last hash) means an identical ledger, whatever other replicas did in
// between.
func (b *batch) head(tenant string) (*tree.Head, error) {
	if h := b.heads.Get(tenant); h != nil {
		return h, nil
	}
	var size int64
	var hash string
	q := wq{b}
	err := q.QueryRow(b.ctx, `SELECT size, hash FROM ledger_heads WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&size, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		// First append of the tenant. Concurrent first appends wait on the
		// primary key; the ledger itself seeds the row if it has entries
		// (written by an importer).
		_, err = q.Exec(b.ctx, `INSERT INTO ledger_heads(tenant, size, hash)
			SELECT $1::text, coalesce(max(idx) + 1, 0), coalesce((SELECT encode(leaf_hash, 'hex') FROM ledger WHERE tenant = $1 ORDER BY idx DESC LIMIT 1), '')
			FROM ledger WHERE tenant = $1
			ON CONFLICT DO NOTHING`, tenant)
		if err == nil {
			err = q.QueryRow(b.ctx, `SELECT size, hash FROM ledger_heads WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&size, &hash)
		}
	}
	if err != nil {
		return nil, err
	}
	var h *tree.Head
	if c := b.s.heads.Peek(tenant); c != nil && c.Size == uint64(size) && c.Hash == hash {
		h = c.Fork()
	} else {
		h = &tree.Head{Size: uint64(size), Hash: hash}
	}
	h.Stored = uint64(size)
	b.heads.Put(tenant, h)
	return h, nil
}

// Head implements sqlstore.Heads.
func (t *wtx) Head(tenant string) (*tree.Head, error) { return t.b.head(tenant) }

// RunHead implements ledger.Source. Every entry of this tenant written in
// this transaction went through its head, which knows the runs it
// advanced: rows not yet sent cannot hold this run.
func (t *wtx) RunHead(tenant, runID string) (int64, error) {
	var n *int64
	if err := t.DB.QueryRow(`SELECT max(run_seq) FROM ledger WHERE tenant = ? AND run_id = ?`, tenant, runID).Scan(&n); err != nil || n == nil {
		return 0, err
	}
	return *n, nil
}

// Nodes implements ledger.Source (every read sends the buffered rows first).
func (t *wtx) Nodes(tenant string) tree.NodeReader { return t.NodeReader(tenant) }

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AppendEvent appends through the ledger kernel and buffers the row and
// the persisted Merkle nodes (queueRows sends them).
func (t *wtx) AppendEvent(ev *cairn.Event) error {
	r, nodes, err := sqlstore.AppendEvent(ev, t)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	b := t.b
	leaf := r.Leaf
	row := ledgerRow{tenant: r.Tenant, idx: int64(r.Index), typ: r.Type, runID: optStr(r.RunID), jobID: optStr(r.JobID), body: r.Body, leaf: leaf[:]}
	if r.RunSeq > 0 {
		seq := r.RunSeq
		row.runSeq = &seq
	}
	b.ledgerRows = append(b.ledgerRows, row)
	for _, n := range nodes {
		if n.Level < tree.StoredLevel {
			continue
		}
		hash := n.Hash
		b.nodeRows = append(b.nodeRows, nodeRow{tenant: r.Tenant, level: int32(n.Level), idx: int64(n.Index), hash: hash[:]})
	}
	return nil
}
