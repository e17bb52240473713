package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// batch is one write transaction of the writer: the Updates it runs, the
// ledger heads it has locked, and the ledger and Merkle rows it has not
// sent yet. Ledger rows are buffered and sent in one statement per table
// (before any read of the ledger, after each Update when guarded, and
// before COMMIT), which saves a round trip per appended event.
type batch struct {
	s     *Store
	c     *pgx.Conn
	ctx   context.Context
	heads map[string]*headState

	ledgerRows []ledgerRow
	nodeRows   []nodeRow
	sentL      int // ledgerRows[:sentL] are in the database
	sentN      int
	notify     bool // a job became QUEUED: NOTIFY at commit
	anyOK      bool
}

// headState is a tenant's ledger head inside the transaction, whose
// ledger_heads row it has locked.
type headState struct {
	dbSize uint64 // the locked row's size
	size   uint64
	hash   string
	tree   *ledger.Appender
	runs   map[string]int64 // run timeline heads known in this transaction
	cached map[string]int64 // committed run heads from the writer's cache (read-only)
}

func (h *headState) clone() *headState {
	c := *h
	if h.tree != nil {
		c.tree = h.tree.Clone()
	}
	c.runs = make(map[string]int64, len(h.runs))
	for k, v := range h.runs {
		c.runs[k] = v
	}
	return &c
}

type ledgerRow struct {
	tenant   string
	idx      int64
	typ      string
	runID    *string
	runSeq   *int64
	jobID    *string
	body     string
	leaf     string
	prevHash string
}

type nodeRow struct {
	tenant string
	level  int32
	idx    int64
	hash   []byte
}

func newBatch(s *Store, c *pgx.Conn) *batch {
	return &batch{s: s, c: c, ctx: context.Background(), heads: map[string]*headState{}}
}

// snapshot is the batch state before an Update, restored if it fails.
type snapshot struct {
	heads        map[string]*headState
	nl, nn       int
	sentL, sentN int
	notify       bool
}

func (b *batch) save() snapshot {
	hs := make(map[string]*headState, len(b.heads))
	for k, h := range b.heads {
		hs[k] = h.clone()
	}
	return snapshot{heads: hs, nl: len(b.ledgerRows), nn: len(b.nodeRows), sentL: b.sentL, sentN: b.sentN, notify: b.notify}
}

func (b *batch) restore(s snapshot) {
	b.heads = s.heads
	b.ledgerRows = b.ledgerRows[:s.nl]
	b.nodeRows = b.nodeRows[:s.nn]
	b.sentL, b.sentN = s.sentL, s.sentN
	b.notify = s.notify
}

func (b *batch) exec(sql string, args ...any) error {
	_, err := b.c.Exec(b.ctx, sql, args...)
	return err
}

// run begins the transaction and runs every op in it. Unguarded, the first
// failing op stops the run (opFailed); guarded, each op runs inside a
// savepoint and a failing op is rolled back alone. Errors of the connection
// itself are transient.
func (b *batch) run(ops []*op, guarded bool) (outcome, error) {
	// One round trip: begin, then wait for the store's write lock.
	if err := b.exec(fmt.Sprintf("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%d)", b.s.writeLock)); err != nil {
		return transient, err
	}
	for _, o := range ops {
		o.err, o.after = nil, nil
		if err := o.ctx.Err(); err != nil {
			o.err = err
			if !guarded {
				return opFailed, nil
			}
			continue
		}
		if !guarded {
			t := &wtx{rtx: rtx{ctx: b.ctx, q: b.c, b: b}}
			if err := runSafely(o.fn, t); err != nil {
				if b.c.IsClosed() {
					return transient, err
				}
				o.err = err
				return opFailed, nil
			}
			o.after = t.after
			b.anyOK = true
			continue
		}
		for try := 0; ; try++ {
			snap := b.save()
			if err := b.exec("SAVEPOINT op"); err != nil {
				return transient, err
			}
			t := &wtx{rtx: rtx{ctx: b.ctx, q: b.c, b: b}}
			err := runSafely(o.fn, t)
			if err == nil {
				err = b.flush()
			}
			if err == nil {
				err = b.exec("RELEASE SAVEPOINT op")
			}
			if err == nil {
				o.after = t.after
				b.anyOK = true
				break
			}
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
			o.err = err
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

// flush sends the buffered ledger and Merkle rows.
func (b *batch) flush() error {
	if b.sentL == len(b.ledgerRows) && b.sentN == len(b.nodeRows) {
		return nil
	}
	pb := &pgx.Batch{}
	b.queueRows(pb)
	return b.c.SendBatch(b.ctx, pb).Close()
}

func (b *batch) queueRows(pb *pgx.Batch) {
	if rows := b.ledgerRows[b.sentL:]; len(rows) > 0 {
		n := len(rows)
		tenants, types, bodies, leaves, prevs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		idxs := make([]int64, n)
		runIDs, jobIDs := make([]*string, n), make([]*string, n)
		runSeqs := make([]*int64, n)
		for i, r := range rows {
			tenants[i], idxs[i], types[i], runIDs[i], runSeqs[i], jobIDs[i], bodies[i], leaves[i], prevs[i] = r.tenant, r.idx, r.typ, r.runID, r.runSeq, r.jobID, r.body, r.leaf, r.prevHash
		}
		pb.Queue(`INSERT INTO ledger(tenant, idx, type, run_id, run_seq, job_id, body, leaf_hash, prev_hash)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])`,
			tenants, idxs, types, runIDs, runSeqs, jobIDs, bodies, leaves, prevs)
		b.sentL = len(b.ledgerRows)
	}
	if rows := b.nodeRows[b.sentN:]; len(rows) > 0 {
		n := len(rows)
		tenants, levels, idxs, hashes := make([]string, n), make([]int32, n), make([]int64, n), make([][]byte, n)
		for i, r := range rows {
			tenants[i], levels[i], idxs[i], hashes[i] = r.tenant, r.level, r.idx, r.hash
		}
		pb.Queue(`INSERT INTO ledger_nodes(tenant, level, idx, hash) SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[])`,
			tenants, levels, idxs, hashes)
		b.sentN = len(b.nodeRows)
	}
}

// finishBatch sends what is left before COMMIT in one round trip: buffered
// rows, the new ledger heads and the queued-job notification.
func (b *batch) finishBatch() error {
	pb := &pgx.Batch{}
	b.queueRows(pb)
	var tenants, hashes []string
	var sizes []int64
	for tenant, h := range b.heads {
		if h.size != h.dbSize {
			tenants = append(tenants, tenant)
			sizes = append(sizes, int64(h.size))
			hashes = append(hashes, h.hash)
		}
	}
	if len(tenants) > 0 {
		pb.Queue(`UPDATE ledger_heads h SET size = u.size, hash = u.hash FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(tenant, size, hash) WHERE h.tenant = u.tenant`,
			tenants, sizes, hashes)
	}
	if b.notify {
		pb.Queue(`SELECT pg_notify($1, $2)`, queuedChannel, b.s.schema)
	}
	if pb.Len() == 0 {
		return nil
	}
	return b.c.SendBatch(b.ctx, pb).Close()
}

// committed moves the heads of this transaction into the writer's cache.
func (b *batch) committed() {
	for tenant, h := range b.heads {
		if h.tree == nil {
			delete(b.s.cache, tenant)
			continue
		}
		runs := h.cached
		if runs == nil || len(runs) > 100000 {
			runs = make(map[string]int64, len(h.runs))
		}
		for k, v := range h.runs {
			runs[k] = v
		}
		b.s.cache[tenant] = &tenantCache{size: h.size, hash: h.hash, tree: h.tree, runs: runs}
	}
}

func (b *batch) rollback() {
	if b.c.IsClosed() {
		return
	}
	if err := b.exec("ROLLBACK"); err != nil {
		b.c.Close(context.Background())
	}
}

// head locks the tenant's ledger_heads row (creating it on the tenant's
// first append) and returns the head as of this transaction.
func (b *batch) head(tenant string) (*headState, error) {
	if h := b.heads[tenant]; h != nil {
		return h, nil
	}
	var size int64
	var hash string
	err := b.c.QueryRow(b.ctx, `SELECT size, hash FROM ledger_heads WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&size, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		// First append of the tenant. Concurrent first appends wait on the
		// primary key; the ledger itself seeds the row if it has entries
		// (written by an importer).
		err = b.exec(`INSERT INTO ledger_heads(tenant, size, hash)
			SELECT $1::text, coalesce(max(idx) + 1, 0), coalesce((SELECT leaf_hash FROM ledger WHERE tenant = $1 ORDER BY idx DESC LIMIT 1), '')
			FROM ledger WHERE tenant = $1
			ON CONFLICT DO NOTHING`, tenant)
		if err == nil {
			err = b.c.QueryRow(b.ctx, `SELECT size, hash FROM ledger_heads WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&size, &hash)
		}
	}
	if err != nil {
		return nil, err
	}
	h := &headState{dbSize: uint64(size), size: uint64(size), hash: hash, runs: map[string]int64{}}
	if c := b.s.cache[tenant]; c != nil && c.size == h.size && c.hash == h.hash {
		h.tree = c.tree.Clone()
		h.cached = c.runs
	}
	b.heads[tenant] = h
	return h, nil
}

func (b *batch) runHead(t *rtx, h *headState, tenant, runID string) (int64, error) {
	if n, ok := h.runs[runID]; ok {
		return n, nil
	}
	if n, ok := h.cached[runID]; ok {
		return n, nil
	}
	// Every entry of this tenant written in this transaction went through
	// h, so rows not yet sent cannot hold this run.
	var n *int64
	if err := t.row(`SELECT max(run_seq) FROM ledger WHERE tenant = $1 AND run_id = $2`, tenant, runID).Scan(&n); err != nil {
		return 0, err
	}
	if n == nil {
		return 0, nil
	}
	return *n, nil
}

func (b *batch) tree(t *rtx, h *headState, tenant string) (*ledger.Appender, error) {
	if h.tree != nil {
		return h.tree, nil
	}
	if err := b.flush(); err != nil {
		return nil, err
	}
	a, err := ledger.ResumeAppender(h.size, nodeReader{t: t, tenant: tenant})
	if err != nil {
		return nil, fmt.Errorf("postgres: resume merkle tree of %q at %d: %w", tenant, h.size, err)
	}
	h.tree = a
	return a, nil
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// append assigns the event its ledger index and timeline seq, extends the
// tenant's Merkle tree and buffers the rows.
func (b *batch) append(t *rtx, ev *cairn.Event) error {
	if ev.Tenant == "" || ev.Type == "" {
		return fmt.Errorf("postgres: event without tenant or type")
	}
	h, err := b.head(ev.Tenant)
	if err != nil {
		return err
	}
	canon := ev.Canon
	if canon == nil {
		ev.Seq, ev.Ledger = 0, nil
		if canon, err = ledger.Canonical(ev); err != nil {
			return fmt.Errorf("postgres: canonical event: %w", err)
		}
	}
	ev.Seq = 0
	if ev.RunID != "" {
		n, err := b.runHead(t, h, ev.Tenant, string(ev.RunID))
		if err != nil {
			return err
		}
		ev.Seq = n + 1
	}
	a, err := b.tree(t, h, ev.Tenant)
	if err != nil {
		return err
	}
	if a.Size() != h.size {
		return fmt.Errorf("postgres: merkle tree of %q has %d leaves, ledger has %d", ev.Tenant, a.Size(), h.size)
	}
	ev.PrevHash = h.hash
	body, err := ledger.EnvelopeBody(ev.Tenant, h.size, h.hash, ev.Seq, canon)
	if err != nil {
		return fmt.Errorf("postgres: canonical envelope: %w", err)
	}
	leafHash := ledger.LeafHash(body)
	leaf := ledger.HashHex(leafHash)
	nodes, err := a.Append(leafHash)
	if err != nil {
		return err
	}
	row := ledgerRow{tenant: ev.Tenant, idx: int64(h.size), typ: ev.Type, runID: optStr(string(ev.RunID)), jobID: optStr(string(ev.JobID)), body: string(body), leaf: leaf, prevHash: h.hash}
	if ev.Seq > 0 {
		seq := ev.Seq
		row.runSeq = &seq
		h.runs[string(ev.RunID)] = ev.Seq
	}
	b.ledgerRows = append(b.ledgerRows, row)
	for _, n := range nodes {
		if n.Level < StoredLevel {
			continue
		}
		hash := n.Hash
		b.nodeRows = append(b.nodeRows, nodeRow{tenant: ev.Tenant, level: int32(n.Level), idx: int64(n.Index), hash: hash[:]})
	}
	ev.Ledger = &cairn.LedgerRef{Index: h.size, LeafHash: leaf}
	h.size++
	h.hash = leaf
	return nil
}
