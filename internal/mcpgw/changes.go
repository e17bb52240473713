package mcpgw

//lint:file-ignore SA1019 The gateway speaks the MCP versions up to 2025-11-25, where roots, sampling and logging are current, and passes them through (see docs/mcp.md §6).

import (
	"context"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Change notifications that pass through: an upstream's prompt and
// resource lists, and the client's roots.
//
// The gateway answers prompts/list and resources/list itself, from the
// upstreams (forward.go), so the SDK's server, which sends list_changed
// only when its own registry changes, does not know when they change. A
// change upstream therefore touches a marker entry in the session
// server's registry: the SDK then sends the client its (debounced)
// notifications/prompts|resources/list_changed, and the client lists
// again through the gateway. The markers are never listed or served: the
// gateway's middleware answers those methods before the SDK's handlers.

var errNotServed = errors.New("not served")

// changeMarker names the marker prompt and resource.
const changeMarker = "cairn-gateway-list-changed"

func (s *session) promptsChanged() {
	s.server.AddPrompt(&mcp.Prompt{Name: changeMarker}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return nil, errNotServed
	})
}

func (s *session) resourcesChanged() {
	s.server.AddResource(&mcp.Resource{URI: "cairn-gateway:" + changeMarker, Name: changeMarker}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return nil, errNotServed
	})
}

// rootsTimeout bounds asking the client for its roots.
const rootsTimeout = 10 * time.Second

// syncRoots gives upstream u's client the roots the MCP client has now;
// the upstream's roots/list is answered from them. Before u connects it
// only fills the list; afterwards the change notifies the upstream.
func (s *session) syncRoots(ctx context.Context, u *upstream, c *mcp.Client) {
	ss := s.downstream()
	if ss == nil || ss.InitializeParams() == nil || ss.InitializeParams().Capabilities == nil || ss.InitializeParams().Capabilities.RootsV2 == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, rootsTimeout)
	defer cancel()
	res, err := ss.ListRoots(ctx, nil)
	if err != nil {
		s.gw.log.Warn("mcp gateway: the client's roots could not be listed", "error", err.Error())
		return
	}
	uris := make([]string, 0, len(res.Roots))
	for _, r := range res.Roots {
		uris = append(uris, r.URI)
	}
	u.rootsMu.Lock()
	defer u.rootsMu.Unlock()
	if len(u.roots) > 0 {
		c.RemoveRoots(u.roots...)
	}
	c.AddRoots(res.Roots...)
	u.roots = uris
}

// rootsChanged passes the client's notifications/roots/list_changed on:
// every connected upstream's client takes the new roots, which notifies
// the upstream.
func (s *session) rootsChanged(ctx context.Context, _ *mcp.RootsListChangedRequest) {
	for _, u := range s.upstreams {
		if c := u.mcpClient(); c != nil {
			// Not on the client's read path: asking it for its roots
			// needs that path free to read the answer.
			go s.syncRoots(context.WithoutCancel(ctx), u, c)
		}
	}
}
