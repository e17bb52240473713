package serve

import (
	"context"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"os"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/mcpgw"
)

// MCPPath is where `cairn serve --mcp-gateway` serves the MCP gateway on
// the API listener (the path `cairn mcp gateway --listen` uses).
const MCPPath = "/mcp"

// startGateway builds the MCP gateway of cfg.MCPGateway, hosted by this
// server (ADR 0049): its calls to Cairn go to api in-process
// (mcpgw.InProcess), each still authenticated by the MCP client's own
// agent key and executed under the gateway's key, which the config's
// key_file names; the caller closes it (its sessions and their upstream
// connections) when the server stops. It fails when the config, the key or the key's roles
// are not usable: the server then refuses to start rather than serve an
// /mcp that could not decide a call.
func startGateway(ctx context.Context, cfg Config, api nethttp.Handler, log *slog.Logger) (*mcpgw.Gateway, error) {
	gc, err := mcpgw.LoadConfig(cfg.MCPGateway)
	if err != nil {
		return nil, fmt.Errorf("--mcp-gateway: %w", err)
	}
	if gc.KeyFile == "" {
		return nil, fmt.Errorf("--mcp-gateway: %s must name the gateway's key (roles agent and worker) in key_file", cfg.MCPGateway)
	}
	b, err := os.ReadFile(gc.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--mcp-gateway: reading key_file: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return nil, fmt.Errorf("--mcp-gateway: key_file %s is empty", gc.KeyFile)
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	gw, err := mcpgw.New(startCtx, gc, mcpgw.Options{
		Server: cfg.linkBase(gc), Key: key, Log: log, UpstreamStderr: cfg.Stderr,
		HTTPClient: &nethttp.Client{Transport: mcpgw.InProcess(api)},
	})
	if err != nil {
		return nil, fmt.Errorf("--mcp-gateway: the gateway cannot start, so the server does not: %w", err)
	}
	log.Info("mcp gateway hosted", "path", MCPPath, "config", cfg.MCPGateway, "upstreams", len(gc.Upstreams))
	return gw, nil
}

// linkBase is the URL the gateway names in approval links: the config's
// server when it gives one (the address people reach), else the listener.
func (cfg Config) linkBase(gc *mcpgw.Config) string {
	switch {
	case gc.Server != "":
		return strings.TrimRight(gc.Server, "/")
	case cfg.Listener != nil:
		return "http://" + cfg.Listener.Addr().String()
	}
	return "http://" + cfg.Addr
}

// withMCP serves gw at MCPPath and everything else with api. An MCP
// answer may stay open longer than the listener's write timeout (a call
// waiting for approval, the server-to-client stream), so /mcp lifts it.
// A client's server-to-client stream (GET) never ends by itself, so
// shutdown (stop) ends those; tool calls in flight finish as the API's
// requests do.
func withMCP(api, gw nethttp.Handler) (h nethttp.Handler, stop func()) {
	stopping, stop := context.WithCancel(context.Background())
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path != MCPPath {
			api.ServeHTTP(w, r)
			return
		}
		nethttp.NewResponseController(w).SetWriteDeadline(time.Time{}) // none where unsupported
		if r.Method == nethttp.MethodGet {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			defer context.AfterFunc(stopping, cancel)()
			r = r.WithContext(ctx)
		}
		gw.ServeHTTP(w, r)
	}), stop
}
