package mcpgw_test

//lint:file-ignore SA1019 The gateway speaks the MCP versions up to 2025-11-25, where roots, sampling and logging are current, and passes them through (see docs/mcp.md §6).

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestPassthrough: resources (list, read, subscribe and updates), prompts
// (prefixed) and sampling requests from an upstream pass through the
// gateway; the tool calls that cause them are still jobs.
func TestPassthrough(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
	updated := make(chan string, 4)
	cs := f.connectHTTP(f.serveHTTP(), "agent-a", &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updated <- r.Params.URI },
		CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			in := r.Params.Messages[0].Content.(*mcp.TextContent).Text
			return &mcp.CreateMessageResult{Model: "test-model", Role: "assistant", Content: &mcp.TextContent{Text: "model says " + in}}, nil
		},
	})
	ctx := context.Background()
	rs, err := cs.ListResources(ctx, nil)
	if err != nil || len(rs.Resources) != 1 || rs.Resources[0].URI != "test://notes" {
		t.Fatalf("resources/list: %v %+v", err, rs)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://notes"})
	if err != nil || rr.Contents[0].Text != "the notes" {
		t.Fatalf("resources/read: %v %+v", err, rr)
	}
	ps, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(ps.Prompts) != 1 || ps.Prompts[0].Name != "files__greet" {
		t.Fatalf("prompts/list: %v %+v", err, ps)
	}
	gp, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "files__greet"})
	if err != nil || gp.Messages[0].Content.(*mcp.TextContent).Text != "hello" {
		t.Fatalf("prompts/get: %v %+v", err, gp)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "nowhere__greet"}); err == nil {
		t.Fatal("a prompt of an unknown upstream was answered")
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://notes"}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if res := call(t, cs, "files__touch", map[string]any{"path": "n"}); res.IsError {
		t.Fatalf("touch: %q", text(res))
	}
	select {
	case uri := <-updated:
		if uri != "test://notes" {
			t.Fatalf("updated %q", uri)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no resources/updated reached the client")
	}
	res := call(t, cs, "files__ask", map[string]any{"path": "what now?"})
	if res.IsError || !strings.Contains(text(res), "model says what now?") {
		t.Fatalf("sampling through the gateway: %q", text(res))
	}
	f.verifyLedger()
}

// TestToolListChanged: an upstream's tools/list_changed reaches the client,
// and the new tool can be called through the gateway as a job.
func TestToolListChanged(t *testing.T) {
	f := newFixture(t, stdioUpstream("files"))
	changed := make(chan struct{}, 4)
	cs := f.connectStdio(&mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if res := call(t, cs, "files__grow", map[string]any{"path": "sprout"}); res.IsError {
		t.Fatalf("grow: %q", text(res))
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("the client never saw the new tool")
		}
		tools, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range tools.Tools {
			if tl.Name == "files__sprout" {
				res := call(t, cs, "files__sprout", map[string]any{})
				if res.IsError || text(res) != "new tool sprout" || f.job(metaJob(t, res)).Action != "mcp.files.sprout" {
					t.Fatalf("sprout: %q", text(res))
				}
				return
			}
		}
	}
}

// TestListsAndRootsPassThrough: an upstream's prompts/list_changed and
// resources/list_changed reach the client, whose next lists show the new
// entries (and never the gateway's change markers); an upstream's
// roots/list is answered with the client's roots, and a change of them
// reaches the upstream.
func TestListsAndRootsPassThrough(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
	prompts, resources := make(chan struct{}, 4), make(chan struct{}, 4)
	c := mcp.NewClient(&mcp.Implementation{Name: "roots-client", Version: "1"}, &mcp.ClientOptions{
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { prompts <- struct{}{} },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { resources <- struct{}{} },
	})
	c.AddRoots(&mcp.Root{URI: "file:///srv/project", Name: "project"})
	cs := f.connectHTTPWith(c, f.serveHTTP(), "agent-a")
	ctx := context.Background()
	if res := call(t, cs, "files__roots", map[string]any{"path": "-"}); res.IsError || text(res) != "roots: file:///srv/project" {
		t.Fatalf("roots through the gateway: %q", text(res))
	}
	if res := call(t, cs, "files__more", map[string]any{"path": "extra"}); res.IsError {
		t.Fatalf("more: %q", text(res))
	}
	for name, ch := range map[string]chan struct{}{"prompts": prompts, "resources": resources} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s/list_changed reached the client", name)
		}
	}
	ps, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pnames []string
	for _, p := range ps.Prompts {
		pnames = append(pnames, p.Name)
	}
	if strings.Join(pnames, ",") != "files__extra,files__greet" {
		t.Fatalf("prompts after the change: %v", pnames)
	}
	rs, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range rs.Resources {
		uris = append(uris, r.URI)
	}
	if strings.Join(uris, ",") != "test://extra,test://notes" {
		t.Fatalf("resources after the change: %v", uris)
	}
	c.AddRoots(&mcp.Root{URI: "file:///srv/other", Name: "other"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := call(t, cs, "files__roots", map[string]any{"path": "-"})
		if text(res) == "roots: file:///srv/other file:///srv/project" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new root never reached the upstream: %q", text(res))
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.verifyLedger()
}
