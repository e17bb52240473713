// Package sqlite is Cairn's embedded store: one SQLite database file in WAL
// mode, written by a single connection that group-commits concurrent
// Updates, and read through a pool of read-only connections. It implements
// cairn.Store.
//
// Durability: the writer commits with synchronous=NORMAL and hands each
// committed batch to a syncer that fsyncs the WAL file; an Update returns
// only after the fsync that covers its commit, so the next batch executes
// while the previous one is being made durable. A View returns only after
// every commit it could have observed is durable. See ADR 0001.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger/tree"
	_ "modernc.org/sqlite" // driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MaxBatch bounds how many Updates share one transaction.
const MaxBatch = 512

// Store is the SQLite implementation of cairn.Store.
type Store struct {
	path  string
	wdb   *sql.DB
	wconn *sql.Conn
	rdb   *sql.DB
	cdb   *sql.DB // checkpoints
	cdone chan struct{}
	q     *sqlstore.Queue
	done  chan struct{}

	stats struct {
		batches, ops, commitNanos, fnNanos, syncs atomic.Int64
		fsyncFails                                atomic.Int64 // fsyncs that failed
	}

	// Pipelined durability: committed counts batches COMMITted, synced
	// those whose WAL frames are fsync'd. syncMu/syncCond wake waiters.
	committed, synced atomic.Int64
	syncMu            sync.Mutex
	syncCond          *sync.Cond
	syncq             chan *committedBatch
	sdone             chan struct{}
	wal               *os.File
	broken            atomic.Pointer[error] // set when an fsync failed: the store stops

	// writer-owned state (only touched by the writer goroutine)
	stmts map[string]*sql.Stmt
	heads *tree.Heads // committed ledger heads (the store tier)
	// bodies is the writer's buffer of appended entries' bodies (runBatch,
	// flushBodies), reused from batch to batch.
	bodies []sqlstore.PendingBody
	// active is the committed active policy snapshot id once activeOK: the
	// writer is the store's only writer, so it stays exact (ADR 0012).
	active   string
	activeOK bool

	// nodes caches Merkle nodes: every node the writer commits, and those
	// read views load from ledger_nodes and ledger.
	nodes tree.NodeCache
}

// privateFiles makes the data directory the owner's alone (0700), and the
// database and its WAL and shared-memory files too (0600): they hold every
// payload and key hash. SQLite creates the WAL and shared-memory files with
// the database file's mode, so the database is created 0600 before SQLite
// opens it; modes left looser (by an older version, or by hand) are
// tightened.
func privateFiles(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := tighten(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := tighten(p, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// tighten removes the permission bits of p outside perm, if p exists.
func tighten(p string, perm os.FileMode) error {
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&^perm != 0 {
		return os.Chmod(p, m&perm)
	}
	return nil
}

// Open opens (creating if needed) the store in dir/cairn.db and applies migrations.
func Open(dir string) (*Store, error) {
	path := filepath.Join(dir, "cairn.db")
	if err := privateFiles(dir, path); err != nil {
		return nil, fmt.Errorf("sqlite: data dir: %w", err)
	}
	dsn := func(extra string) string {
		v := url.Values{}
		v.Add("_pragma", "journal_mode(WAL)")
		v.Add("_pragma", "synchronous(NORMAL)") // the syncer fsyncs the WAL before any Update returns
		v.Add("_pragma", "busy_timeout(10000)")
		v.Add("_pragma", "foreign_keys(OFF)")
		v.Add("_pragma", "temp_store(MEMORY)") // savepoint sub-journals stay in memory
		v.Add("_pragma", "secure_delete(ON)")  // what an erasure deletes is overwritten (compact.go)
		if extra != "" {
			v.Add("_pragma", extra)
		}
		return "file:" + path + "?" + v.Encode()
	}
	// The writer never checkpoints inside COMMIT; a background
	// checkpointer on its own connection copies the WAL into the database.
	wdb, err := sql.Open("sqlite", dsn("wal_autocheckpoint(0)"))
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	ctx := context.Background()
	wconn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, wconn); err != nil {
		wconn.Close()
		wdb.Close()
		return nil, err
	}
	// Readers map the database (no read syscalls on hot pages) and keep a
	// 32 MiB page cache each.
	rdb, err := sql.Open("sqlite", dsn("query_only(1)")+"&_pragma=mmap_size(1073741824)&_pragma=cache_size(-32768)")
	if err != nil {
		wconn.Close()
		wdb.Close()
		return nil, err
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	cdb, err := sql.Open("sqlite", dsn("wal_autocheckpoint(0)"))
	if err != nil {
		wconn.Close()
		wdb.Close()
		rdb.Close()
		return nil, err
	}
	cdb.SetMaxOpenConns(1)
	s := &Store{
		path: path, wdb: wdb, wconn: wconn, rdb: rdb, cdb: cdb,
		q:     sqlstore.NewQueue(MaxBatch),
		done:  make(chan struct{}),
		cdone: make(chan struct{}),
		stmts: map[string]*sql.Stmt{},
		heads: tree.NewHeads(),
	}
	s.heads.MaxRuns = maxRunHeads
	s.syncCond = sync.NewCond(&s.syncMu)
	s.syncq = make(chan *committedBatch, 8)
	s.sdone = make(chan struct{})
	if s.wal, err = os.OpenFile(path+"-wal", os.O_RDWR, 0); err != nil {
		s.wconn.Close()
		wdb.Close()
		rdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("sqlite: open the WAL for syncing: %w", err)
	}
	go s.writer()
	go s.syncer()
	go s.checkpointer()
	return s, nil
}

func migrate(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		var n int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, string(body)); err != nil {
			c.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("sqlite: migration %s: %w", version, err)
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO schema_migrations(version) VALUES (?)`, version); err != nil {
			c.ExecContext(ctx, "ROLLBACK")
			return err
		}
		if version == "0002_merkle" {
			if err := backfillNodes(ctx, c); err != nil {
				c.ExecContext(ctx, "ROLLBACK")
				return fmt.Errorf("sqlite: backfill merkle nodes: %w", err)
			}
		}
		if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
			return err
		}
	}
	return nil
}

// Stats are the writer's counters since Open.
type Stats struct {
	Batches, Ops int64         // transactions and the Updates they carried
	Syncs        int64         // WAL fsyncs (one may cover several batches)
	Work, Commit time.Duration // time running Updates, time in COMMIT
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.stats.batches.Load(), Ops: s.stats.ops.Load(), Syncs: s.stats.syncs.Load(),
		Work: time.Duration(s.stats.fnNanos.Load()), Commit: time.Duration(s.stats.commitNanos.Load())}
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.PingContext(ctx) }

// Close stops the writer after pending Updates and closes the database.
func (s *Store) Close() error {
	s.q.Stop()
	<-s.done
	close(s.syncq)
	<-s.sdone
	<-s.cdone
	s.wal.Close()
	s.cdb.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	s.cdb.Close()
	for _, st := range s.stmts {
		st.Close()
	}
	s.wconn.Close()
	s.rdb.Close()
	return s.wdb.Close()
}

// Update runs fn in a durable transaction shared with other concurrent Updates.
func (s *Store) Update(ctx context.Context, fn func(cairn.Tx) error) error {
	if errp := s.broken.Load(); errp != nil {
		return cairn.Errorf(cairn.EUnavailable, "the store stopped after a failed fsync; restart the server")
	}
	return s.q.Update(ctx, fn)
}

// View runs fn against a consistent read snapshot.
func (s *Store) View(ctx context.Context, fn func(cairn.ReadTx) error) error {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	if err := fn(new(rtx(newRtx(&conn{ctx: ctx, q: tx}, &s.nodes)))); err != nil {
		return err
	}
	// Serve only durable data: wait for the fsync of every batch that had
	// committed by now (all this read could have seen).
	s.waitSynced(s.committed.Load())
	if s.broken.Load() != nil {
		return cairn.Errorf(cairn.EUnavailable, "the store stopped after a failed fsync; restart the server")
	}
	return nil
}

func (s *Store) waitSynced(n int64) {
	if s.synced.Load() >= n {
		return
	}
	s.syncMu.Lock()
	for s.synced.Load() < n && s.broken.Load() == nil {
		s.syncCond.Wait()
	}
	s.syncMu.Unlock()
}

// committedBatch is a batch whose COMMIT returned; it is acknowledged once
// the WAL is fsync'd.
type committedBatch struct {
	n      int64
	finish func(error)
}

// syncer fsyncs the WAL for committed batches (several at once when they
// queue up) and only then acknowledges them.
func (s *Store) syncer() {
	defer close(s.sdone)
	for b := range s.syncq {
		batch := []*committedBatch{b}
	more:
		for {
			select {
			case nb, ok := <-s.syncq:
				if !ok {
					break more
				}
				batch = append(batch, nb)
			default:
				break more
			}
		}
		err := s.syncWAL()
		if err != nil {
			err = fmt.Errorf("sqlite: fsync WAL: %w", err)
			s.broken.Store(&err)
			s.stats.fsyncFails.Add(1)
		}
		s.stats.syncs.Add(1)
		s.syncMu.Lock()
		if err == nil {
			s.synced.Store(batch[len(batch)-1].n)
		}
		s.syncCond.Broadcast()
		s.syncMu.Unlock()
		for _, b := range batch {
			b.finish(err)
		}
	}
}

// syncWAL fsyncs the WAL file, reopening it if SQLite replaced it.
func (s *Store) syncWAL() error {
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		if cur, err := s.wal.Stat(); err != nil || !os.SameFile(fi, cur) {
			f, err := os.OpenFile(s.path+"-wal", os.O_RDWR, 0)
			if err != nil {
				return err
			}
			s.wal.Close()
			s.wal = f
		}
	}
	return s.wal.Sync()
}

func (s *Store) writer() {
	defer close(s.done)
	s.q.Run(MaxBatch, s.commit)
}

// commit runs a batch of ops in one transaction. It first runs them all
// without savepoints (the common case: every op succeeds). If any op fails,
// the whole transaction is rolled back and the batch is run again with a
// savepoint around each op, so a failing op is undone alone. Update
// functions must therefore be safe to run twice: they read what they need
// inside the transaction and write their results only through the Tx.
func (s *Store) commit(batch []*sqlstore.Op) {
	ctx := context.Background()
	finish := func(err error) { sqlstore.FinishAll(batch, err) }
	start := time.Now()
	s.stats.batches.Add(1)
	s.stats.ops.Add(int64(len(batch)))
	bs, anyOK, err := s.runBatch(ctx, batch, false)
	if err == errRetryGuarded && len(batch) == 1 {
		// A lone op needs no rerun: its failure is the transaction's.
		s.wconn.ExecContext(ctx, "ROLLBACK")
		finish(nil)
		return
	}
	if err == errRetryGuarded {
		s.wconn.ExecContext(ctx, "ROLLBACK")
		bs, anyOK, err = s.runBatch(ctx, batch, true)
	}
	if err != nil {
		s.wconn.ExecContext(ctx, "ROLLBACK")
		finish(err)
		return
	}
	if !anyOK {
		s.wconn.ExecContext(ctx, "ROLLBACK")
		finish(nil)
		return
	}
	committing := time.Now()
	s.stats.fnNanos.Add(int64(committing.Sub(start)))
	defer func() { s.stats.commitNanos.Add(int64(time.Since(committing))) }()
	if _, err := s.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		s.wconn.ExecContext(ctx, "ROLLBACK")
		// Caches may now be ahead of the database: drop them.
		s.heads.Reset()
		s.activeOK = false
		for _, o := range batch {
			o.After = nil
		}
		finish(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	bs.heads.Commit()
	if bs.active != nil {
		s.active, s.activeOK = *bs.active, true
	}
	for tenant, ns := range bs.nodes {
		s.nodes.Put(tenant, ns...)
	}
	// Durable only once the syncer has fsync'd the WAL; meanwhile the writer
	// runs the next batch.
	s.syncq <- &committedBatch{n: s.committed.Add(1), finish: finish}
}

var errRetryGuarded = errors.New("sqlite: an op failed; rerun the batch with savepoints")

// runBatch begins a transaction and runs every op in it. Unguarded, the
// first failing op aborts the run with errRetryGuarded.
// batchState is what a batch's ops changed in the writer's caches.
type batchState struct {
	heads  *tree.Heads // the batch tier, a child of Store.heads
	nodes  map[string][]tree.Node
	active *string // the active snapshot id as the batch's ops left it, if they read or set it
}

func (s *Store) runBatch(ctx context.Context, batch []*sqlstore.Op, guarded bool) (batchState, bool, error) {
	bs := batchState{heads: s.heads.Child(), nodes: map[string][]tree.Node{}}
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return bs, false, fmt.Errorf("sqlite: begin: %w", err)
	}
	// Unguarded, the ops' bodies wait in one buffer until the end of the
	// batch (or a read of bodies), so that a tenant's entries of the whole
	// transaction make one row; guarded, each op's go before its RELEASE.
	bodies := &s.bodies
	clear(*bodies)
	*bodies = (*bodies)[:0]
	bc := &conn{ctx: ctx, q: s.wconn, stmts: s.stmts}
	anyOK := false
	for _, o := range batch {
		o.Err, o.After = nil, nil
		if err := o.Ctx.Err(); err != nil {
			o.Err = err
			if !guarded {
				return bs, false, errRetryGuarded
			}
			continue
		}
		if guarded {
			if _, err := s.wconn.ExecContext(ctx, "SAVEPOINT op"); err != nil {
				o.Err = err
				continue
			}
		}
		// Without savepoints an op never rolls back alone (a failure reruns
		// the whole batch from the committed heads), so ops advance the
		// batch's heads in place; guarded, each op forks its own.
		c := &conn{ctx: ctx, q: s.wconn, stmts: s.stmts}
		t := &wtx{rtx: newRtx(c, nil), Writer: sqlstore.Writer{DB: c, D: dialect}, s: s, heads: bs.heads, batchActive: bs.active, bodies: bodies}
		t.FlushBodies = func() error { return flushBodies(c, bodies) }
		if guarded {
			t.heads = bs.heads.Child()
		}
		err := sqlstore.RunSafely(dialect, o.Fn, t)
		if guarded {
			if err == nil {
				err = flushBodies(c, bodies)
			}
			clear(*bodies)
			*bodies = (*bodies)[:0]
		}
		if err != nil && !guarded {
			o.Err = err // kept for a lone op; a guarded rerun resets it
			return bs, false, errRetryGuarded
		}
		if guarded {
			if err != nil {
				if _, rerr := s.wconn.ExecContext(ctx, "ROLLBACK TO op"); rerr != nil {
					err = errors.Join(err, rerr)
				}
				s.wconn.ExecContext(ctx, "RELEASE op")
				o.Err = err
				continue
			}
			if _, err := s.wconn.ExecContext(ctx, "RELEASE op"); err != nil {
				o.Err = err
				continue
			}
		}
		if guarded {
			t.heads.Commit()
		}
		for k, v := range t.newNodes {
			bs.nodes[k] = append(bs.nodes[k], v...)
		}
		if t.active != nil {
			bs.active = t.active
		}
		o.After = t.after
		anyOK = true
	}
	if err := flushBodies(bc, bodies); err != nil {
		return bs, false, err // the batch fails as a whole, as a failed COMMIT does
	}
	return bs, anyOK, nil
}

// CheckpointEvery is how often the checkpointer copies committed WAL frames
// into the database file (PASSIVE: it never blocks the writer or readers).
const CheckpointEvery = 200 * time.Millisecond

func (s *Store) checkpointer() {
	defer close(s.cdone)
	t := time.NewTicker(CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.q.Quit():
			return
		case <-t.C:
			s.cdb.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// maxRunHeads bounds the run timeline heads the writer keeps per tenant.
const maxRunHeads = 100000
