package ui_test

import (
	"context"
	"encoding/json"
	"io"
	nethttp "net/http"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/ui"
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
type env struct{ *apitest.Env }

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, apitest.Options{})
}

// newEnvWith is newEnv with more options (the admin key and UI are set).
func newEnvWith(t testing.TB, opt apitest.Options) *env {
	t.Helper()
	opt.AdminKey, opt.UI = adminKey, ui.Handler()
	e := &env{apitest.New(t, opt)}
	e.Key("agent-1", "agent", "agent")
	e.Key("manager-2", "human", "approver")
	e.Key("worker-1", "service", "worker")
	e.Key("auditor-1", "human", "auditor")
	e.Key("polly", "human", "policy_admin")
	e.Key("approver-agent", "agent", "agent", "approver")
	return e
}

func (e *env) publish(as, text string) string {
	e.T.Helper()
	var ch cairn.PolicyChange
	status, raw := e.Do(as, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: text, Message: "test"})
	if status != 201 && status != 200 {
		e.T.Fatalf("publish: %d %s", status, raw)
	}
	json.Unmarshal(raw, &ch)
	return ch.PolicySnapshot
}

func (e *env) complete(l *cairn.LeasedJob, result string) *cairn.Job {
	e.T.Helper()
	var j cairn.Job
	e.MustDo("worker-1", "POST", "/api/v1/jobs/"+l.JobID+"/complete", cairn.CompleteRequest{LeaseID: l.LeaseID, Status: "succeeded", Result: json.RawMessage(result)}, 200, &j)
	return &j
}

// principal resolves a test principal for direct service calls.
func (e *env) principal(name string) cairn.Principal {
	e.T.Helper()
	p, err := e.Svc.Authenticate(context.Background(), e.Keys[name])
	if err != nil {
		e.T.Fatal(err)
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
