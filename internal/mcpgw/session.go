package mcpgw

//lint:file-ignore SA1019 The gateway speaks the MCP versions up to 2025-11-25, where roots, sampling and logging are current, and passes them through (see docs/mcp.md §6).

import (
	"context"
	"encoding/json"

	"github.com/cairnhq/cairn"
	"regexp"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// session is one MCP client's session with the gateway: its own MCP
// server (so tool-list changes reach just this client) and its own
// connections to the upstreams (so an upstream's sampling or elicitation
// request goes back to the client whose call caused it).
type session struct {
	gw     *Gateway
	server *mcp.Server

	listMu    sync.Mutex // one tool listing at a time: a call waits for the tools it names
	mu        sync.Mutex
	who       *identity // the client's identity, from its first request
	ss        *mcp.ServerSession
	upstreams map[string]*upstream
	listed    map[string]bool              // upstreams whose tools are registered
	subs      map[string]*upstream         // resource URI -> the upstream subscribed to it
	inflight  map[string][]context.Context // upstream -> contexts of the client's calls it is running
	tools     map[string][]string          // upstream -> exposed tool names
}

func (g *Gateway) newSession() *session {
	s := &session{gw: g, upstreams: map[string]*upstream{}, listed: map[string]bool{}, tools: map[string][]string{}, subs: map[string]*upstream{}, inflight: map[string][]context.Context{}}
	for i := range g.cfg.Upstreams {
		u := &g.cfg.Upstreams[i]
		s.upstreams[u.Name] = &upstream{cfg: u, sess: s}
	}
	s.server = mcp.NewServer(&mcp.Implementation{Name: "cairn-mcp-gateway", Title: "Cairn MCP gateway", Version: Version}, &mcp.ServerOptions{
		Logger:                    g.sdkLog,
		GetSessionID:              newSessionID,
		SupportedProtocolVersions: sessionProtocols(),
		Capabilities: &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{Subscribe: true, ListChanged: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Completions: &mcp.CompletionCapabilities{},
			Logging:     &mcp.LoggingCapabilities{},
		},
		InitializedHandler:      func(ctx context.Context, r *mcp.InitializedRequest) { s.attach(r.Session) },
		SubscribeHandler:        s.subscribe,
		UnsubscribeHandler:      s.unsubscribe,
		RootsListChangedHandler: s.rootsChanged,
	})
	s.server.AddReceivingMiddleware(s.middleware)
	return s
}

// sessionProtocols are the protocol versions the gateway speaks to its
// clients: those with an initialize handshake and a session, which the
// gateway needs to keep one run and one set of upstream connections per
// client.
func sessionProtocols() []string {
	var out []string
	for _, v := range mcp.SupportedProtocolVersions() {
		if v < "2026-07-28" {
			out = append(out, v)
		}
	}
	return out
}

// attach remembers the client's session once it is initialised, and
// closes the upstreams when it ends.
func (s *session) attach(ss *mcp.ServerSession) {
	s.mu.Lock()
	first := s.ss == nil
	s.ss = ss
	s.mu.Unlock()
	if first {
		s.gw.sessions.Store(s, ss)
		go func() {
			ss.Wait()
			s.close()
			s.gw.sessions.Delete(s)
		}()
	}
}

func (s *session) close() {
	for _, u := range s.upstreams {
		u.close()
	}
}

// runID is the Cairn run of this session's calls.
func (s *session) runID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ss == nil {
		return ""
	}
	return "mcp-" + s.ss.ID()
}

func (s *session) downstream() *mcp.ServerSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ss
}

// middleware lists the upstreams' tools before the first tools/list and
// forwards what the gateway does not gate (resources, prompts, completion,
// logging level) to the upstreams.
func (s *session) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ss, ok := req.GetSession().(*mcp.ServerSession); ok && method != "initialize" {
			s.attach(ss)
		}
		s.identify(req)
		switch method {
		case "tools/list", "tools/call":
			s.listTools(ctx)
			return next(ctx, method, req)
		}
		if res, handled, err := s.forward(ctx, method, req); handled {
			return res, err
		}
		return next(ctx, method, req)
	}
}

// exposedName matches the tool names the gateway offers: what the LLM
// APIs accept.
var exposedName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// listTools registers every reachable upstream's tools that are not yet
// registered. An upstream that cannot be started is left out, logged,
// and tried again at the next tools/list.
func (s *session) listTools(ctx context.Context) {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	var wg sync.WaitGroup
	for name, u := range s.upstreams {
		s.mu.Lock()
		done := s.listed[name]
		s.mu.Unlock()
		if done {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.registerTools(ctx, u)
		}()
	}
	wg.Wait()
}

// refreshTools re-lists an upstream whose tool list changed.
func (s *session) refreshTools(ctx context.Context, u *upstream) {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	s.registerTools(ctx, u)
}

// registerTools lists one upstream's tools and replaces its registered
// set; the SDK tells the client that the list changed.
func (s *session) registerTools(ctx context.Context, u *upstream) {
	cs, err := u.client(ctx)
	if err != nil {
		s.gw.log.Warn("mcp gateway: upstream unavailable", "upstream", u.cfg.Name, "error", err.Error())
		return
	}
	var names []string
	var add []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			s.gw.log.Warn("mcp gateway: listing tools failed", "upstream", u.cfg.Name, "error", err.Error())
			return
		}
		name := u.cfg.Name + "__" + t.Name
		if !exposedName.MatchString(name) || !objectSchema(t.InputSchema) {
			s.gw.log.Warn("mcp gateway: tool left out: its name is not [A-Za-z0-9_-]{1,128} once prefixed, or its input schema is not an object", "upstream", u.cfg.Name, "tool", clip(t.Name))
			continue
		}
		exposed := *t
		exposed.Name = name
		add = append(add, &exposed)
	}
	add = s.withoutDenied(ctx, u, add)
	for _, t := range add {
		names = append(names, t.Name)
	}
	s.mu.Lock()
	old := s.tools[u.cfg.Name]
	s.tools[u.cfg.Name] = names
	s.mu.Unlock()
	if len(old) > 0 {
		s.server.RemoveTools(old...)
	}
	for i, t := range add {
		tool := add[i].Name[len(u.cfg.Name)+2:]
		s.server.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return s.gw.callTool(ctx, s, req, u, tool)
		})
	}
	s.mu.Lock()
	s.listed[u.cfg.Name] = true
	s.mu.Unlock()
}

// objectSchema: the SDK (and MCP) want a tool's input schema to be an
// object schema.
func objectSchema(schema any) bool {
	raw, err := json.Marshal(schema)
	if err != nil {
		return false
	}
	var m struct {
		Type any `json:"type"`
	}
	return json.Unmarshal(raw, &m) == nil && m.Type == "object"
}

// identify remembers who the client is, for listing its tools.
func (s *session) identify(req mcp.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.who != nil {
		return
	}
	if x := req.GetExtra(); x != nil && x.TokenInfo != nil {
		if id, ok := x.TokenInfo.Extra["identity"].(*identity); ok {
			s.who = id
		}
		return
	}
	s.who = s.gw.stdioIdentity()
}

// withoutDenied leaves out, with hide_denied, the tools the active policy
// denies this client whatever the arguments. It is asked when the tools are
// listed; if Cairn cannot answer, every tool is listed (a call still fails
// closed).
func (s *session) withoutDenied(ctx context.Context, u *upstream, tools []*mcp.Tool) []*mcp.Tool {
	s.mu.Lock()
	who := s.who
	s.mu.Unlock()
	if !s.gw.cfg.HideDenied || who == nil || len(tools) == 0 {
		return tools
	}
	req := cairn.DeniesRequest{Labels: u.cfg.Labels, AnyResource: u.cfg.resource != nil}
	if u.cfg.resource == nil {
		req.Resource = u.cfg.Name
	}
	for _, t := range tools {
		req.Actions = append(req.Actions, "mcp."+u.cfg.Name+"."+t.Name[len(u.cfg.Name)+2:])
	}
	res, err := who.client.Denies(ctx, req)
	if err != nil {
		s.gw.log.Warn("mcp gateway: hide_denied: the policy could not be asked; listing every tool", "upstream", u.cfg.Name, "error", err.Error())
		return tools
	}
	denied := map[string]bool{}
	for _, a := range res.Denied {
		denied[a] = true
	}
	var out []*mcp.Tool
	for i, t := range tools {
		if !denied[req.Actions[i]] {
			out = append(out, t)
		}
	}
	return out
}

// during records that the client's call with context ctx is running on
// upstream name, until the returned func is called. A request the upstream
// sends meanwhile (sampling, elicitation) is sent to the client as part of
// that call, on its stream.
func (s *session) during(name string, ctx context.Context) func() {
	s.mu.Lock()
	s.inflight[name] = append(s.inflight[name], ctx)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.inflight[name]
		for i, c := range list {
			if c == ctx {
				s.inflight[name] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
	}
}

// related is the context of a client call running on upstream name (the
// latest, when several are), or ctx when none is.
func (s *session) related(name string, ctx context.Context) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if list := s.inflight[name]; len(list) > 0 {
		return list[len(list)-1]
	}
	return ctx
}
