package mcpgw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstream is one session's connection to one upstream server. It is made
// on first use and made again after the server died, so a crashed stdio
// server is restarted by the next call.
type upstream struct {
	cfg  *Upstream
	sess *session

	mu   sync.Mutex
	conn *mcp.ClientSession
	sdk  *mcp.Client // the client of conn

	rootsMu sync.Mutex
	roots   []string // the root URIs the client was last given
}

// mcpClient is the client of the live connection, nil when there is none.
func (u *upstream) mcpClient() *mcp.Client {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == nil {
		return nil
	}
	return u.sdk
}

// connectTimeout bounds starting an upstream and its MCP handshake.
const connectTimeout = 20 * time.Second

// client returns a live connection, connecting when there is none.
func (u *upstream) client(ctx context.Context) (*mcp.ClientSession, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil {
		return u.conn, nil
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "cairn-mcp-gateway", Version: Version}, u.sess.upstreamOptions(u.cfg.Name))
	u.rootsMu.Lock()
	u.roots = nil // a new client starts with no roots
	u.rootsMu.Unlock()
	u.sess.syncRoots(ctx, u, c)
	var t mcp.Transport
	if len(u.cfg.Command) > 0 {
		cmd := exec.Command(u.cfg.Command[0], u.cfg.Command[1:]...)
		cmd.Env = os.Environ()
		for k, v := range u.cfg.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stderr = u.sess.gw.upstreamStderr
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	} else {
		// Each request carries the call's trace context in its headers.
		t = &mcp.StreamableClientTransport{Endpoint: u.cfg.URL, MaxRetries: 1, HTTPClient: &http.Client{Transport: tracing.Transport(nil)}}
	}
	cs, err := c.Connect(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("upstream %q could not be started: %w", u.cfg.Name, err)
	}
	u.conn, u.sdk = cs, c
	go func() {
		cs.Wait()
		u.mu.Lock()
		if u.conn == cs {
			u.conn = nil
		}
		u.mu.Unlock()
	}()
	return cs, nil
}

// drop forgets a connection that failed, closing it, so the next call
// starts the upstream afresh.
func (u *upstream) drop(cs *mcp.ClientSession) {
	u.mu.Lock()
	if u.conn == cs {
		u.conn = nil
	}
	u.mu.Unlock()
	cs.Close()
}

func (u *upstream) close() {
	u.mu.Lock()
	cs := u.conn
	u.conn = nil
	u.mu.Unlock()
	if cs != nil {
		cs.Close()
	}
}

// call runs one tools/call upstream under the call timeout. A transport
// failure or a timeout drops the connection: the server is dead, hung or
// speaking garbage, and the next call starts it again.
func (u *upstream) call(ctx context.Context, timeout time.Duration, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	cs, err := u.client(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := cs.CallTool(cctx, params)
	if err == nil {
		return res, nil
	}
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		u.drop(cs)
		return nil, fmt.Errorf("upstream %q did not answer within call_timeout %s", u.cfg.Name, timeout)
	}
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) {
		u.drop(cs)
	}
	return nil, fmt.Errorf("upstream %q: %w", u.cfg.Name, err)
}
