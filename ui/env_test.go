package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"testing"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/http"
	"github.com/cairnhq/cairn/service"
	"github.com/cairnhq/cairn/sqlite"
	"github.com/cairnhq/cairn/ui"
)

const adminKey = "cairn_ui_test_admin_key_0123456789"

const seedPolicy = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write", "db.delete"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver], expires_in: 24h}
  - id: quick-approval
    match: {actions: ["deploy.*"]}
    decision: REQUIRE_APPROVAL
    reason: Deploys need a quick approval
    approval: {approver_roles: [approver], expires_in: 2s}
  - id: reads-are-fine
    match: {actions: ["db.read", "http.get"]}
    decision: ALLOW
    reason: Read-only actions
  - id: big-transfers
    match: {actions: ["payments.transfer"]}
    when: 'input.amount > 10000'
    decision: DENY
    reason: Transfers over 10k are never automated
  - id: tools
    match: {actions: ["tool.*"]}
    decision: ALLOW
    reason: Tools are allowed
output_rules:
  - id: out-secrets
    actions: ["tool.*", "db.*"]
    scanners: [secrets]
    decision: QUARANTINE
  - id: out-pii
    actions: ["tool.*", "db.*"]
    scanners: [pii]
    decision: REDACT
`

// env is a Cairn server in the test process with the console wired in, and a
// key for each role.
type env struct {
	t     testing.TB
	url   string
	svc   *service.Service
	store *sqlite.Store
	keys  map[string]string // principal -> key
}

func newEnv(t testing.TB) *env {
	t.Helper()
	store, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := service.New(store, log, []byte("salt"))
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, adminKey); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := cairnhttp.New(svc, log)
	api.UI = ui.Handler()
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		svc.Stop()
		store.Close()
	})
	e := &env{t: t, url: srv.URL, svc: svc, store: store, keys: map[string]string{"admin": adminKey}}
	e.key("agent-1", "agent", "agent")
	e.key("manager-2", "human", "approver")
	e.key("worker-1", "service", "worker")
	e.key("auditor-1", "human", "auditor")
	e.key("polly", "human", "policy_admin")
	e.key("approver-agent", "agent", "agent", "approver")
	return e
}

func (e *env) key(principal, kind string, roles ...string) {
	e.t.Helper()
	var out cairn.CreatedKey
	e.mustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: principal, Kind: kind, Roles: roles}, 201, &out)
	e.keys[principal] = out.Key
}

func (e *env) do(as, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := nethttp.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if as != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[as])
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (e *env) mustDo(as, method, path string, body any, want int, out any) {
	e.t.Helper()
	status, raw := e.do(as, method, path, body)
	if status != want {
		e.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, as, status, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode: %v: %s", method, path, err, raw)
		}
	}
}

func (e *env) publish(as, text string) string {
	e.t.Helper()
	var ch cairn.PolicyChange
	status, raw := e.do(as, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: text, Message: "test"})
	if status != 201 && status != 200 {
		e.t.Fatalf("publish: %d %s", status, raw)
	}
	json.Unmarshal(raw, &ch)
	return ch.PolicySnapshot
}

func (e *env) submit(as string, req cairn.SubmitRequest) *cairn.Job {
	e.t.Helper()
	var j cairn.Job
	e.mustDo(as, "POST", "/api/v1/jobs", req, 201, &j)
	return &j
}

func (e *env) lease(actions ...string) []*cairn.LeasedJob {
	e.t.Helper()
	var lr cairn.LeaseResponse
	e.mustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w1", Actions: actions, Max: 10}, 200, &lr)
	return lr.Jobs
}

func (e *env) complete(l *cairn.LeasedJob, result string) *cairn.Job {
	e.t.Helper()
	var j cairn.Job
	e.mustDo("worker-1", "POST", "/api/v1/jobs/"+l.JobID+"/complete", cairn.CompleteRequest{LeaseID: l.LeaseID, Status: "succeeded", Result: json.RawMessage(result)}, 200, &j)
	return &j
}

// principal resolves a test principal for direct service calls.
func (e *env) principal(name string) cairn.Principal {
	e.t.Helper()
	p, err := e.svc.Authenticate(context.Background(), e.keys[name])
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func get(t testing.TB, url string, hdr map[string]string) (*nethttp.Response, []byte) {
	t.Helper()
	req, _ := nethttp.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// no transparent decompression: the test checks what is on the wire
	tr := &nethttp.Transport{DisableCompression: true}
	resp, err := (&nethttp.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
