package mcpgw

//lint:file-ignore SA1019 The gateway speaks the MCP versions up to 2025-11-25, where roots, sampling and logging are current, and passes them through (see docs/mcp.md §6).

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// What the gateway does not gate passes through: resources, prompts,
// completion and the logging level go to the upstreams; sampling,
// elicitation, roots, logging and progress come back from them.

// forward handles a method that passes through to the upstreams. handled
// is false for methods the SDK's own server handles (initialize, ping …).
func (s *session) forward(ctx context.Context, method string, req mcp.Request) (res mcp.Result, handled bool, err error) {
	switch r := req.(type) {
	case *mcp.ListResourcesRequest:
		out := &mcp.ListResourcesResult{}
		out.Resources, err = gather(ctx, s, func(_ string, cs *mcp.ClientSession) iter.Seq2[*mcp.Resource, error] {
			return cs.Resources(ctx, nil)
		})
		return out, true, err
	case *mcp.ListResourceTemplatesRequest:
		out := &mcp.ListResourceTemplatesResult{}
		out.ResourceTemplates, err = gather(ctx, s, func(_ string, cs *mcp.ClientSession) iter.Seq2[*mcp.ResourceTemplate, error] {
			return cs.ResourceTemplates(ctx, nil)
		})
		return out, true, err
	case *mcp.ReadResourceRequest:
		var out *mcp.ReadResourceResult
		err := s.first(ctx, func(ctx context.Context, cs *mcp.ClientSession) error {
			var err error
			out, err = cs.ReadResource(ctx, r.Params)
			return err
		})
		return out, true, err
	case *mcp.ListPromptsRequest:
		out := &mcp.ListPromptsResult{}
		out.Prompts, err = gather(ctx, s, func(name string, cs *mcp.ClientSession) iter.Seq2[*mcp.Prompt, error] {
			return func(yield func(*mcp.Prompt, error) bool) {
				for x, err := range cs.Prompts(ctx, nil) {
					if x != nil {
						p := *x
						p.Name = name + "__" + x.Name
						x = &p
					}
					if !yield(x, err) {
						return
					}
				}
			}
		})
		return out, true, err
	case *mcp.GetPromptRequest:
		u, name, err := s.split(r.Params.Name)
		if err != nil {
			return nil, true, err
		}
		cs, err := u.client(ctx)
		if err != nil {
			return nil, true, err
		}
		p := *r.Params
		p.Name = name
		out, err := cs.GetPrompt(ctx, &p)
		return out, true, err
	case *mcp.CompleteRequest:
		return s.complete(ctx, r)
	case *mcp.ServerRequest[*mcp.SetLoggingLevelParams]:
		err := s.each(ctx, func(ctx context.Context, _ string, cs *mcp.ClientSession) error {
			if cs.InitializeResult().Capabilities.Logging == nil {
				return nil
			}
			return cs.SetLoggingLevel(ctx, r.Params)
		})
		if err != nil {
			return nil, true, err
		}
		return nil, false, nil // the SDK records the level for this session too
	}
	return nil, false, nil
}

// complete forwards completion/complete: a prompt reference names its
// upstream; a resource reference goes to the first upstream that answers.
func (s *session) complete(ctx context.Context, r *mcp.CompleteRequest) (mcp.Result, bool, error) {
	if r.Params.Ref != nil && r.Params.Ref.Type == "ref/prompt" {
		u, name, err := s.split(r.Params.Ref.Name)
		if err != nil {
			return nil, true, err
		}
		cs, err := u.client(ctx)
		if err != nil {
			return nil, true, err
		}
		p := *r.Params
		ref := *r.Params.Ref
		ref.Name = name
		p.Ref = &ref
		out, err := cs.Complete(ctx, &p)
		return out, true, err
	}
	var out *mcp.CompleteResult
	err := s.first(ctx, func(ctx context.Context, cs *mcp.ClientSession) error {
		var err error
		out, err = cs.Complete(ctx, r.Params)
		return err
	})
	return out, true, err
}

// maxListed bounds the items one upstream contributes to one list: an
// upstream that pages without end cannot hold the call or grow the
// gateway's memory without bound.
const maxListed = 10000

// gather collects one list from every upstream that can be reached, in
// name order, all pages of each up to maxListed items.
func gather[T any](ctx context.Context, s *session, list func(name string, cs *mcp.ClientSession) iter.Seq2[T, error]) ([]T, error) {
	out := []T{}
	err := s.each(ctx, func(ctx context.Context, name string, cs *mcp.ClientSession) error {
		n := 0
		for x, err := range list(name, cs) {
			if err != nil {
				return err
			}
			if n == maxListed {
				s.gw.log.Warn("mcp gateway: upstream lists too many items; the rest are left out", "upstream", name, "max", maxListed)
				return nil
			}
			out = append(out, x)
			n++
		}
		return nil
	})
	return out, err
}

// split resolves "<upstream>__<name>".
func (s *session) split(exposed string) (*upstream, string, error) {
	up, name, ok := strings.Cut(exposed, "__")
	u := s.upstreams[up]
	if !ok || u == nil || name == "" {
		return nil, "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("%q does not name <upstream>__<name> of a configured upstream", clip(exposed))}
	}
	return u, name, nil
}

// each runs f on every upstream that can be reached, in name order. An
// upstream that cannot be started, or that lacks the feature, is skipped.
func (s *session) each(ctx context.Context, f func(context.Context, string, *mcp.ClientSession) error) error {
	for _, name := range s.names() {
		cs, err := s.upstreams[name].client(ctx)
		if err != nil {
			continue
		}
		if err := f(ctx, name, cs); err != nil && !notSupported(err) {
			return err
		}
	}
	return nil
}

// first returns the first upstream answer that is not an error.
func (s *session) first(ctx context.Context, f func(context.Context, *mcp.ClientSession) error) error {
	last := error(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "no upstream knows it"})
	for _, name := range s.names() {
		cs, err := s.upstreams[name].client(ctx)
		if err != nil {
			continue
		}
		if err := f(ctx, cs); err != nil {
			last = err
			continue
		}
		return nil
	}
	return last
}

func (s *session) names() []string {
	var out []string
	for n := range s.upstreams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func notSupported(err error) bool {
	var e *jsonrpc.Error
	return errors.As(err, &e) && e.Code == jsonrpc.CodeMethodNotFound
}

// upstreamOptions are the client options of one upstream connection: what
// the upstream sends goes back to this session's client. Sampling and
// elicitation are offered upstream only when the client offered them.
func (s *session) upstreamOptions(name string) *mcp.ClientOptions {
	o := &mcp.ClientOptions{
		Logger:       s.gw.sdkLog,
		Capabilities: &mcp.ClientCapabilities{},
		ToolListChangedHandler: func(ctx context.Context, _ *mcp.ToolListChangedRequest) {
			go s.refreshTools(context.WithoutCancel(ctx), s.upstreams[name])
		},
		LoggingMessageHandler: func(ctx context.Context, r *mcp.LoggingMessageRequest) {
			if ss := s.downstream(); ss != nil {
				ss.Log(s.related(name, ctx), r.Params)
			}
		},
		ResourceUpdatedHandler: func(ctx context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			s.server.ResourceUpdated(ctx, r.Params)
		},
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { s.promptsChanged() },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { s.resourcesChanged() },
		ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
			if ss := s.downstream(); ss != nil {
				ss.NotifyProgress(s.related(name, ctx), r.Params)
			}
		},
	}
	ss := s.downstream()
	if ss == nil || ss.InitializeParams() == nil || ss.InitializeParams().Capabilities == nil {
		return o
	}
	caps := ss.InitializeParams().Capabilities
	if caps.RootsV2 != nil || caps.Roots.ListChanged {
		o.Capabilities.RootsV2 = &mcp.RootCapabilities{ListChanged: true}
	}
	if caps.Sampling != nil {
		o.CreateMessageHandler = func(ctx context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return ss.CreateMessage(s.related(name, ctx), r.Params)
		}
	}
	if caps.Elicitation != nil {
		o.ElicitationHandler = func(ctx context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return ss.Elicit(s.related(name, ctx), r.Params)
		}
	}
	return o
}

// subscribe passes a resource subscription to the first upstream that
// takes it; its updates come back through ResourceUpdatedHandler.
func (s *session) subscribe(ctx context.Context, r *mcp.SubscribeRequest) error {
	var last error = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "no upstream supports subscribing to it"}
	for _, name := range s.names() {
		u := s.upstreams[name]
		cs, err := u.client(ctx)
		if err != nil {
			continue
		}
		if c := cs.InitializeResult().Capabilities.Resources; c == nil || !c.Subscribe {
			continue
		}
		if err := cs.Subscribe(ctx, r.Params); err != nil {
			last = err
			continue
		}
		s.mu.Lock()
		s.subs[r.Params.URI] = u
		s.mu.Unlock()
		return nil
	}
	return last
}

func (s *session) unsubscribe(ctx context.Context, r *mcp.UnsubscribeRequest) error {
	s.mu.Lock()
	u := s.subs[r.Params.URI]
	delete(s.subs, r.Params.URI)
	s.mu.Unlock()
	if u == nil {
		return nil
	}
	cs, err := u.client(ctx)
	if err != nil {
		return err
	}
	return cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: r.Params.URI})
}
