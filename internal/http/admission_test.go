package http_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
)

// get sends an authenticated GET and returns the response (body closed).
func get(t *testing.T, e *env, key, path string) *nethttp.Response {
	t.Helper()
	req, _ := nethttp.NewRequest("GET", e.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestLongPollsDoNotCrowdOut: with --max-inflight 16, one worker key's
// long polls hold at most its share (4) of the long-poll slots, and its
// further polls get 429 with Retry-After; meanwhile other principals'
// requests and another worker's long poll are served.
func TestLongPollsDoNotCrowdOut(t *testing.T) {
	t.Parallel()
	e := &env{apitest.New(t, apitest.Options{AdminKey: adminKey, MaxInflight: 16})}
	e.Key("worker-1", "service", "worker")
	e.Key("worker-2", "service", "worker")
	e.Key("auditor-1", "human", "auditor")
	poll := func(as string, waitMS int) (int, []byte) {
		return e.Do(as, "POST", "/api/v1/workers/lease", cairn.LeaseRequest{Actions: []string{"x.*"}, WaitMS: waitMS})
	}
	var wg sync.WaitGroup
	statuses := make(chan int, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _ := poll("worker-1", 3000)
			statuses <- st
		}()
	}
	// The polls past worker-1's share are refused at once.
	refused := 0
	for refused < 12 {
		select {
		case st := <-statuses:
			if st != 429 {
				t.Fatalf("a long poll past the share answered %d before the held ones ended", st)
			}
			refused++
		case <-time.After(2500 * time.Millisecond):
			t.Fatalf("only %d of 16 long polls were refused", refused)
		}
	}
	st, raw := poll("worker-1", 100)
	if st != 429 || !strings.Contains(string(raw), cairn.ETooMany) {
		t.Fatalf("another long poll of worker-1: %d %s", st, raw)
	}
	// Everyone else is served meanwhile.
	if resp := get(t, e, e.Keys["auditor-1"], "/api/v1/jobs?limit=1"); resp.StatusCode != 200 {
		t.Fatalf("auditor while worker-1 polls: %d", resp.StatusCode)
	}
	if st, raw := poll("worker-2", 50); st != 200 {
		t.Fatalf("worker-2's long poll: %d %s", st, raw)
	}
	// worker-1's own short requests use the call slots, not the polls.
	if st, raw := poll("worker-1", 0); st != 200 {
		t.Fatalf("worker-1's lease without wait: %d %s", st, raw)
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 {
			t.Fatalf("a held long poll ended with %d", st)
		}
	}
}

// TestSlowBodyHoldsNoSlot: with one in-flight slot, a request whose body
// trickles in holds no slot while it arrives (other requests are served),
// and past the body deadline it gets 408 request_timeout.
func TestSlowBodyHoldsNoSlot(t *testing.T) {
	t.Parallel()
	e := &env{apitest.New(t, apitest.Options{AdminKey: adminKey, MaxInflight: 1, BodyTimeout: 700 * time.Millisecond})}
	e.Key("agent-1", "agent", "agent")
	e.Key("auditor-1", "human", "auditor")
	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", e.Keys["agent-1"])
	// While the body is still arriving, the only slot is free.
	for i := 0; i < 3; i++ {
		if resp := get(t, e, e.Keys["auditor-1"], "/api/v1/jobs?limit=1"); resp.StatusCode != 200 {
			t.Fatalf("request %d while a body trickles in: %d", i, resp.StatusCode)
		}
		c.Write([]byte(" "))
		time.Sleep(50 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&eb)
	if resp.StatusCode != 408 || eb.Error.Code != cairn.ETimeout {
		t.Fatalf("slow body: %d %q, want 408 %s", resp.StatusCode, eb.Error.Code, cairn.ETimeout)
	}
	// A body that arrives in time is served as before.
	e.MustDo("agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j1", Action: "db.read"}, 201, nil)
}

// TestAuthFailThrottle: an address that fails authentication past its
// burst gets 429 with Retry-After for every request, a valid key included
// (its key is not looked at), until a failure is allowed again; by
// default the throttle is on.
func TestAuthFailThrottle(t *testing.T) {
	t.Parallel()
	e := &env{apitest.New(t, apitest.Options{AdminKey: adminKey, AuthFailRate: 1, AuthFailBurst: 3})}
	e.Key("auditor-1", "human", "auditor")
	for i := 0; i < 3; i++ {
		if resp := get(t, e, "wrong-key", "/api/v1/jobs"); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	// Successes do not count; the burst is used up now.
	resp := get(t, e, "wrong-key", "/api/v1/jobs")
	if resp.StatusCode != 429 {
		t.Fatalf("fourth failure: %d", resp.StatusCode)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 2 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp := get(t, e, "", "/api/v1/jobs"); resp.StatusCode != 429 {
		t.Fatalf("no key while throttled: %d", resp.StatusCode)
	}
	if resp := get(t, e, e.Keys["auditor-1"], "/api/v1/jobs"); resp.StatusCode != 429 {
		t.Fatalf("a valid key while throttled: %d", resp.StatusCode)
	}
	if st, _ := e.Do("", "GET", "/healthz", nil); st != 200 {
		t.Fatalf("healthz while throttled: %d", st)
	}
	time.Sleep(1100 * time.Millisecond) // one failure refilled
	if resp := get(t, e, e.Keys["auditor-1"], "/api/v1/jobs"); resp.StatusCode != 200 {
		t.Fatalf("a valid key after the wait: %d", resp.StatusCode)
	}

	d := &env{apitest.New(t, apitest.Options{AdminKey: adminKey})}
	n := 0
	for ; n < 1000; n++ {
		if get(t, d, "wrong-key", "/api/v1/jobs").StatusCode == 429 {
			break
		}
	}
	if n != cairnhttp.DefaultAuthFailBurst {
		t.Fatalf("by default %d failures passed before 429, want %d", n, cairnhttp.DefaultAuthFailBurst)
	}
}
