// Package mcpgw is Cairn's MCP gateway: an MCP server that agents connect
// to in place of their MCP servers, and an MCP client of those servers
// (the upstreams). Every tools/call becomes one Cairn job: decided against
// the active policy before anything runs, held for a human where policy
// says so, leased by the gateway as the job's executor (the dispatch
// re-decision and its receipt), run upstream, completed with the result
// and answered as the output check allows. Everything else MCP carries
// (resources, prompts, completion, logging, sampling, elicitation, pings)
// passes through ungated.
//
// Over stdio the gateway serves one agent, whose identity is the
// gateway's own key. Over streamable HTTP each client authenticates with
// its own Cairn key; its jobs are submitted as its principal, and the
// gateway's key acts only as their executor.
package mcpgw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options are what the command line adds to a config file.
type Options struct {
	Server         string // the Cairn API URL
	Key            string // the gateway's key: roles agent and worker
	AllowAnonymous bool   // HTTP: a request without a key acts as the gateway's principal
	LogKey         string // if set, dispatch receipts must verify against this log key
	Log            *slog.Logger
	UpstreamStderr io.Writer // where stdio upstreams' stderr goes (default discarded)
	HTTPClient     *http.Client
}

// Gateway is a configured gateway. It serves stdio (one session) or
// streamable HTTP (many).
type Gateway struct {
	cfg            *Config
	server         string
	worker         *client.Client // the gateway's key: executor of every job, and the stdio agent
	workerKey      string         // that key, sent as Cairn-Executor-Key on HTTP agents' submits
	self           cairn.Principal
	workerID       string
	anonymous      bool
	verifyReceipt  func(*cairn.LeasedJob) error
	log            *slog.Logger
	sdkLog         *slog.Logger
	upstreamStderr io.Writer
	httpClient     *http.Client
	pending        pendingCalls
	keys           sync.Map // sha256(key) -> *identity, for HTTP clients
	sessions       sync.Map // *session -> its *mcp.ServerSession, while open
}

// identity is who a call acts for: its principal and a client with its key.
type identity struct {
	principal string // tenant/id
	client    *client.Client
	until     time.Time
}

// New checks the gateway's key against Cairn and returns a gateway. It
// fails when Cairn cannot be reached or the key lacks the roles it needs.
func New(ctx context.Context, cfg *Config, o Options) (*Gateway, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.UpstreamStderr == nil {
		o.UpstreamStderr = io.Discard
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	}
	// Calls to Cairn's API carry the tools/call's trace context.
	hc := *o.HTTPClient
	hc.Transport = tracing.Transport(hc.Transport)
	o.HTTPClient = &hc
	g := &Gateway{cfg: cfg, server: o.Server, anonymous: o.AllowAnonymous, log: o.Log,
		sdkLog: slog.New(slog.NewTextHandler(io.Discard, nil)), upstreamStderr: o.UpstreamStderr, httpClient: o.HTTPClient}
	g.worker, g.workerKey = g.clientFor(o.Key), o.Key
	self, err := g.worker.WhoAmI(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the gateway's key against %s: %w", o.Server, err)
	}
	if !self.Has(cairn.RoleWorker) {
		return nil, fmt.Errorf("the gateway's key (principal %q) needs the worker role: it executes every call", self.ID)
	}
	g.self = *self
	g.workerID = "mcp-gateway"
	if o.LogKey == "" {
		// Trust on first use: the key the server names now must sign
		// every receipt from here on. Pin it with LogKey where that matters.
		if o.LogKey, err = g.worker.LedgerKey(ctx); err != nil {
			return nil, fmt.Errorf("reading the ledger's key from %s: %w", o.Server, err)
		}
	}
	g.verifyReceipt = client.ReceiptVerifier(o.LogKey)
	return g, nil
}

func (g *Gateway) clientFor(key string) *client.Client {
	return client.New(g.server, key, client.WithHTTPClient(g.httpClient), client.WithUserAgent("cairn-mcp-gateway/"+Version),
		client.WithRetries(2), client.WithBackoff(50*time.Millisecond, time.Second))
}

// ServeStdio serves one MCP client on r and w until it disconnects. The
// gateway's key is the agent's identity.
func (g *Gateway) ServeStdio(ctx context.Context, r io.ReadCloser, w io.WriteCloser) error {
	if !g.self.Has(cairn.RoleAgent) {
		return fmt.Errorf("over stdio the gateway's key is the agent's identity: principal %q needs the agent role", g.self.ID)
	}
	s := g.newSession()
	defer s.close()
	err := s.server.Run(ctx, &mcp.IOTransport{Reader: r, Writer: w})
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Handler serves streamable HTTP at any path it is mounted on. Each
// request must carry a Cairn key as a bearer token (unless anonymous
// access was allowed), and a session stays bound to the principal that
// opened it.
func (g *Gateway) Handler() http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return g.newSession().server },
		&mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute, MaxRequestBodyBytes: 4 << 20})
	verify := auth.RequireBearerToken(g.verifyToken, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.anonymous && r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+anonymousToken)
		}
		verify.ServeHTTP(w, r.WithContext(withClientAddr(r.Context(), r.RemoteAddr)))
	})
}

// Close ends every open client session and, with it, the session's
// upstream connections (a stdio upstream's process is stopped), waiting
// until they are closed. A server hosting the gateway calls it when it
// stops (ADR 0049).
func (g *Gateway) Close() {
	var wg sync.WaitGroup
	g.sessions.Range(func(k, v any) bool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.(*mcp.ServerSession).Close()
			k.(*session).close()
		}()
		return true
	})
	wg.Wait()
}

// anonymousToken stands for "no key" when anonymous access is allowed.
const anonymousToken = "anonymous"

// identityTTL bounds how long a checked key is trusted without asking
// Cairn again (a revoked key stops working within it).
const identityTTL = 10 * time.Second

// verifyToken checks a client's key with Cairn (cached briefly) and binds
// the session to its principal.
func (g *Gateway) verifyToken(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	if token == anonymousToken && g.anonymous {
		return &auth.TokenInfo{UserID: g.self.Tenant + "/" + g.self.ID, Extra: map[string]any{"identity": g.stdioIdentity()}}, nil
	}
	if len(token) > 256 {
		return nil, auth.ErrInvalidToken
	}
	h := hashKey(token)
	if v, ok := g.keys.Load(h); ok && time.Now().Before(v.(*identity).until) {
		id := v.(*identity)
		return &auth.TokenInfo{UserID: id.principal, Extra: map[string]any{"identity": id}}, nil
	}
	c := g.clientFor(token)
	p, err := c.WhoAmI(ctx)
	if err != nil {
		if client.IsStatus(err, http.StatusUnauthorized) {
			return nil, fmt.Errorf("%w: a Cairn agent key is required as Authorization: Bearer <key>", auth.ErrInvalidToken)
		}
		return nil, fmt.Errorf("the control plane is unreachable; nothing was run: %w", err)
	}
	if p.Tenant != g.self.Tenant {
		return nil, fmt.Errorf("%w: the key belongs to tenant %q; this gateway serves tenant %q", auth.ErrInvalidToken, p.Tenant, g.self.Tenant)
	}
	if !p.Has(cairn.RoleAgent) {
		return nil, fmt.Errorf("%w: principal %q needs the agent role", auth.ErrInvalidToken, p.ID)
	}
	id := &identity{principal: p.Tenant + "/" + p.ID, client: c, until: time.Now().Add(identityTTL)}
	g.keys.Store(h, id)
	return &auth.TokenInfo{UserID: id.principal, Extra: map[string]any{"identity": id}}, nil
}

func (g *Gateway) stdioIdentity() *identity {
	return &identity{principal: g.self.Tenant + "/" + g.self.ID, client: g.worker}
}

// identity is who the call acts for: over HTTP the client's key, over
// stdio the gateway's.
func (g *Gateway) identity(_ context.Context, req *mcp.CallToolRequest) (*identity, error) {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		if req.Extra != nil && req.Extra.Header != nil {
			return nil, errors.New("the request carries no verified key; nothing was run")
		}
		return g.stdioIdentity(), nil
	}
	id, ok := req.Extra.TokenInfo.Extra["identity"].(*identity)
	if !ok {
		return nil, errors.New("the request carries no verified key; nothing was run")
	}
	return id, nil
}
