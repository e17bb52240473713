package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/serve"
)

// soakOptions configures a soak run (cairn bench soak).
type soakOptions struct {
	target, key string // a running server and its admin key; empty: start one
	data, store string // the server's data dir and --store (also what is measured)
	duration    time.Duration
	interval    time.Duration // one row per interval
	rate        int           // mixed operations a second
	senders     int           // concurrent requests at most
	serverBin   string        // the cairn binary to run as the server (default: this one)
	out         io.Writer
}

// soakRow is one interval of a soak: the server's resources at its end and
// the operations during it.
type soakRow struct {
	At         time.Duration
	Ops        int
	Errors     int
	RSS        int64 // bytes
	Goroutines int64
	FDs        int64
	WAL        int64 // embedded store's WAL bytes; -1 when not measured
	DB         int64 // database bytes (cairn.db, or pg_database_size); -1 when not measured
	P99        map[string]time.Duration
}

// soakVerdict is the judgement of a soak: resources flat after warm-up and
// no failed request.
type soakVerdict struct {
	Flat    bool
	Errors  int
	Reasons []string
}

// OK reports whether the soak passed.
func (v soakVerdict) OK() bool { return v.Flat && v.Errors == 0 }

// Growth tolerances of judgeSoak (ADR 0022): the last third of the rows
// against the second third. RSS compares means. Goroutines and descriptors
// are point samples that include the requests in flight, which swing with
// latency (up to one of each per sender), so they compare the floor of
// each third, which a leak raises and a burst of slow requests does not,
// with an absolute slack on top of the relative one.
const (
	soakRSSGrowth   = 0.10
	soakCountGrowth = 0.10
	soakCountSlack  = 5
)

// judgeSoak decides whether rows show flat resources after warm-up (the
// first third): RSS, goroutines and open descriptors of the last third may
// not exceed those of the second third by more than the tolerances. Errors
// are summed over every row.
func judgeSoak(rows []soakRow) soakVerdict {
	v := soakVerdict{Flat: true}
	for _, r := range rows {
		v.Errors += r.Errors
	}
	n := len(rows)
	if n < 3 {
		v.Flat = false
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d rows: at least 3 are needed to judge flatness after warm-up", n))
		return v
	}
	second, last := rows[n/3:2*n/3], rows[2*n/3:]
	check := func(name, stat string, agg func([]soakRow, func(soakRow) int64) float64, get func(soakRow) int64, rel, abs float64) {
		a, b := agg(second, get), agg(last, get)
		if b > a*(1+rel)+abs {
			v.Flat = false
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s grew from %.1f (%s of the second third) to %.1f (last third), over %.0f %% + %.0f", name, a, stat, b, rel*100, abs))
		}
	}
	check("RSS MB", "mean", meanOf, func(r soakRow) int64 { return r.RSS >> 20 }, soakRSSGrowth, 0)
	check("goroutines", "floor", minOf, func(r soakRow) int64 { return r.Goroutines }, soakCountGrowth, soakCountSlack)
	check("open fds", "floor", minOf, func(r soakRow) int64 { return r.FDs }, soakCountGrowth, soakCountSlack)
	return v
}

func meanOf(rows []soakRow, get func(soakRow) int64) float64 {
	var s float64
	for _, r := range rows {
		s += float64(get(r))
	}
	return s / float64(len(rows))
}

func minOf(rows []soakRow, get func(soakRow) int64) float64 {
	m := get(rows[0])
	for _, r := range rows[1:] {
		m = min(m, get(r))
	}
	return float64(m)
}

// runSoak runs the mixed load for o.duration and returns a row per
// o.interval. It prints each row to o.out as it is taken.
func runSoak(ctx context.Context, o soakOptions) ([]soakRow, []string, error) {
	base, key, stop, err := soakServer(ctx, &o)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	admin := client.New(base, key)
	keys, err := setupSoak(ctx, admin)
	if err != nil {
		return nil, nil, err
	}
	size, closeSize := storeSizer(ctx, o)
	defer closeSize()
	load := newMixedLoad(base, keys, nil, 3)
	// Requests run under ctx, not a deadline: at the end the load stops
	// sending and the requests in flight finish (and count).
	halt, done := make(chan struct{}), make(chan struct{})
	go func() { load.drive(ctx, halt, o.rate, o.senders); close(done) }()
	finish := func() { close(halt); <-done }
	fmt.Fprintf(o.out, "soak: %d mixed ops/s for %s, a row every %s (%s)\n", o.rate, o.duration, o.interval, soakCycleDesc)
	printSoakHeader(o.out)
	var rows []soakRow
	start := time.Now()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for len(rows) < int(o.duration/o.interval) {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
		lat, errs := load.take()
		row := soakRow{At: time.Since(start).Round(time.Second), Errors: errs, P99: map[string]time.Duration{}}
		for k, ds := range lat {
			row.Ops += len(ds)
			row.P99[k] = p99(ds)
		}
		row.RSS, row.Goroutines, row.FDs, err = serverResources(ctx, base)
		if err != nil {
			finish()
			return rows, load.errors(), err
		}
		row.WAL, row.DB = size()
		rows = append(rows, row)
		printSoakRow(o.out, row)
	}
	finish()
	if _, errs := load.take(); errs > 0 && len(rows) > 0 {
		rows[len(rows)-1].Errors += errs // requests in flight at the last row
	}
	return rows, load.errors(), ctx.Err()
}

const soakCycleDesc = "per 20: 4 ALLOW + 1 DENY + 2 REQUIRE_APPROVAL submits, 2 approvals, 3 leases, 3 completions, 4 audit queries, 1 evidence export"

// soakServer returns the server to soak: o.target, or a cairn serve child
// process on a fresh data directory (and o.store), so that its resources
// are the server's alone.
func soakServer(ctx context.Context, o *soakOptions) (base, key string, stop func(), err error) {
	if o.target != "" {
		return strings.TrimRight(o.target, "/"), o.key, func() {}, nil
	}
	cleanup := func() {}
	if o.data == "" {
		d, err := os.MkdirTemp("", "cairn-soak-")
		if err != nil {
			return "", "", nil, err
		}
		o.data = d
		cleanup = func() { os.RemoveAll(d) }
	}
	bin := o.serverBin
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return "", "", nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	raw := make([]byte, 16)
	rand.Read(raw)
	key = "cairn_soak_" + hex.EncodeToString(raw)
	args := []string{"serve", "--data", o.data, "--addr", addr, "--log-level", "warn"}
	if o.store != "" {
		args = append(args, "--store", o.store)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CAIRN_ADMIN_KEY="+key, "CAIRN_STORE=")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cleanup()
		return "", "", nil, err
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		t := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
		t.Stop()
		cleanup()
	}
	base = "http://" + addr
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := nethttp.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				fmt.Fprintf(os.Stderr, "soak: server pid %d on %s, data %s, store %s\n", cmd.Process.Pid, base, o.data, serve.StoreName(o.store))
				return base, key, stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", "", nil, errors.New("soak: the server did not become ready")
}

// serverResources reads the server's RSS, goroutines and open descriptors
// from its /metrics.
func serverResources(ctx context.Context, base string) (rss, goroutines, fds int64, err error) {
	req, _ := nethttp.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("soak: reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, 0, err
	}
	text := string(b)
	vals := make([]int64, 3)
	for i, name := range []string{"process_resident_memory_bytes", "go_goroutines", "process_open_fds"} {
		v, ok := metricValue(text, name)
		if !ok {
			return 0, 0, 0, fmt.Errorf("soak: /metrics has no %s", name)
		}
		vals[i] = int64(v)
	}
	return vals[0], vals[1], vals[2], nil
}

// storeSizer returns a function measuring the store: for the embedded
// store under o.data its WAL and database file, for PostgreSQL the size
// of the database; -1 for what it cannot measure.
func storeSizer(ctx context.Context, o soakOptions) (func() (wal, db int64), func()) {
	fileSize := func(p string) int64 {
		if fi, err := os.Stat(p); err == nil {
			return fi.Size()
		}
		return -1
	}
	switch {
	case serve.IsPostgres(o.store):
		conn, err := pgx.Connect(ctx, o.store)
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: cannot measure the database size: %v\n", err)
			return func() (int64, int64) { return -1, -1 }, func() {}
		}
		var av string
		if conn.QueryRow(ctx, "SHOW autovacuum").Scan(&av) == nil && av != "on" {
			fmt.Fprintln(os.Stderr, "soak: warning: this PostgreSQL server runs with autovacuum off: dead row versions of jobs and approvals pile up and queries slow down as the soak goes on")
		}
		return func() (int64, int64) {
				var n int64
				if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
					return -1, -1
				}
				return -1, n
			}, func() {
				conn.Close(context.Background())
			}
	case o.data != "" && o.store == "":
		db := filepath.Join(o.data, "cairn.db")
		return func() (int64, int64) { return fileSize(db + "-wal"), fileSize(db) }, func() {}
	}
	return func() (int64, int64) { return -1, -1 }, func() {}
}

func printSoakHeader(w io.Writer) {
	fmt.Fprintf(w, "%6s %6s %4s %7s %5s %4s %8s %8s", "min", "ops", "err", "rss MB", "gor", "fds", "wal MB", "db MB")
	for _, k := range opKinds {
		fmt.Fprintf(w, " %9s", "p99 "+k)
	}
	fmt.Fprintln(w)
}

func mb(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/(1<<20))
}

func printSoakRow(w io.Writer, r soakRow) {
	fmt.Fprintf(w, "%6.1f %6d %4d %7s %5d %4d %8s %8s", r.At.Minutes(), r.Ops, r.Errors, mb(r.RSS), r.Goroutines, r.FDs, mb(r.WAL), mb(r.DB))
	for _, k := range opKinds {
		fmt.Fprintf(w, " %9s", fmtMS(r.P99[k]))
	}
	fmt.Fprintln(w)
}

func fmtMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// writeSoakCSV writes rows as CSV with a header.
func writeSoakCSV(w io.Writer, rows []soakRow) error {
	cw := csv.NewWriter(w)
	head := []string{"elapsed_s", "ops", "errors", "rss_bytes", "goroutines", "open_fds", "wal_bytes", "db_bytes"}
	for _, k := range opKinds {
		head = append(head, "p99_"+k+"_ms")
	}
	cw.Write(head)
	for _, r := range rows {
		rec := []string{strconv.Itoa(int(r.At.Seconds())), strconv.Itoa(r.Ops), strconv.Itoa(r.Errors),
			strconv.FormatInt(r.RSS, 10), strconv.FormatInt(r.Goroutines, 10), strconv.FormatInt(r.FDs, 10),
			strconv.FormatInt(r.WAL, 10), strconv.FormatInt(r.DB, 10)}
		for _, k := range opKinds {
			rec = append(rec, strconv.FormatFloat(float64(r.P99[k])/float64(time.Millisecond), 'f', 2, 64))
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// soak is cairn bench soak: it runs the soak, prints the table and
// the verdict, writes --csv, and fails unless the soak passed.
func (b *benchOptions) soak(ctx context.Context, out io.Writer) error {
	if b.Judge != "" {
		return judgeSoakFile(b.Judge, out)
	}
	// Stop the server it started on Ctrl-C or SIGTERM.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	o := soakOptions{target: b.Target, data: b.Data, store: b.Store,
		duration: b.Duration, interval: b.Interval, rate: b.Rate,
		senders: b.Clients, out: out}
	if o.rate <= 0 {
		o.rate = 100
	}
	if o.interval <= 0 || o.interval > o.duration {
		return fmt.Errorf("--interval %s: must be positive and at most --duration", o.interval)
	}
	if o.target != "" {
		k, err := b.g.resolveKey()
		if err != nil {
			return err
		}
		o.key = k
	}
	rows, errs, err := runSoak(ctx, o)
	if err != nil && len(rows) == 0 {
		return err
	}
	if err != nil {
		// Interrupted: still show what was measured.
		fmt.Fprintf(out, "soak stopped early: %v\n", err)
	}
	if b.CSV != "" {
		f, err := os.Create(b.CSV)
		if err != nil {
			return err
		}
		if err := writeSoakCSV(f, rows); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if rerr := reportSoak(out, rows, errs); err == nil {
		err = rerr
	}
	return err
}

// reportSoak prints the table, the errors seen and the verdict; it fails
// unless the soak passed.
func reportSoak(out io.Writer, rows []soakRow, errs []string) error {
	fmt.Fprintln(out, "\nsoak table:")
	printSoakHeader(out)
	for _, r := range rows {
		printSoakRow(out, r)
	}
	v := judgeSoak(rows)
	for _, e := range errs {
		fmt.Fprintln(out, "error:", e)
	}
	for _, r := range v.Reasons {
		fmt.Fprintln(out, "not flat:", r)
	}
	fmt.Fprintf(out, "soak: resources flat after warm-up: %v; errors: %d\n", v.Flat, v.Errors)
	if !v.OK() {
		return errors.New("soak failed")
	}
	return nil
}

// readSoakCSV reads rows written by writeSoakCSV.
func readSoakCSV(r io.Reader) ([]soakRow, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(recs[0]) != 8+len(opKinds) || recs[0][0] != "elapsed_s" {
		return nil, errors.New("not a soak CSV (cairn bench soak --csv)")
	}
	var rows []soakRow
	for i, rec := range recs[1:] {
		var n [8]int64
		for j := range n {
			if n[j], err = strconv.ParseInt(rec[j], 10, 64); err != nil {
				return nil, fmt.Errorf("row %d, column %s: %w", i+1, recs[0][j], err)
			}
		}
		row := soakRow{At: time.Duration(n[0]) * time.Second, Ops: int(n[1]), Errors: int(n[2]), RSS: n[3],
			Goroutines: n[4], FDs: n[5], WAL: n[6], DB: n[7], P99: map[string]time.Duration{}}
		for j, k := range opKinds {
			ms, err := strconv.ParseFloat(rec[8+j], 64)
			if err != nil {
				return nil, fmt.Errorf("row %d, column %s: %w", i+1, recs[0][8+j], err)
			}
			row.P99[k] = time.Duration(ms * float64(time.Millisecond))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// judgeSoakFile is cairn bench soak --judge FILE: the verdict on a
// recorded soak.
func judgeSoakFile(path string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := readSoakCSV(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return reportSoak(out, rows, nil)
}
