// Package postgres is Cairn's scale-out store: PostgreSQL through pgx, for
// several `cairn serve` replicas sharing one database. It implements
// cairn.Store with the same semantics as the embedded store (package
// sqlite), the same tables and the same evidence, and cairn.Notifier, so a
// job queued on one replica wakes workers long-polling on the others.
//
// Writes: each replica's Updates are group-committed. One writer connection
// runs up to MaxBatch queued Updates in one READ COMMITTED transaction and
// COMMITs once (synchronous_commit=on: COMMIT returns after the WAL fsync),
// so a 2xx still means durable and one fsync covers many requests. A failing
// Update is isolated with a savepoint rerun, as in the embedded store.
//
// Every write transaction first takes the store's write lock, a
// transaction-scoped advisory lock, and holds it until COMMIT: write
// transactions of all replicas run one at a time, exactly like the embedded
// store's single writer. So the service's read-check-write Update functions
// (is the job still RUNNING? is the approval still pending? is this the
// run's last open job?) see no interleaving, there are no deadlocks, the
// ledger index of a tenant is gap-free and in commit order, and a replica
// that dies mid-transaction releases the lock with its connection. Each
// tenant's ledger head also lives in a ledger_heads row that the
// transaction locks (SELECT … FOR UPDATE) before appending, which would keep
// the index gap-free even without the write lock. Update functions must be
// re-runnable: a batch is re-run after a connection is lost before COMMIT.
//
// Reads (View) run in REPEATABLE READ READ ONLY transactions on a pool of
// connections, concurrently with the writers: a consistent snapshot of
// committed, hence durable, data.
//
// Migrations are embedded and applied in order at Open (and by Migrate),
// under an advisory lock so that replicas starting together do not race.
// See docs/adr/0005-postgres.md.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger/tree"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MaxBatch bounds how many Updates share one transaction.
const MaxBatch = 256

// maxAttempts bounds how often a batch is re-run after a deadlock, a lost
// connection or a lost race before its Updates fail.
const maxAttempts = 8

// queuedChannel is the LISTEN/NOTIFY channel on which versions before
// notesChannel (notes.go) announced newly QUEUED jobs, with the schema as
// the payload (stores in different schemas of one database ignore each
// other). It is listened to, no longer sent on.
const queuedChannel = "cairn_queued"

// Store is the PostgreSQL implementation of cairn.Store.
type Store struct {
	// nodes caches committed Merkle nodes that read views loaded.
	nodes tree.NodeCache

	cfg       *pgxpool.Config
	pool      *pgxpool.Pool
	schema    string
	writeLock int64  // advisory lock key of the store's write lock
	jobSeq    string // the jobs.seq sequence
	runSeq    string // the runs.seq sequence

	q    *sqlstore.Queue
	done chan struct{}

	// writer-owned state (only touched by the writer goroutine)
	wconn *pgx.Conn
	wpid  atomic.Uint32     // the writer connection's backend, for tests
	heads *tree.Heads       // committed ledger heads as this writer last left them (see batch.head)
	epoch int64             // write_epoch after this writer's last commit; -1: unknown
	runs  map[string]runRow // runs as of epoch

	qmu    sync.Mutex
	subs   []func(cairn.QueuedNote) // OnQueued
	lstop  context.CancelFunc
	ldone  chan struct{}
	listen atomic.Bool // the listener is connected

	stats struct {
		batches, ops, retries, commitNanos, fnNanos atomic.Int64
		roundTrips, rtNanos                         atomic.Int64
	}
}

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN; pgxpool settings such as pool_max_conns may be given in it), applies
// the embedded migrations and starts the writer and the listener.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		cfg:   cfg,
		pool:  pool,
		q:     sqlstore.NewQueue(MaxBatch),
		done:  make(chan struct{}),
		heads: tree.NewHeads(),
		epoch: -1,
		runs:  map[string]runRow{},
		ldone: make(chan struct{}),
	}
	s.heads.MaxRuns = 100000
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT current_schema(), hashtextextended('cairn.write/' || current_schema(), 0), pg_get_serial_sequence('jobs', 'seq'), pg_get_serial_sequence('runs', 'seq')`).Scan(&s.schema, &s.writeLock, &s.jobSeq, &s.runSeq); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if s.wconn, err = s.connect(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.wpid.Store(s.wconn.PgConn().PID())
	lctx, cancel := context.WithCancel(context.Background())
	s.lstop = cancel
	go s.listener(lctx)
	go s.writer()
	return s, nil
}

func (s *Store) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.cfg.ConnConfig.Copy()
	// A writer that stops talking mid-transaction (a partitioned replica)
	// must not hold the write lock forever.
	if _, ok := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "60000"
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return c, nil
}

// Migrate applies the embedded migrations that the database at url lacks
// and returns the versions it applied.
func Migrate(ctx context.Context, url string) ([]string, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	var applied []string
	err = migrateFn(ctx, pool, func(v string) { applied = append(applied, v) })
	return applied, err
}

// Versions lists the embedded migrations in the order they apply.
func Versions() []string {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(path.Base(n), ".sql")
	}
	return out
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrateFn(ctx, pool, nil)
}

// migrateFn applies pending migrations, each in its own transaction, while
// holding a session advisory lock keyed by the schema: replicas that start
// together wait for the first one and then find nothing left to do.
func migrateFn(ctx context.Context, pool *pgxpool.Pool, applied func(string)) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer c.Release()
	const lockKey = `hashtextextended('cairn.migrate/' || current_schema(), 0)`
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	defer c.Exec(context.Background(), `SELECT pg_advisory_unlock(`+lockKey+`)`)
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrations table: %w", err)
	}
	for _, version := range Versions() {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + version + ".sql")
		if err != nil {
			return err
		}
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("postgres: migration %s: %w", version, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES ($1)`, version); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", version, err)
		}
		if applied != nil {
			applied(version)
		}
	}
	return nil
}

// Stats are the writer's counters since Open.
type Stats struct {
	Batches, Ops int64         // transactions and the Updates they carried
	Retries      int64         // batches re-run after a deadlock, lost race or lost connection
	Work, Commit time.Duration // time running Updates, time in COMMIT
	RoundTrips   int64         // statements (or pipelines of them) sent while running Updates
	Waiting      time.Duration // time waiting for their answers (the query part of the row read)
}

func (s *Store) roundTrip(start time.Time) {
	s.stats.roundTrips.Add(1)
	s.stats.rtNanos.Add(int64(time.Since(start)))
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.stats.batches.Load(), Ops: s.stats.ops.Load(), Retries: s.stats.retries.Load(),
		Work: time.Duration(s.stats.fnNanos.Load()), Commit: time.Duration(s.stats.commitNanos.Load()),
		RoundTrips: s.stats.roundTrips.Load(), Waiting: time.Duration(s.stats.rtNanos.Load())}
}

// Pool is the connection pool (for tools such as cairn copy).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema is the schema the store lives in.
func (s *Store) Schema() string { return s.schema }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close stops the writer after pending Updates and closes the connections.
func (s *Store) Close() error {
	s.q.Stop()
	<-s.done
	s.lstop()
	<-s.ldone
	if s.wconn != nil {
		s.wconn.Close(context.Background())
	}
	s.pool.Close()
	return nil
}

// listener LISTENs for queued jobs on its own connection, reconnecting
// with backoff; each (re)connection fires once, since notifications sent
// while it was away are lost.
func (s *Store) listener(ctx context.Context) {
	defer close(s.ldone)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		c, err := s.connect(ctx)
		if err == nil {
			_, err = c.Exec(ctx, `LISTEN `+queuedChannel+`; LISTEN `+notesChannel)
		}
		if err == nil {
			s.listen.Store(true)
			s.tell(cairn.QueuedNote{})
			backoff = 100 * time.Millisecond
			for {
				n, werr := c.WaitForNotification(ctx)
				if werr != nil {
					break
				}
				s.heard(n.Channel, n.Payload)
			}
			s.listen.Store(false)
		}
		if c != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c.Close(cctx)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Update runs fn in a durable transaction shared with other concurrent Updates.
func (s *Store) Update(ctx context.Context, fn func(cairn.Tx) error) error {
	return storeError(s.q.Update(ctx, fn))
}

// View runs fn against a consistent snapshot of committed data.
func (s *Store) View(ctx context.Context, fn func(cairn.ReadTx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return storeError(fmt.Errorf("postgres: begin read: %w", err))
	}
	defer tx.Rollback(context.Background())
	return storeError(fn(new(rtx(newRtx(&conn{ctx: ctx, q: tx}, &s.nodes)))))
}

func (s *Store) writer() {
	defer close(s.done)
	s.q.Run(MaxBatch, s.commit)
}

// outcome of running a batch once.
type outcome int

const (
	ranOK     outcome = iota // every op ran (some may have failed, guarded)
	opFailed                 // unguarded: an op failed; re-run guarded
	transient                // deadlock, lost race or lost connection: re-run
)

// commit runs a batch of ops in one transaction, like the embedded store:
// optimistically without savepoints, then, if an op failed, again with a
// savepoint around each op so a failing op is undone alone. Deadlocks, lost
// races (a unique key taken by a concurrent transaction) and connections
// lost before COMMIT re-run the batch; Update functions are re-runnable.
func (s *Store) commit(batch []*sqlstore.Op) {
	ctx := context.Background()
	finish := func(err error) { sqlstore.FinishAll(batch, err) }
	start := time.Now()
	s.stats.batches.Add(1)
	s.stats.ops.Add(int64(len(batch)))
	guarded := false
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.stats.retries.Add(1)
			if attempt >= maxAttempts {
				finish(fmt.Errorf("postgres: gave up after %d attempts: %w", attempt, lastErr))
				return
			}
			// Back off with jitter so replicas that deadlocked do not meet again.
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 6))) + time.Millisecond)
		}
		if s.wconn == nil || s.wconn.IsClosed() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := s.connect(cctx)
			cancel()
			if err != nil {
				lastErr = err
				if s.wconn != nil {
					s.wconn = nil
				}
				continue
			}
			s.wconn = c
			s.wpid.Store(c.PgConn().PID())
		}
		b := newBatch(s, s.wconn)
		res, err := b.run(batch, guarded)
		switch res {
		case opFailed:
			b.rollback()
			if len(batch) == 1 && !errors.Is(batch[0].Err, errJobExists) {
				if isTransient(batch[0].Err) {
					lastErr = batch[0].Err
					continue
				}
				finish(nil)
				return
			}
			guarded = true
			attempt-- // not a retry: the optimistic run just did not fit
			continue
		case transient:
			b.rollback()
			lastErr = err
			continue
		}
		if !b.anyOK {
			b.rollback()
			finish(nil)
			return
		}
		if err := b.finishBatch(); err != nil {
			b.rollback()
			if !guarded && !s.wconn.IsClosed() {
				// A deferred write of some Update failed: find which.
				guarded = true
				attempt--
				continue
			}
			lastErr = err
			continue
		}
		committing := time.Now()
		s.stats.fnNanos.Add(int64(committing.Sub(start)))
		_, err = s.wconn.Exec(ctx, "COMMIT")
		s.stats.commitNanos.Add(int64(time.Since(committing)))
		if err != nil {
			// Whether it committed is unknown if the connection broke during
			// COMMIT: tell the callers, never run the batch again.
			s.heads.Reset()
			s.epoch, s.runs = -1, map[string]runRow{}
			if s.wconn.IsClosed() {
				finish(&cairn.Error{Code: cairn.CodeOutcomeUnknown, Cause: err,
					Message: "the connection to the database was lost during COMMIT: whether this write took effect is unknown; read to find out"})
			} else {
				b.rollback()
				finish(fmt.Errorf("postgres: commit: %w", err))
			}
			return
		}
		b.committed()
		finish(nil)
		return
	}
}

// isTransient reports errors after which re-running the transaction may
// succeed: deadlocks, serialization failures, a unique key taken by a
// concurrent transaction, and a connection lost before COMMIT.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errRace) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505", "55P03":
			return true
		}
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// storeError turns an error meaning that the database cannot be reached
// or is not taking work now (shutting down, starting up, connection lost
// or refused, too many connections) into 503 unavailable, which the HTTP
// layer answers with Retry-After and clients retry: the request did nothing
// (a write that might have committed is reported as commit_outcome_unknown
// instead). Other errors are returned as they are.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	var ce *cairn.Error
	if errors.As(err, &ce) || !unreachable(err) {
		return err
	}
	return &cairn.Error{Code: cairn.EUnavailable, Cause: err,
		Message: "the database is unavailable (restarting or unreachable); retry shortly"}
}

// unreachable reports errors of the connection or of the server's
// availability, as opposed to errors of the statement.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300": // admin/crash shutdown, cannot connect now, too many connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exception
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || pgconn.Timeout(err)
}

// errRace is returned inside a transaction when a concurrent transaction
// created a row this one was about to create (a run): the batch is re-run
// and then finds the row.
var errRace = errors.New("postgres: a concurrent transaction created the same row; re-run")

var (
	_ cairn.Store    = (*Store)(nil)
	_ cairn.Notifier = (*Store)(nil)
)
