package http_test

import (
	"encoding/json"
	nethttp "net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/apitest"
)

// TestRateLimit: with a limit of one request every 2 s and bursts of 3, a
// principal's fourth request at once is refused with 429 too_many_requests
// and Retry-After, does nothing, and is accepted once the bucket refills;
// other principals are not affected; the Go client waits and retries.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := &env{apitest.New(t, apitest.Options{AdminKey: adminKey, RateLimit: 0.5, RateBurst: 3})}
	e.Key("agent-1", "agent", "agent")
	e.Key("auditor-1", "human", "auditor")
	get := func(as string) *nethttp.Response {
		t.Helper()
		req, _ := nethttp.NewRequest("GET", e.URL+"/api/v1/jobs?limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+e.Keys[as])
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// agent-1's bucket is full (3): three requests pass at once.
	for i := 0; i < 3; i++ {
		if resp := get("agent-1"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	// The fourth is refused before it does anything: a submit is not stored.
	e.ErrCode("agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-limited", Action: "db.read"}, 429, cairn.ETooMany)
	resp := get("agent-1")
	if resp.StatusCode != 429 {
		t.Fatalf("over the limit: %d", resp.StatusCode)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 3 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// Another principal has its own bucket.
	if resp := get("auditor-1"); resp.StatusCode != 200 {
		t.Fatalf("auditor: %d", resp.StatusCode)
	}
	var l cairn.List[*cairn.Job]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs?limit=10", nil, 200, &l)
	if len(l.Items) != 0 {
		t.Fatalf("a refused submit was stored: %+v", l.Items)
	}
	// Refused requests took no tokens: after 2 s one is back.
	time.Sleep(2100 * time.Millisecond)
	if resp := get("agent-1"); resp.StatusCode != 200 {
		t.Fatalf("after the refill: %d", resp.StatusCode)
	}
	// The Go client honours Retry-After and retries a refused submit.
	c := client.New(e.URL, e.Keys["agent-1"])
	for i := 0; i < 2; i++ {
		if _, err := c.SubmitJob(t.Context(), cairn.SubmitRequest{JobID: "j-" + strconv.Itoa(i), Action: "db.read", Input: json.RawMessage(`{}`)}); err != nil {
			t.Fatalf("client submit %d: %v", i, err)
		}
	}
	// Unauthenticated requests are not counted against anyone.
	if st, _ := e.Do("", "GET", "/api/v1/jobs", nil); st != 401 {
		t.Fatalf("no key: %d", st)
	}
}
