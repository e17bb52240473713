package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/serve"
)

// benchServeStore is the store of the server bench starts: the embedded
// store under its data directory, or --store when it names PostgreSQL (an
// empty schema, for bytes at rest to mean this run's jobs).
func (o *benchOptions) benchServeStore() string {
	if serve.IsPostgres(o.Store) {
		return o.Store
	}
	return ""
}

// openBenchStore opens the store of the server bench starts.
func (o *benchOptions) openBenchStore(ctx context.Context, dir string) (cairn.Store, error) {
	return serve.OpenStore(o.benchServeStore(), dir)
}

// relSize is one table's bytes at rest: its own pages and its indexes'.
type relSize struct {
	name           string
	table, indexes int64
}

// atRest prints the bytes the store holds per job once the server
// bench started has stopped (gracefully: the embedded store checkpoints
// its WAL into the database file as it closes), in all and table by table.
// The figure counts every job in the store.
func (o *benchOptions) atRest(ctx context.Context, dir string) {
	spec := o.benchServeStore()
	var (
		rels        []relSize
		total, jobs int64
		what        string
		err         error
	)
	if serve.IsPostgres(spec) {
		rels, jobs, err = pgAtRest(ctx, spec)
		for _, r := range rels {
			total += r.table + r.indexes
		}
		what = "postgres: pg_total_relation_size of the schema's tables"
	} else {
		var db, wal int64
		rels, jobs, db, wal, err = sqliteAtRest(filepath.Join(dir, "cairn.db"))
		total = db + wal
		what = fmt.Sprintf("sqlite after a graceful stop: cairn.db %d + WAL %d bytes", db, wal)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot measure bytes at rest: %v\n", err)
		return
	}
	if jobs == 0 {
		return
	}
	fmt.Printf("at rest (%s): %d bytes for %d jobs, %.0f bytes/job\n", what, total, jobs, float64(total)/float64(jobs))
	sort.Slice(rels, func(i, j int) bool { return rels[i].table+rels[i].indexes > rels[j].table+rels[j].indexes })
	for _, r := range rels {
		if r.table+r.indexes < total/200 {
			continue
		}
		fmt.Printf("  %-14s %7.0f bytes/job (table %.0f, indexes %.0f)\n", r.name,
			float64(r.table+r.indexes)/float64(jobs), float64(r.table)/float64(jobs), float64(r.indexes)/float64(jobs))
	}
}

// sqliteAtRest reads the database file's size, its WAL's, and the pages of
// each table and of its indexes (the dbstat virtual table).
func sqliteAtRest(path string) (rels []relSize, jobs, db, wal int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	db = fi.Size()
	if fi, err := os.Stat(path + "-wal"); err == nil {
		wal = fi.Size()
	}
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer conn.Close()
	if err := conn.QueryRow(`SELECT count(*) FROM jobs`).Scan(&jobs); err != nil {
		return nil, 0, 0, 0, err
	}
	rows, err := conn.Query(`SELECT coalesce(m.tbl_name, s.name), coalesce(m.type, 'table'), sum(s.pgsize)
		FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY 1, 2`)
	if err != nil {
		return nil, jobs, db, wal, nil // no dbstat: the totals alone
	}
	defer rows.Close()
	by := map[string]*relSize{}
	for rows.Next() {
		var table, kind string
		var n int64
		if err := rows.Scan(&table, &kind, &n); err != nil {
			return nil, 0, 0, 0, err
		}
		r := by[table]
		if r == nil {
			r = &relSize{name: table}
			by[table] = r
		}
		if kind == "index" {
			r.indexes += n
		} else {
			r.table += n
		}
	}
	for _, r := range by {
		rels = append(rels, *r)
	}
	return rels, jobs, db, wal, rows.Err()
}

// pgAtRest reads each table of the store's schema: pg_table_size (heap,
// TOAST, free space and visibility maps) and pg_indexes_size.
func pgAtRest(ctx context.Context, url string) ([]relSize, int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(context.Background())
	var jobs int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobs); err != nil {
		return nil, 0, err
	}
	rows, err := conn.Query(ctx, `SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var rels []relSize
	for rows.Next() {
		var r relSize
		if err := rows.Scan(&r.name, &r.table, &r.indexes); err != nil {
			return nil, 0, err
		}
		rels = append(rels, r)
	}
	return rels, jobs, rows.Err()
}

// auditLoad submits ALLOW jobs at a fixed rate until its stop is called:
// the writes the audit queries are measured under (--load). stop returns
// what the load achieved.
func auditLoad(ctx context.Context, c *benchClient, rate int) (stop func() string) {
	if rate <= 0 {
		return func() string { return "" }
	}
	ctx, cancel := context.WithCancel(ctx)
	ticks := make(chan int, rate)
	var ok, failed, missed atomic.Int64
	var wg sync.WaitGroup
	prefix := fmt.Sprintf("l%d", time.Now().UnixNano())
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ticks {
				body := fmt.Sprintf(`{"job_id":"%s-%d","run_id":"%s-run-%d","action":"db.read","resource":"orders","labels":{"env":"prod"},"input":%s}`, prefix, i, prefix, i/100, benchInput(i))
				if _, err := c.do("POST", "/api/v1/jobs", []byte(body), nil); err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	start := time.Now()
	go func() {
		defer close(ticks)
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case ticks <- i:
			default:
				missed.Add(1)
			}
		}
	}()
	return func() string {
		cancel()
		wg.Wait()
		el := time.Since(start).Seconds()
		return fmt.Sprintf("while submitting at %d/s: %d submits in %.0f s (%.0f/s achieved), %d failed, %d not sent (clients busy)",
			rate, ok.Load(), el, float64(ok.Load())/el, failed.Load(), missed.Load())
	}
}
