package main

// cairn mcp gateway: the policy-enforcing MCP proxy (internal/mcpgw).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/mcpgw"
	"github.com/cairnhq/cairn/internal/serve"
	"github.com/spf13/cobra"
)

func newMCPCmd(g *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Govern MCP tool calls",
	}
	cmd.AddCommand(newGatewayCmd(g))
	return cmd
}

// gatewayOptions are the flags of cairn mcp gateway.
type gatewayOptions struct {
	Config         string
	Listen         string
	AllowAnonymous bool
	LogKey         string
	g              *clientOptions
}

func newGatewayCmd(g *clientOptions) *cobra.Command {
	o := &gatewayOptions{g: g}
	cmd := &cobra.Command{
		Use:   "gateway --config gateway.yaml [--listen 127.0.0.1:8090]",
		Short: "Run the MCP gateway: every tools/call becomes a Cairn job",
		Long: `Runs an MCP server in front of the upstream MCP servers named in the config.
Every tools/call is decided by Cairn's policy before it runs, held for approval
where policy says so, executed by the gateway and checked on the way back.

Without --listen it serves one MCP client on stdin/stdout (the client launches
it), acting as the principal of the config's key. With --listen it serves
streamable HTTP at /mcp; each client sends its own Cairn agent key as
Authorization: Bearer <key>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	envStringVar(f, &o.Config, "config", "CAIRN_GATEWAY_CONFIG", "", "gateway config file (YAML; env CAIRN_GATEWAY_CONFIG)")
	f.StringVar(&o.Listen, "listen", "", "serve streamable HTTP on this address (endpoint /mcp) instead of stdio")
	f.BoolVar(&o.AllowAnonymous, "allow-anonymous", false, "HTTP only: a request without a key acts as the gateway's own principal (loopback setups only)")
	f.StringVar(&o.LogKey, "log-key", "", "the ledger's verifier key (GET /api/v1/ledger/key); when set, every dispatch receipt must verify against it")
	return cmd
}

func (o *gatewayOptions) run(cmd *cobra.Command) error {
	if o.Config == "" {
		return errors.New("--config (or CAIRN_GATEWAY_CONFIG) must name the gateway's config file")
	}
	cfg, err := mcpgw.LoadConfig(o.Config)
	if err != nil {
		return err
	}
	server := cfg.Server
	if o.g.serverGiven() || server == "" {
		server = o.g.Server
	}
	key, err := o.key(cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := o.g.context(cmd, false)
	defer stop()
	stopTracing, err := serve.StartTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	gw, err := mcpgw.New(startCtx, cfg, mcpgw.Options{Server: server, Key: key, AllowAnonymous: o.AllowAnonymous,
		LogKey: o.LogKey, Log: log, UpstreamStderr: os.Stderr})
	if err != nil {
		return fmt.Errorf("the control plane is not usable, so the gateway refuses to start: %w", err)
	}
	defer gw.Close()
	if o.Listen == "" {
		if o.AllowAnonymous {
			return errors.New("--allow-anonymous applies to --listen only")
		}
		log.Info("mcp gateway serving stdio", "server", server, "upstreams", len(cfg.Upstreams))
		return gw.ServeStdio(ctx, os.Stdin, os.Stdout)
	}
	return serveGatewayHTTP(ctx, gw, o, log)
}

func serveGatewayHTTP(ctx context.Context, gw *mcpgw.Gateway, f *gatewayOptions, log *slog.Logger) error {
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return err
	}
	if f.AllowAnonymous {
		if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			ln.Close()
			return fmt.Errorf("--allow-anonymous needs a loopback --listen address, not %s", ln.Addr())
		}
		log.Warn("mcp gateway: anonymous access allowed: requests without a key act as the gateway's own principal")
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", gw.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("mcp gateway serving streamable HTTP", "url", "http://"+ln.Addr().String()+"/mcp")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// key: --key/--key-file/CAIRN_KEY/CAIRN_KEY_FILE override the config's
// key_file.
func (o *gatewayOptions) key(cfg *mcpgw.Config) (string, error) {
	if o.g.keyGiven() || cfg.KeyFile == "" {
		return o.g.resolveKey()
	}
	b, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return "", fmt.Errorf("reading key_file: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("key_file %s is empty", cfg.KeyFile)
	}
	return k, nil
}
