package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/apitest"

	"github.com/cairnhq/cairn"
)

// writeRoute is a route that changes state, with the principal that may
// use it and the path ids it is fuzzed with when the input gives none.
type writeRoute struct {
	method, path, as, id string
}

// writeRoutes are every write route of the API ({id} and {step} are
// replaced by the fuzzed id, or id, and "b").
var writeRoutes = []writeRoute{
	{"POST", "/api/v1/jobs", "agent-1", ""},
	{"POST", "/api/v1/jobs/{id}/complete", "worker-1", "fz-queued"},
	{"POST", "/api/v1/jobs/{id}/cancel", "agent-1", "fz-cancel"},
	{"POST", "/api/v1/approvals/{id}/approve", "manager-2", "fz-approval"},
	{"POST", "/api/v1/approvals/{id}/reject", "manager-2", "fz-approval"},
	{"POST", "/api/v1/workers/lease", "worker-1", ""},
	{"POST", "/api/v1/policy/publish", "polly", ""},
	{"POST", "/api/v1/policy/rollback", "polly", ""},
	{"POST", "/api/v1/policy/simulate", "polly", ""},
	{"POST", "/api/v1/keys", "admin", ""},
	{"DELETE", "/api/v1/keys/{id}", "admin", "no-such-key"},
	{"POST", "/api/v1/workflows", "polly", ""},
	{"POST", "/api/v1/workflow-runs", "agent-1", ""},
	{"POST", "/api/v1/workflow-runs/{id}/cancel", "agent-1", "fz-run-c"},
	{"POST", "/api/v1/workflow-runs/{id}/rerun", "agent-1", "fz-run-c"},
	{"POST", "/api/v1/workflow-runs/{id}/steps/b/approve", "manager-2", "fz-run"},
	{"POST", "/api/v1/workflow-runs/{id}/steps/b/reject", "manager-2", "fz-run"},
	{"POST", "/api/v1/ledger/checkpoints", "auditor-1", ""},
	{"POST", "/api/v1/ledger/cosignatures", "auditor-1", ""},
}

// fuzzPrincipals are the callers a fuzzed input may choose instead of the
// route's own ("" sends no key, "nobody" a wrong one).
var fuzzPrincipals = []string{"", "agent-1", "agent-2", "manager-2", "worker-1", "auditor-1", "polly", "approver-agent", "admin", "nobody"}

const fuzzWorkflow = "name: fz\nsteps:\n  - id: a\n    action: tool.a\n  - id: b\n    action: tool.b\n    depends_on: [a]\n    gate: {quorum: 1}\n"

// newFuzzEnv is a server with a policy, jobs waiting for approval, a
// queued job, and workflow runs waiting at their gate.
func newFuzzEnv(f *testing.F) *env {
	// Fuzzed inputs may send no key or a wrong one from the same address
	// many times a second: the failed-authentication throttle (tested on
	// its own) would then refuse every later request, valid or not.
	e := newEnvWith(f, apitest.Options{AdminKey: adminKey, LedgerKey: true, AuthFailRate: 1e9, AuthFailBurst: 1 << 30})
	e.Keys["nobody"] = "cairn_not_a_real_key_at_all_000000"
	e.publish(seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "fz-approval", Action: "db.write", Labels: map[string]string{"env": "prod"}, Input: json.RawMessage(`{"n":1}`)})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "fz-cancel", Action: "db.delete", Labels: map[string]string{"env": "prod"}})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "fz-queued", Action: "http.get", Resource: "https://example.com"})
	w := e.register(fuzzWorkflow)
	e.startRun("agent-1", "fz-run", w.WorkflowID, map[string]any{"k": 1})
	e.startRun("agent-1", "fz-run-c", w.WorkflowID, nil)
	e.work(succeed("x"), "tool.a")
	return e
}

// FuzzWriteRoutes posts fuzzed bodies to every write route of a running
// server. Every answer is below 500; every answer that is not 2xx is a JSON
// error body with a code; the server keeps answering; and the tenant's
// ledger keeps verifying against its projections.
func FuzzWriteRoutes(f *testing.F) {
	hash := strings.Repeat("a", 64)
	for _, s := range []struct {
		route uint8
		as    uint8
		id    string
		body  string
	}{
		{0, 0, "", `{"job_id":"j1","action":"db.read","resource":"db://orders","labels":{"env":"prod"},"risk_tags":["pii"],"input":{"q":"x"}}`},
		{0, 0, "", `{"action":"db.write","labels":{"env":"prod"},"input":{"a":[1,2.5,"\u00e9"]}}`},
		{0, 0, "", `{"action":"payments.transfer","input":{"amount":20000}}`},
		{1, 0, "", `{"lease_id":"forged","status":"succeeded","result":{"ok":true}}`},
		{2, 0, "", `{"reason":"not needed"}`},
		{3, 0, "", `{"job_hash":"` + hash + `","comment":"ok"}`},
		{4, 0, "", `{"job_hash":"` + hash + `"}`},
		{5, 0, "", `{"worker_id":"w1","actions":["http.get"],"max":1,"lease_ms":1000}`},
		{6, 0, "", `{"bundle":"default: allow\n","message":"m"}`},
		{6, 0, "", `{"bundle":"rules:\n  - id: r\n    match: {actions: [\"db.*\"]}\n    when: 'input.n > 0'\n    decision: DENY\n    reason: no\n"}`},
		{7, 0, "", `{"to":"cfg:system:policy#sha256:00","message":"back"}`},
		{8, 0, "", `{"job":{"action":"db.read","input":{"n":1}},"bundle":"default: allow\n"}`},
		{9, 0, "", `{"principal":"p1","kind":"agent","roles":["agent"]}`},
		{10, 0, "", ``},
		{11, 0, "", `{"definition":"name: w2\nsteps:\n  - {id: a, action: tool.a, input: {x: '${{ input.x }}'}}\n"}`},
		{12, 0, "", `{"workflow_id":"fz","run_id":"r2","input":{"k":2}}`},
		{13, 0, "", `{"reason":"stop"}`},
		{14, 0, "", `{"from_step":"a"}`},
		{15, 0, "", `{"job_hash":"` + hash + `","comment":"ok"}`},
		{16, 0, "", `{"job_hash":"` + hash + `"}`},
		{17, 0, "", ``},
		{18, 0, "", `{"witness_key":"w+00000000+AQ","note":"origin\n1\nAA\n"}`},
		{0, 1, "", `{"action":"db.read"}`},
		{3, 7, "fz-approval", `{"job_hash":"` + hash + `"}`},
		{2, 9, "../x", `{}`},
		{0, 0, "", `{"action":"db.read","input":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`},
		{0, 0, "", "{\"action\":\"db.read\",\"resource\":\"\xff\"}"},
	} {
		f.Add(s.route, s.as, s.id, []byte(s.body))
	}
	e := newFuzzEnv(f)
	client := &nethttp.Client{Timeout: 30 * time.Second}
	var calls int
	f.Fuzz(func(t *testing.T, route, as uint8, id string, body []byte) {
		r := writeRoutes[int(route)%len(writeRoutes)]
		if r.path == "/api/v1/workers/lease" && longPoll(body) {
			t.Skip("a long poll waits by design")
		}
		who := r.as
		if as != 0 {
			who = fuzzPrincipals[int(as)%len(fuzzPrincipals)]
		}
		if id == "" {
			id = r.id
		}
		path := strings.ReplaceAll(r.path, "{id}", url.PathEscape(id))
		status, raw := fuzzDo(t, client, e, who, r.method, path, body)
		if status >= 500 {
			t.Fatalf("%s %s as %q with %q: %d %s", r.method, path, who, body, status, raw)
		}
		if status >= 300 {
			var eb struct {
				Error struct {
					Code, Message string
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%s %s with %q: %d without an error body: %s", r.method, path, body, status, raw)
			}
		} else if len(raw) > 0 && !json.Valid(raw) {
			t.Fatalf("%s %s with %q: %d with invalid JSON %s", r.method, path, body, status, raw)
		}
		if status, raw := fuzzDo(t, client, e, "auditor-1", "GET", "/api/v1/whoami", nil); status != 200 {
			t.Fatalf("after %s %s with %q the server answers %d %s", r.method, path, body, status, raw)
		}
		calls++
		if status < 300 || calls%32 == 0 {
			fuzzVerify(t, client, e)
		}
	})
}

// longPoll reports whether a lease body asks to wait.
func longPoll(body []byte) bool {
	var req struct {
		WaitMS json.Number `json:"wait_ms"`
	}
	if json.Unmarshal(body, &req) != nil {
		return bytes.Contains(body, []byte("wait"))
	}
	n, err := req.WaitMS.Int64()
	return err != nil && req.WaitMS != "" || n > 0
}

func fuzzDo(t *testing.T, client *nethttp.Client, e *env, as, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := nethttp.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if as != "" {
		req.Header.Set("Authorization", "Bearer "+e.Keys[as])
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

func fuzzVerify(t *testing.T, client *nethttp.Client, e *env) {
	t.Helper()
	status, raw := fuzzDo(t, client, e, "auditor-1", "GET", "/api/v1/ledger/verify", nil)
	var rep struct {
		OK       bool            `json:"ok"`
		Problems json.RawMessage `json:"problems"`
	}
	if status != 200 || json.Unmarshal(raw, &rep) != nil || !rep.OK {
		t.Fatalf("the ledger does not verify: %d %s", status, raw)
	}
}
