// Package serve runs the Cairn control plane: Run(ctx, Config) opens the
// store, starts the service, and serves the API until ctx ends. `cairn
// serve` builds the Config from its flags and environment; the bench and
// tests build one directly (ADR 0050).
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/metrics"
	"github.com/cairnhq/cairn/internal/payloadkey"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/tlogwitness"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/cairnhq/cairn/internal/ui"
	"github.com/cairnhq/cairn/ledger/tree"
)

// DefaultGCPercent is the GC target `cairn serve` uses unless GOGC is set.
//
// Submits allocate heavily and the live heap is small (tens of MB):
// collecting less often buys throughput (GOGC=400 measured ≈25 % more
// durable submits/s than 100 in a quiet window) but lengthens read tails
// (audit-query p99 6 ms at 400 against ≈4 ms at 100 and 200). 200 is the
// compromise; GOGC and GOMEMLIMIT override it. Figures in BENCHMARKS.md.
const DefaultGCPercent = 200

// Config is everything a server needs. Each field is named after the
// `cairn serve` flag that sets it (in the comment when the names differ);
// Validate's messages name the flags. Start from DefaultConfig: its zero
// values are not all valid (AuthFailBurst, BodyTimeout).
type Config struct {
	DataDir     string // --data
	Addr        string // --addr
	MetricsAddr string // --metrics-addr: /metrics without a key on its own listener (ADR 0037)
	LogLevel    string // --log-level: debug, info, warn or error
	// Store is --store: empty or "sqlite" for the embedded store under
	// DataDir, "sqlite:DIR", or a postgres:// URL.
	Store         string
	LedgerKeyFile string        // --ledger-key (default <data>/ledger.key)
	SaltFile      string        // --salt-file (default <data>/findings.salt)
	Drain         time.Duration // --drain
	ListenFD      int           // --listen-fd

	// PayloadKeyFile is --payload-key: the key-encryption key of payloads
	// (default <data>/payload.key, created at first start; ADR 0048).
	PayloadKeyFile string

	RateLimit     float64       // --rate-limit
	RateBurst     int           // --rate-burst
	MaxInflight   int           // --max-inflight
	MaxPolls      int           // --max-polls
	PerPrincipal  int           // --max-inflight-per-principal
	AuthFailLimit float64       // --auth-fail-limit
	AuthFailBurst int           // --auth-fail-burst
	BodyTimeout   time.Duration // --body-timeout
	MaxExports    int           // --max-exports

	// Retention is --retention ("400d"; empty: keep forever) and
	// AllowRetentionBelowFloor --allow-retention-below-floor (retention.go).
	Retention                string
	AllowRetentionBelowFloor bool

	Tlog TlogConfig

	// MCPGateway is --mcp-gateway: a gateway config file (internal/mcpgw);
	// when set, the server hosts the MCP gateway at /mcp on its listener,
	// calling the API in-process (ADR 0049).
	MCPGateway string

	// AdminKey is the first admin key of an empty store (CAIRN_ADMIN_KEY);
	// empty: a random one, printed once and written to <data>/admin.key.
	AdminKey string
	// OriginPrefix prefixes each tenant's log origin (CAIRN_ORIGIN_PREFIX;
	// default service.DefaultOriginPrefix).
	OriginPrefix string
	// GCPercent, when positive, is set as the GC target (DefaultGCPercent
	// unless GOGC is set).
	GCPercent int
	// CPUProfile, when set, is a file receiving a CPU profile of the whole
	// run (CAIRN_CPUPROFILE).
	CPUProfile string

	// Listener, when set, is served instead of binding Addr or taking
	// ListenFD; Run closes it. The bench and tests own the port this way.
	Listener net.Listener
	// OpenedStore, when set, is served instead of opening Store; the
	// caller closes it after Run returns (the bench reads its statistics).
	OpenedStore cairn.Store
	// Stderr receives the logs and the first admin key (default os.Stderr).
	Stderr io.Writer
}

// DefaultConfig is the configuration of `cairn serve` without flags or
// environment.
func DefaultConfig() Config {
	return Config{
		DataDir:       "./cairn-data",
		Addr:          "127.0.0.1:8081",
		LogLevel:      "info",
		AuthFailLimit: cairnhttp.DefaultAuthFailRate,
		AuthFailBurst: cairnhttp.DefaultAuthFailBurst,
		BodyTimeout:   cairnhttp.DefaultBodyTimeout,
		Tlog:          TlogConfig{WitnessInterval: tlogwitness.DefaultInterval},
	}
}

// Run serves the API as cfg says until ctx ends, then drains (cfg.Drain)
// and shuts down.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	log := cfg.logger()
	if cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	store, closeStore, err := cfg.openStore()
	if err != nil {
		return err
	}
	defer closeStore()
	if IsPostgres(cfg.Store) && cfg.OpenedStore == nil && (cfg.LedgerKeyFile == "" || cfg.SaltFile == "") {
		log.Warn("replicas sharing a PostgreSQL store must share the checkpoint signing key and findings salt: pass the same --ledger-key and --salt-file to each")
	}
	if err := privateDir(cfg.DataDir); err != nil {
		return err
	}
	stopTracing, err := StartTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	observer := metrics.NewObserver()
	svc, err := startService(ctx, cfg, observer.Wrap(tracing.WrapStore(store)), log)
	if err != nil {
		return err
	}
	defer svc.Stop()
	api, stopAPI, err := newAPI(cfg, svc, store, observer, log)
	if err != nil {
		return err
	}
	defer stopAPI()
	var h nethttp.Handler = api
	var onShutdown []func()
	if cfg.MCPGateway != "" {
		gw, err := startGateway(ctx, cfg, api, log)
		if err != nil {
			return err
		}
		defer gw.Close()
		var stopMCP func()
		h, stopMCP = withMCP(api, gw.Handler())
		onShutdown = append(onShutdown, stopMCP)
	}
	return serveHTTP(ctx, cfg, h, log, onShutdown...)
}

// logger is the server's JSON logger at cfg.LogLevel (checked by Validate).
func (cfg Config) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(cfg.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// startCPUProfile starts a CPU profile into path (none when empty); stop
// ends it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// openStore returns cfg.OpenedStore, or opens cfg.Store; close closes
// only what it opened.
func (cfg Config) openStore() (st cairn.Store, close func(), err error) {
	if cfg.OpenedStore != nil {
		return cfg.OpenedStore, func() {}, nil
	}
	st, err = OpenStore(cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

// privateDir creates the data dir. It holds the signing key, the salt and
// (embedded store) the database: its owner's alone, whatever made it
// looser.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}

func (cfg Config) saltPath() string {
	if cfg.SaltFile != "" {
		return cfg.SaltFile
	}
	return filepath.Join(cfg.DataDir, "findings.salt")
}

// PayloadKeyPath is the payload key-encryption key file serve uses.
func (cfg Config) PayloadKeyPath() string {
	if cfg.PayloadKeyFile != "" {
		return cfg.PayloadKeyFile
	}
	return filepath.Join(cfg.DataDir, "payload.key")
}

func (cfg Config) ledgerKeyPath() string {
	if cfg.LedgerKeyFile != "" {
		return cfg.LedgerKeyFile
	}
	return filepath.Join(cfg.DataDir, "ledger.key")
}

// startService builds the service on store with the shared secrets,
// creates the first tenant and admin key of an empty store, and starts it.
func startService(ctx context.Context, cfg Config, store cairn.Store, log *slog.Logger) (*service.Service, error) {
	salt, err := LoadSecret(cfg.saltPath(), 32)
	if err != nil {
		return nil, fmt.Errorf("findings salt: %w", err)
	}
	svc := service.New(store, log, salt)
	svc.SetMaxExports(cfg.MaxExports)
	if err := applyRetention(svc, cfg); err != nil {
		return nil, err
	}
	ledgerKey, err := tree.LoadOrCreateKey(cfg.ledgerKeyPath(), "cairn")
	if err != nil {
		return nil, fmt.Errorf("ledger signing key: %w", err)
	}
	origin := cfg.OriginPrefix
	if origin == "" {
		origin = service.DefaultOriginPrefix
	}
	svc.SetLedgerKey(ledgerKey, origin)
	payloadKEK, err := payloadkey.LoadOrCreate(cfg.PayloadKeyPath())
	if err != nil {
		return nil, fmt.Errorf("payload key %s: %w", cfg.PayloadKeyPath(), err)
	}
	svc.SetPayloadKey(payloadKEK)
	if err := bootstrap(ctx, cfg, svc); err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		var pm *service.PayloadKeyMismatchError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("refusing to start: %w (this server's is from --payload-key %s)", err, cfg.PayloadKeyPath())
		}
		var mm *service.SecretMismatchError
		if errors.As(err, &mm) {
			from := "--ledger-key " + cfg.ledgerKeyPath()
			if mm.Name == cairn.SecretFindingsSalt {
				from = "--salt-file " + cfg.saltPath()
			}
			return nil, fmt.Errorf("refusing to start: %w (this server's is from %s)", err, from)
		}
		return nil, err
	}
	return svc, nil
}

// bootstrap creates tenant "default" and its admin key in an empty store;
// a random key is printed once and written to <data>/admin.key.
func bootstrap(ctx context.Context, cfg Config, svc *service.Service) error {
	key, err := svc.Bootstrap(ctx, cfg.AdminKey)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if key == "" || cfg.AdminKey != "" {
		return nil
	}
	path := filepath.Join(cfg.DataDir, "admin.key")
	if err := WriteFileSync(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin key: %w", err)
	}
	fmt.Fprintf(cfg.Stderr, "cairn: created tenant \"default\" and its admin key (shown once, also in %s):\n%s\n", path, key)
	return nil
}

// newAPI builds the HTTP API with its metrics, admission bounds and tlog
// view; stop ends the metrics listener and the witness pushing.
func newAPI(cfg Config, svc *service.Service, store cairn.Store, observer *metrics.Observer, log *slog.Logger) (*cairnhttp.Server, func(), error) {
	api := cairnhttp.New(svc, log)
	if err := metrics.Register(api.Registry(), observer, metrics.NewCollector(store, log)); err != nil {
		return nil, nil, err
	}
	stopMetrics, err := serveMetrics(cfg.MetricsAddr, api.MetricsHandler(), log)
	if err != nil {
		return nil, nil, err
	}
	api.UI = ui.Handler()
	api.SetRateLimit(cfg.RateLimit, cfg.RateBurst)
	api.SetInflight(cairnhttp.InflightLimits{Calls: cfg.MaxInflight, Polls: cfg.MaxPolls, PerPrincipal: cfg.PerPrincipal})
	api.SetAuthFailLimit(cfg.AuthFailLimit, cfg.AuthFailBurst)
	api.SetBodyTimeout(cfg.BodyTimeout)
	stopTlog, err := startTlog(cfg.Tlog, api, svc, log)
	if err != nil {
		stopMetrics()
		return nil, nil, err
	}
	return api, func() { stopTlog(); stopMetrics() }, nil
}
