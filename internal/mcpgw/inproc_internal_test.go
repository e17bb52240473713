package mcpgw

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestInProcessTransport: the handler sees a server-side request (path,
// query, headers, body, the MCP client's address when known) and its
// answer comes back as the response; an answer cut short and a cancelled
// request are errors, not a crash or a partial success.
func TestInProcessTransport(t *testing.T) {
	var seen *http.Request
	var body string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		switch r.URL.Path {
		case "/abort":
			w.Write([]byte("partial"))
			panic(http.ErrAbortHandler)
		case "/cancel":
			cancelRequest()
		}
		w.Header().Set("X-Answer", "yes")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(`{"code":"teapot"}`))
		w.Header().Set("X-Late", "ignored by clients, kept here") // written after the header: harmless
	})
	c := &http.Client{Transport: InProcess(h)}

	req, _ := http.NewRequest("POST", "http://cairn.invalid/api/v1/jobs?x=1", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Answer") != "yes" || string(got) != `{"code":"teapot"}` {
		t.Fatalf("answer: %d %v %q", resp.StatusCode, resp.Header, got)
	}
	if seen.Method != "POST" || seen.RequestURI != "/api/v1/jobs?x=1" || seen.URL.Query().Get("x") != "1" ||
		seen.Header.Get("Authorization") != "Bearer k" || body != `{"a":1}` || seen.RemoteAddr != inProcessAddr {
		t.Fatalf("request: %s %s %v %q from %s", seen.Method, seen.RequestURI, seen.Header, body, seen.RemoteAddr)
	}

	// A request made for an MCP client carries that client's address.
	req, _ = http.NewRequestWithContext(withClientAddr(context.Background(), "192.0.2.7:5555"), "GET", "http://cairn.invalid/api/v1/whoami", nil)
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen.RemoteAddr != "192.0.2.7:5555" || body != "" {
		t.Fatalf("client address %q, body %q", seen.RemoteAddr, body)
	}

	// An answer cut short (the handler re-panics ErrAbortHandler) fails.
	if _, err := c.Get("http://cairn.invalid/abort"); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("abort: %v", err)
	}

	// A request whose context ended while it was handled fails.
	ctx, cancel := context.WithCancel(context.Background())
	cancelRequest = cancel
	req, _ = http.NewRequestWithContext(ctx, "GET", "http://cairn.invalid/cancel", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("a cancelled request succeeded")
	}
}

var cancelRequest = func() {}
