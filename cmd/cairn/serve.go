package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairnhq/cairn/internal/serve"
)

const serveLong = `Run the Cairn API on the embedded SQLite store under --data, or on
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
its client reads): past it, 503 unavailable with Retry-After.

--mcp-gateway gateway.yaml (env CAIRN_MCP_GATEWAY) hosts the MCP gateway in
the server: streamable HTTP at /mcp on --addr, each MCP client sending its own
Cairn agent key as Authorization: Bearer <key>, as cairn mcp gateway --listen
does, but calling the API in-process instead of over HTTP (docs/mcp.md). The
config's key_file names the gateway's key (roles agent and worker), which must
exist when the server starts: create it first, then restart with the flag.`

// newServeCmd is `cairn serve`: its flags fill a serve.Config, which
// serve.Run validates and serves.
func newServeCmd() *cobra.Command { return newServeCmdRunning(serve.Run) }

// newServeCmdRunning is `cairn serve` calling run with the Config (tests
// pass a run that records it).
func newServeCmdRunning(run func(context.Context, serve.Config) error) *cobra.Command {
	cfg := serve.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Cairn control plane",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			serveEnv(&cfg)
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, cfg)
		},
	}
	bindServeFlags(cmd.Flags(), &cfg)
	return cmd
}

// serveEnv fills what only the environment sets: the first admin key, the
// log origin prefix, the GC target and the CPU profile.
func serveEnv(cfg *serve.Config) {
	cfg.AdminKey = os.Getenv("CAIRN_ADMIN_KEY")
	cfg.OriginPrefix = os.Getenv("CAIRN_ORIGIN_PREFIX")
	cfg.CPUProfile = os.Getenv("CAIRN_CPUPROFILE")
	if os.Getenv("GOGC") == "" {
		cfg.GCPercent = serve.DefaultGCPercent
	}
}

// bindServeFlags defines serve's flags on fs, bound to the fields of cfg
// (whose values are the defaults).
func bindServeFlags(fs *pflag.FlagSet, cfg *serve.Config) {
	envStringVar(fs, &cfg.DataDir, "data", "CAIRN_DATA", cfg.DataDir, "data directory of the embedded store (env CAIRN_DATA)")
	envStringVar(fs, &cfg.Addr, "addr", "CAIRN_ADDR", cfg.Addr, "listen address (env CAIRN_ADDR)")
	envStringVar(fs, &cfg.LogLevel, "log-level", "CAIRN_LOG_LEVEL", cfg.LogLevel, "debug, info, warn or error")
	envStringVar(fs, &cfg.Store, "store", "CAIRN_STORE", cfg.Store, "store: empty for the embedded store under --data, or a postgres:// URL (env CAIRN_STORE)")
	envStringVar(fs, &cfg.LedgerKeyFile, "ledger-key", "CAIRN_LEDGER_KEY_FILE", cfg.LedgerKeyFile, "checkpoint signing key file, shared by replicas (default <data>/ledger.key; env CAIRN_LEDGER_KEY_FILE)")
	envStringVar(fs, &cfg.SaltFile, "salt-file", "CAIRN_SALT_FILE", cfg.SaltFile, "output-safety findings salt file, shared by replicas (default <data>/findings.salt; env CAIRN_SALT_FILE)")
	envStringVar(fs, &cfg.PayloadKeyFile, "payload-key", "CAIRN_PAYLOAD_KEY_FILE", cfg.PayloadKeyFile, "payload key-encryption key file, shared by replicas (default <data>/payload.key, created at first start; env CAIRN_PAYLOAD_KEY_FILE)")
	fs.IntVar(&cfg.ListenFD, "listen-fd", cfg.ListenFD, "serve on this inherited, already listening socket instead of binding --addr (for supervisors that hold the port across restarts)")
	envFloat64Var(fs, &cfg.RateLimit, "rate-limit", "CAIRN_RATE_LIMIT", cfg.RateLimit, "requests a second each principal may make on average; 0 = no limit (env CAIRN_RATE_LIMIT)")
	envIntVar(fs, &cfg.RateBurst, "rate-burst", "CAIRN_RATE_BURST", cfg.RateBurst, "requests a principal may make at once under --rate-limit (default: the limit, at least 1; env CAIRN_RATE_BURST)")
	envIntVar(fs, &cfg.MaxInflight, "max-inflight", "CAIRN_MAX_INFLIGHT", cfg.MaxInflight, "API requests worked on at once, long-polling leases apart; past it 503 with Retry-After; 0 = no bound (env CAIRN_MAX_INFLIGHT)")
	fs.IntVar(&cfg.MaxPolls, "max-polls", cfg.MaxPolls, "long-polling leases at once under --max-inflight (default: --max-inflight)")
	fs.IntVar(&cfg.PerPrincipal, "max-inflight-per-principal", cfg.PerPrincipal, "requests, and long polls, one principal may have in flight under --max-inflight; past it 429 (default: a quarter of each bound, at least 1)")
	fs.Float64Var(&cfg.AuthFailLimit, "auth-fail-limit", cfg.AuthFailLimit, "failed authentications a second each client address may make on average; past it 429; 0 = no limit")
	fs.IntVar(&cfg.AuthFailBurst, "auth-fail-burst", cfg.AuthFailBurst, "failed authentications a client address may make at once under --auth-fail-limit")
	fs.DurationVar(&cfg.BodyTimeout, "body-timeout", cfg.BodyTimeout, "how long a request body may take to arrive; past it 408")
	envIntVar(fs, &cfg.MaxExports, "max-exports", "CAIRN_MAX_EXPORTS", cfg.MaxExports, "evidence exports and ledger verifications running at once; past it 503 with Retry-After; 0 = the default, 2 (env CAIRN_MAX_EXPORTS)")
	envStringVar(fs, &cfg.MCPGateway, "mcp-gateway", "CAIRN_MCP_GATEWAY", cfg.MCPGateway, "host the MCP gateway of this config file (as cairn mcp gateway --config) at /mcp on --addr, calling the API in-process; its key_file names the gateway's key (env CAIRN_MCP_GATEWAY; docs/mcp.md)")
	envStringVar(fs, &cfg.MetricsAddr, "metrics-addr", "CAIRN_METRICS_ADDR", cfg.MetricsAddr, "serve /metrics without authentication on this separate listen address too (env CAIRN_METRICS_ADDR); on --addr /metrics needs no key only from loopback (ADR 0037)")
	envDurationVar(fs, &cfg.Drain, "drain", "CAIRN_DRAIN", cfg.Drain, "on SIGTERM, fail /readyz and keep serving this long before shutting down (env CAIRN_DRAIN)")
	fs.BoolVar(&cfg.Tlog.Public, "public-tlog", cfg.Tlog.Public, "serve every tenant's tlog-tiles (/tlog/<tenant>/…) without a key; entry bundles reveal action names, labels and hashes (docs/evidence.md)")
	fs.BoolVar(&cfg.Tlog.HashesOnly, "tlog-hashes-only", cfg.Tlog.HashesOnly, "serve the tlog checkpoint and hash tiles but no entry bundles")
	fs.StringArrayVar(&cfg.Tlog.Witnesses, "witness", nil, "push checkpoints to a C2SP tlog-witness: URL=vkey (repeatable)")
	fs.DurationVar(&cfg.Tlog.WitnessInterval, "witness-interval", cfg.Tlog.WitnessInterval, "how often witnesses are offered the latest checkpoints")
	envStringVar(fs, &cfg.Retention, "retention", "CAIRN_RETENTION", cfg.Retention, "how long evidence stays readable in full, e.g. 400d (at least 183d); past it a background compaction prunes payloads, job rows and ledger bodies, keeping leaf hashes, the Merkle tree and checkpoints; empty = forever; a tenant may set its own (env CAIRN_RETENTION)")
	fs.BoolVar(&cfg.AllowRetentionBelowFloor, "allow-retention-below-floor", cfg.AllowRetentionBelowFloor, "allow a retention (server or tenant) below the 183-day floor; its use is recorded in the ledger")
}
