package mcpgw_test

//lint:file-ignore SA1019 The gateway speaks the MCP versions up to 2025-11-25, where roots, sampling and logging are current, and passes them through (see docs/mcp.md §6).

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The test upstream: an MCP server built with the official Go SDK. It runs
// in the test process over streamable HTTP, or as a child process over
// stdio (the test binary re-executed with MCPGW_TEST_UPSTREAM=1), where it
// can also crash and speak garbage.

type pathArgs struct {
	Path    string `json:"path"`
	Content string `json:"content,omitempty"`
}

// upstreamCalls counts the calls that really ran upstream (in-process).
var upstreamCalls atomic.Int64

func newTestUpstream(stdio bool) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	s.AddResource(&mcp.Resource{URI: "test://notes", Name: "notes", MIMEType: "text/plain"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://notes", MIMEType: "text/plain", Text: "the notes"}}}, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "a greeting"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello"}}}}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "touch", Description: "updates the notes resource"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			s.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://notes"})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "touched"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "grow", Description: "adds a tool named after path"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			s.AddTool(&mcp.Tool{Name: a.Path, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "new tool " + a.Path}}}, nil
			})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "grew"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "more", Description: "adds a prompt and a resource named after path"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			s.AddPrompt(&mcp.Prompt{Name: a.Path}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: a.Path}}}}, nil
			})
			s.AddResource(&mcp.Resource{URI: "test://" + a.Path, Name: a.Path}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://" + a.Path, Text: a.Path}}}, nil
			})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "more"}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "roots", Description: "lists the client's roots (roots/list)"},
		func(ctx context.Context, req *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return nil, nil, err
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "roots: " + strings.Join(uris, " ")}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "ask", Description: "asks the client's model (sampling)"},
		func(ctx context.Context, req *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10, Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: a.Path}}}})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
		})
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "read", Description: "reads a file", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			upstreamCalls.Add(1)
			return text("contents of " + a.Path), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "write", Description: "writes a file"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			upstreamCalls.Add(1)
			return text(fmt.Sprintf("wrote %d bytes to %s", len(a.Content), a.Path)), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "delete", Description: "deletes a file"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			upstreamCalls.Add(1)
			return text("deleted " + a.Path), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "leaks a credential"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			upstreamCalls.Add(1)
			return text("aws_access_key_id = AKIAIOSFODNN7EXAMPLE"), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "ssn", Description: "returns personal data"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			upstreamCalls.Add(1)
			return text("customer email jane.doe@example.com"), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "hangs until cancelled"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
			upstreamCalls.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(time.Minute):
			}
			return text("late"), nil, nil
		})
	if stdio {
		mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "dies"},
			func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
				os.Exit(3)
				return nil, nil, nil
			})
		mcp.AddTool(s, &mcp.Tool{Name: "garbage", Description: "answers malformed JSON-RPC"},
			func(ctx context.Context, _ *mcp.CallToolRequest, a pathArgs) (*mcp.CallToolResult, any, error) {
				os.Stdout.Write([]byte("{this is not json-rpc\n"))
				os.Stdout.Sync()
				time.Sleep(100 * time.Millisecond)
				os.Exit(4)
				return nil, nil, nil
			})
	}
	return s
}

// runStdioUpstream is the child process's main.
func runStdioUpstream() {
	if err := newTestUpstream(true).Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}
