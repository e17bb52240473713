// Package apitest runs a real Cairn API server inside a test process — the
// embedded store in a temporary directory, the service and the HTTP API on
// an httptest server — and talks to it over HTTP as named principals. The
// API tests (http) and the console tests (ui) share it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/metrics"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger/tree"
)

// Options shape the server.
type Options struct {
	AdminKey  string          // the bootstrap admin key (principal "admin")
	LedgerKey bool            // sign checkpoints with a fixed test key
	UI        nethttp.Handler // the console, if any
	// RateLimit and RateBurst, when RateLimit > 0, rate-limit each principal.
	RateLimit float64
	RateBurst int
	// MaxInflight, when > 0, bounds the requests in flight; Inflight, when
	// its Calls > 0, sets every in-flight bound instead.
	MaxInflight int
	Inflight    cairnhttp.InflightLimits
	// AuthFailRate and AuthFailBurst, when AuthFailRate > 0, replace the
	// default throttle of failed authentication; BodyTimeout, when > 0,
	// the default body deadline.
	AuthFailRate  float64
	AuthFailBurst int
	BodyTimeout   time.Duration
	// WrapStore, when set, wraps the store the service uses (tracing).
	WrapStore func(cairn.Store) cairn.Store
	// Metrics adds the governance metrics to /metrics, as cairn serve does.
	Metrics bool
	// Tlog configures the /tlog/ routes (authenticated by default).
	Tlog cairnhttp.TlogAccess
}

// Env is a running server and the keys of its principals.
type Env struct {
	T     testing.TB
	URL   string
	Svc   *service.Service
	Store *sqlite.Store
	Dir   string            // the store's data directory
	Keys  map[string]string // principal -> key
	srv   *httptest.Server
	// Handler is the API server the URL serves, for callers in the same
	// process (mcpgw.InProcess).
	Handler nethttp.Handler
	stop    sync.Once
}

// Close stops the API server early (it is stopped at the end of the test
// anyway): a test of a client that must cope with Cairn being down.
func (e *Env) Close() { e.srv.Close() }

// New starts a server; it is stopped when the test ends.
func New(t testing.TB, opt Options) *Env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var st cairn.Store = store
	if opt.WrapStore != nil {
		st = opt.WrapStore(store)
	}
	obs := metrics.NewObserver()
	if opt.Metrics {
		st = obs.Wrap(st)
	}
	svc := service.New(st, log, []byte("salt"))
	if opt.LedgerKey {
		key, err := tree.NewKeyFromSeed("cairn", make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		svc.SetLedgerKey(key, "")
	}
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, opt.AdminKey); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := cairnhttp.New(svc, log)
	if opt.Metrics {
		c := metrics.NewCollector(store, log)
		c.Every = 0 // every scrape reads the store
		if err := metrics.Register(api.Registry(), obs, c); err != nil {
			t.Fatal(err)
		}
	}
	api.UI = opt.UI
	api.SetRateLimit(opt.RateLimit, opt.RateBurst)
	api.SetMaxInflight(opt.MaxInflight)
	if opt.Inflight.Calls > 0 {
		api.SetInflight(opt.Inflight)
	}
	if opt.AuthFailRate > 0 {
		api.SetAuthFailLimit(opt.AuthFailRate, opt.AuthFailBurst)
	}
	api.SetBodyTimeout(opt.BodyTimeout)
	api.SetTlogAccess(opt.Tlog)
	srv := httptest.NewServer(Recording(api))
	e := &Env{T: t, URL: srv.URL, Svc: svc, Store: store, Dir: dir, Keys: map[string]string{"admin": opt.AdminKey}, srv: srv, Handler: Recording(api)}
	t.Cleanup(e.Stop)
	return e
}

// Stop stops the server, the service and the store (once; the end of the
// test stops them anyway): a test that reads the data directory's files
// as a stopped server leaves them.
func (e *Env) Stop() {
	e.stop.Do(func() {
		e.srv.Close()
		e.Svc.Stop()
		e.Store.Close()
	})
}

// Key creates a key for principal (as admin) and remembers it.
func (e *Env) Key(principal, kind string, roles ...string) {
	e.T.Helper()
	var out cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: principal, Kind: kind, Roles: roles}, 201, &out)
	e.Keys[principal] = out.Key
}

// Do sends a request as principal (no key when as is "") and returns the
// status and body. body is sent as is when a string or []byte, else as JSON.
func (e *Env) Do(as, method, path string, body any) (int, []byte) {
	e.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := nethttp.NewRequest(method, e.URL+path, r)
	if err != nil {
		e.T.Fatal(err)
	}
	if as != "" {
		req.Header.Set("Authorization", "Bearer "+e.Keys[as])
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// MustDo is Do that fails the test unless the status is want, and decodes
// the body into out when out is not nil.
func (e *Env) MustDo(as, method, path string, body any, want int, out any) {
	e.T.Helper()
	status, raw := e.Do(as, method, path, body)
	if status != want {
		e.T.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, as, status, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatalf("%s %s: decode: %v: %s", method, path, err, raw)
		}
	}
}

// ErrCode is Do that fails the test unless the answer has the status and
// error code given ("" for a success without an error body).
func (e *Env) ErrCode(as, method, path string, body any, wantStatus int, wantCode string) {
	e.T.Helper()
	status, raw := e.Do(as, method, path, body)
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(raw, &eb)
	if status != wantStatus || eb.Error.Code != wantCode {
		e.T.Fatalf("%s %s as %s: got %d %q, want %d %q: %s", method, path, as, status, eb.Error.Code, wantStatus, wantCode, raw)
	}
}

// Submit submits a job as principal and expects 201.
func (e *Env) Submit(as string, req cairn.SubmitRequest) *cairn.Job {
	e.T.Helper()
	var j cairn.Job
	e.MustDo(as, "POST", "/api/v1/jobs", req, 201, &j)
	return &j
}

// Lease leases up to 10 jobs matching actions as worker-1 (no wait).
func (e *Env) Lease(actions ...string) []*cairn.LeasedJob {
	e.T.Helper()
	var lr cairn.LeaseResponse
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w1", Actions: actions, Max: 10}, 200, &lr)
	return lr.Jobs
}

// Run reads a workflow run as principal "auditor-1" (which the test must
// have created with the auditor role).
func (e *Env) Run(id string) *cairn.Run {
	e.T.Helper()
	var r cairn.Run
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/"+url.PathEscape(id), nil, 200, &r)
	return &r
}

// WaitRun polls Run until the run has the status (timers fire in the
// background), for at most 10 seconds.
func (e *Env) WaitRun(id, status string) *cairn.Run {
	e.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.Run(id)
		if r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("run %s is %s (%s), want %s", id, r.Status, r.Reason, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
