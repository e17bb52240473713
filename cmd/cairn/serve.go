package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	nethttp "net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/metrics"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/cairnhq/cairn/internal/ui"
	"github.com/cairnhq/cairn/ledger/tree"
)

// DefaultGCPercent is the GC target `cairn serve` uses unless GOGC is set.
const DefaultGCPercent = 200

// benchStore, when set, receives the store of an in-process server (bench).
var benchStore chan *sqlite.Store

var serveFlags struct {
	data string
	addr string
	// metricsAddr is the separate listener of /metrics (ADR 0037).
	metricsAddr string
	logLevel    string
	store       string
	ledgerKey   string
	saltFile    string
	drain       time.Duration
	listenFD    int
	rateLimit   float64
	rateBurst   int
	inflight    int
	polls       int
	share       int
	authFail    float64
	authBurst   int
	bodyWait    time.Duration
	exports     int
}

var serveCmd = &cobra.Command{
	Use:   "serve",
	Short: "Run the Cairn control plane",
	Long: `Run the Cairn API on the embedded SQLite store under --data, or on
PostgreSQL with --store postgres://… (env CAIRN_STORE), where several
replicas may share one database (docs/deploy.md). Migrations are applied at
start.

On first start with an empty store it creates tenant "default" and an admin
key: $CAIRN_ADMIN_KEY if set, otherwise a random key printed once to stderr
and written to <data>/admin.key (mode 0600).

Replicas must share the checkpoint signing key and the findings salt: give
each the same --ledger-key and --salt-file (by default both are created
under --data). The store records them at first start (the public key and a
keyed fingerprint of the salt); a server given others refuses to start. On SIGTERM the server fails /readyz and answers with
"Connection: close" for --drain, so a load balancer stops sending it
requests, then finishes the requests in flight and exits.

--rate-limit N (env CAIRN_RATE_LIMIT) limits each principal to N requests a
second on average, with bursts of --rate-burst (default N, at least 1):
requests over it get 429 too_many_requests with Retry-After. --max-inflight N
(env CAIRN_MAX_INFLIGHT) bounds the API requests worked on at once, and
--max-polls (default N) the long-polling leases, apart: past either, 503
unavailable with Retry-After: 1. One principal may hold at most
--max-inflight-per-principal of each (default a quarter, at least 1): past
it, 429. Both bounds are off by default. A request body must arrive within
--body-timeout (default 10s; 408 otherwise), and is read before the request
takes a slot. Each client address may fail authentication --auth-fail-limit
times a second (default 1; 0 turns it off), in bursts of --auth-fail-burst
(default 20): past it, every API request from it gets 429 with Retry-After. --max-exports N
(env CAIRN_MAX_EXPORTS, default 2) bounds the evidence exports and ledger
verifications running at once (each streams and holds a store reader while
its client reads): past it, 503 unavailable with Retry-After.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		if err := rateFlagsFromEnv(cmd); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, serveFlags.data, serveFlags.addr, serveFlags.logLevel)
	},
}

func init() {
	serveCmd.Flags().StringVar(&serveFlags.data, "data", envOr("CAIRN_DATA", "./cairn-data"), "data directory of the embedded store (env CAIRN_DATA)")
	serveCmd.Flags().StringVar(&serveFlags.addr, "addr", envOr("CAIRN_ADDR", "127.0.0.1:8081"), "listen address (env CAIRN_ADDR)")
	serveCmd.Flags().StringVar(&serveFlags.logLevel, "log-level", envOr("CAIRN_LOG_LEVEL", "info"), "debug, info, warn or error")
	serveCmd.Flags().StringVar(&serveFlags.store, "store", envOr("CAIRN_STORE", ""), "store: empty for the embedded store under --data, or a postgres:// URL (env CAIRN_STORE)")
	serveCmd.Flags().StringVar(&serveFlags.ledgerKey, "ledger-key", envOr("CAIRN_LEDGER_KEY_FILE", ""), "checkpoint signing key file, shared by replicas (default <data>/ledger.key; env CAIRN_LEDGER_KEY_FILE)")
	serveCmd.Flags().StringVar(&serveFlags.saltFile, "salt-file", envOr("CAIRN_SALT_FILE", ""), "output-safety findings salt file, shared by replicas (default <data>/findings.salt; env CAIRN_SALT_FILE)")
	serveCmd.Flags().IntVar(&serveFlags.listenFD, "listen-fd", 0, "serve on this inherited, already listening socket instead of binding --addr (for supervisors that hold the port across restarts)")
	serveCmd.Flags().Float64Var(&serveFlags.rateLimit, "rate-limit", 0, "requests a second each principal may make on average; 0 = no limit (env CAIRN_RATE_LIMIT)")
	serveCmd.Flags().IntVar(&serveFlags.rateBurst, "rate-burst", 0, "requests a principal may make at once under --rate-limit (default: the limit, at least 1; env CAIRN_RATE_BURST)")
	serveCmd.Flags().IntVar(&serveFlags.inflight, "max-inflight", 0, "API requests worked on at once, long-polling leases apart; past it 503 with Retry-After; 0 = no bound (env CAIRN_MAX_INFLIGHT)")
	serveCmd.Flags().IntVar(&serveFlags.polls, "max-polls", 0, "long-polling leases at once under --max-inflight (default: --max-inflight)")
	serveCmd.Flags().IntVar(&serveFlags.share, "max-inflight-per-principal", 0, "requests, and long polls, one principal may have in flight under --max-inflight; past it 429 (default: a quarter of each bound, at least 1)")
	serveCmd.Flags().Float64Var(&serveFlags.authFail, "auth-fail-limit", cairnhttp.DefaultAuthFailRate, "failed authentications a second each client address may make on average; past it 429; 0 = no limit")
	serveCmd.Flags().IntVar(&serveFlags.authBurst, "auth-fail-burst", cairnhttp.DefaultAuthFailBurst, "failed authentications a client address may make at once under --auth-fail-limit")
	serveCmd.Flags().DurationVar(&serveFlags.bodyWait, "body-timeout", cairnhttp.DefaultBodyTimeout, "how long a request body may take to arrive; past it 408")
	serveCmd.Flags().IntVar(&serveFlags.exports, "max-exports", 0, "evidence exports and ledger verifications running at once; past it 503 with Retry-After; 0 = the default, 2 (env CAIRN_MAX_EXPORTS)")
	serveCmd.Flags().StringVar(&serveFlags.metricsAddr, "metrics-addr", envOr("CAIRN_METRICS_ADDR", ""), "serve /metrics without authentication on this separate listen address too (env CAIRN_METRICS_ADDR); on --addr /metrics needs no key only from loopback (ADR 0037)")
	serveCmd.Flags().DurationVar(&serveFlags.drain, "drain", envDuration("CAIRN_DRAIN", 0), "on SIGTERM, fail /readyz and keep serving this long before shutting down (env CAIRN_DRAIN)")
	addTlogFlags(serveCmd)
	rootCmd.AddCommand(serveCmd)
}

// loadSecret reads a random secret file under the data dir, creating it (0600) if missing.
func loadSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == n {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := writeFileSync(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// writeFileSync writes a file durably with the given mode.
func writeFileSync(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func serve(ctx context.Context, dataDir, addr, level string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if os.Getenv("GOGC") == "" {
		// Submits allocate heavily and the live heap is small (tens of MB):
		// collecting less often buys throughput (GOGC=400 measured ≈25 %
		// more durable submits/s than 100 in a quiet window) but lengthens
		// read tails (audit-query p99 6 ms at 400 against ≈4 ms at 100 and
		// 200). 200 is the compromise; GOGC and GOMEMLIMIT override it.
		// Figures in BENCHMARKS.md.
		debug.SetGCPercent(DefaultGCPercent)
	}
	if path := os.Getenv("CAIRN_CPUPROFILE"); path != "" {
		// For performance work: a CPU profile of the whole server run.
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	spec := serveFlags.store
	if benchStore != nil {
		spec = "" // bench measures the embedded store it starts
	}
	store, err := openStore(spec, dataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	if benchStore != nil {
		benchStore <- store.(*sqlite.Store)
	}
	if isPostgres(spec) && (serveFlags.ledgerKey == "" || serveFlags.saltFile == "") {
		log.Warn("replicas sharing a PostgreSQL store must share the checkpoint signing key and findings salt: pass the same --ledger-key and --salt-file to each")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The data dir holds the signing key, the salt and (embedded store) the
	// database: its owner's alone, whatever made it looser.
	if fi, err := os.Stat(dataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dataDir, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	saltPath := serveFlags.saltFile
	if saltPath == "" {
		saltPath = filepath.Join(dataDir, "findings.salt")
	}
	salt, err := loadSecret(saltPath, 32)
	if err != nil {
		return fmt.Errorf("findings salt: %w", err)
	}
	stopTracing, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	observer := metrics.NewObserver()
	svc := service.New(observer.Wrap(tracing.WrapStore(store)), log, salt)
	svc.SetMaxExports(serveFlags.exports)
	keyPath := serveFlags.ledgerKey
	if keyPath == "" {
		keyPath = filepath.Join(dataDir, "ledger.key")
	}
	ledgerKey, err := tree.LoadOrCreateKey(keyPath, "cairn")
	if err != nil {
		return fmt.Errorf("ledger signing key: %w", err)
	}
	svc.SetLedgerKey(ledgerKey, envOr("CAIRN_ORIGIN_PREFIX", service.DefaultOriginPrefix))
	envKey := os.Getenv("CAIRN_ADMIN_KEY")
	key, err := svc.Bootstrap(ctx, envKey)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if key != "" && envKey == "" {
		path := filepath.Join(dataDir, "admin.key")
		if err := writeFileSync(path, []byte(key+"\n"), 0o600); err != nil {
			return fmt.Errorf("write admin key: %w", err)
		}
		fmt.Fprintf(os.Stderr, "cairn: created tenant \"default\" and its admin key (shown once, also in %s):\n%s\n", path, key)
	}
	if err := svc.Start(ctx); err != nil {
		var mm *service.SecretMismatchError
		if errors.As(err, &mm) {
			from := "--ledger-key " + keyPath
			if mm.Name == cairn.SecretFindingsSalt {
				from = "--salt-file " + saltPath
			}
			return fmt.Errorf("refusing to start: %w (this server's is from %s)", err, from)
		}
		return err
	}
	defer svc.Stop()
	api := cairnhttp.New(svc, log)
	if err := metrics.Register(api.Registry(), observer, metrics.NewCollector(store, log)); err != nil {
		return err
	}
	stopMetrics, err := serveMetrics(serveFlags.metricsAddr, api.MetricsHandler(), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	api.UI = ui.Handler()
	api.SetRateLimit(serveFlags.rateLimit, serveFlags.rateBurst)
	api.SetInflight(cairnhttp.InflightLimits{Calls: serveFlags.inflight, Polls: serveFlags.polls, PerPrincipal: serveFlags.share})
	api.SetAuthFailLimit(serveFlags.authFail, serveFlags.authBurst)
	api.SetBodyTimeout(serveFlags.bodyWait)
	stopTlog, err := startTlog(api, svc, log)
	if err != nil {
		return err
	}
	defer stopTlog()
	// While draining, /readyz fails and every answer closes its connection,
	// so a load balancer moves clients to other replicas before shutdown.
	var draining atomic.Bool
	handler := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
			if r.URL.Path == "/readyz" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(nethttp.StatusServiceUnavailable)
				w.Write([]byte(`{"status":"draining"}` + "\n"))
				return
			}
		}
		api.ServeHTTP(w, r)
	})
	srv := &nethttp.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := listen(addr, serveFlags.listenFD)
	if err != nil {
		return err
	}
	log.Info("cairn serving", "addr", ln.Addr().String(), "data", dataDir, "store", storeName(spec))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if serveFlags.drain > 0 && benchStore == nil {
		draining.Store(true)
		log.Info("draining", "for", serveFlags.drain.String())
		select {
		case err := <-errc:
			return err
		case <-time.After(serveFlags.drain):
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// listen binds addr, or with fd > 0 takes over the inherited listening
// socket with that descriptor: a supervisor (or a test) that holds the
// port keeps it bound while the server restarts, so nothing else can take
// it and connections wait in its backlog instead of being refused.
func listen(addr string, fd int) (net.Listener, error) {
	if fd <= 0 {
		return net.Listen("tcp", addr)
	}
	if fd <= 2 {
		return nil, fmt.Errorf("--listen-fd %d is a standard stream, not a socket", fd)
	}
	f := os.NewFile(uintptr(fd), "listen-fd")
	if f == nil {
		return nil, fmt.Errorf("--listen-fd %d is not an open descriptor", fd)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("--listen-fd %d: %w", fd, err)
	}
	return ln, nil
}

// rateFlagsFromEnv fills --rate-limit, --rate-burst and --max-inflight from
// CAIRN_RATE_LIMIT, CAIRN_RATE_BURST and CAIRN_MAX_INFLIGHT unless given,
// and checks them.
func rateFlagsFromEnv(cmd *cobra.Command) error {
	if v := os.Getenv("CAIRN_RATE_LIMIT"); v != "" && !cmd.Flags().Changed("rate-limit") {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("CAIRN_RATE_LIMIT=%q: not a number", v)
		}
		serveFlags.rateLimit = f
	}
	if v := os.Getenv("CAIRN_MAX_INFLIGHT"); v != "" && !cmd.Flags().Changed("max-inflight") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("CAIRN_MAX_INFLIGHT=%q: not an integer", v)
		}
		serveFlags.inflight = n
	}
	if v := os.Getenv("CAIRN_MAX_EXPORTS"); v != "" && !cmd.Flags().Changed("max-exports") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("CAIRN_MAX_EXPORTS=%q: not an integer", v)
		}
		serveFlags.exports = n
	}
	if v := os.Getenv("CAIRN_RATE_BURST"); v != "" && !cmd.Flags().Changed("rate-burst") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("CAIRN_RATE_BURST=%q: not an integer", v)
		}
		serveFlags.rateBurst = n
	}
	if f := serveFlags.rateLimit; f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e6 {
		return fmt.Errorf("--rate-limit %g: must be from 0 (no limit) to 1000000 requests a second", f)
	}
	if n := serveFlags.rateBurst; n < 0 || n > 1e6 {
		return fmt.Errorf("--rate-burst %d: must be from 0 (the default) to 1000000", n)
	}
	if n := serveFlags.inflight; n < 0 || n > 1e7 {
		return fmt.Errorf("--max-inflight %d: must be from 0 (no bound) to 10000000", n)
	}
	if n := serveFlags.polls; n < 0 || n > 1e7 {
		return fmt.Errorf("--max-polls %d: must be from 0 (the default) to 10000000", n)
	}
	if n := serveFlags.share; n < 0 || n > 1e7 {
		return fmt.Errorf("--max-inflight-per-principal %d: must be from 0 (the default) to 10000000", n)
	}
	if f := serveFlags.authFail; f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e6 {
		return fmt.Errorf("--auth-fail-limit %g: must be from 0 (no limit) to 1000000 a second", f)
	}
	if n := serveFlags.authBurst; n < 1 || n > 1e6 {
		return fmt.Errorf("--auth-fail-burst %d: must be from 1 to 1000000", n)
	}
	if d := serveFlags.bodyWait; d < time.Second || d > 10*time.Minute {
		return fmt.Errorf("--body-timeout %s: must be from 1s to 10m", d)
	}
	if n := serveFlags.exports; n < 0 || n > 64 {
		return fmt.Errorf("--max-exports %d: must be from 0 (the default) to 64", n)
	}
	return nil
}
