package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	nethttp "net/http"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
)

// TestSubmitAndLease: a submit that asks for a lease dispatches an allowed
// job in the same write, to the submitter or to the principal of the
// Cairn-Executor-Key it carries; the evidence is that of a submit and a
// lease by id, each under its own principal and key. Jobs policy does not
// let run, and replays, get no lease; the lease completes like any other.
func TestSubmitAndLease(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Key("gateway", "service", "agent", "worker")
	ctx := context.Background()
	agent := client.New(e.URL, e.Keys["agent-1"])
	gw := client.New(e.URL, e.Keys["gateway"])

	// The agent submits, the gateway's key takes the lease.
	j, l, err := agent.SubmitAndLeaseFor(ctx, cairn.SubmitRequest{JobID: "sl-1", RunID: "sl-run", Action: "db.read", Executor: "gateway", Input: json.RawMessage(`{"q":1}`),
		Lease: &cairn.SubmitLease{WorkerID: "gw-1", LeaseMS: 5000}}, e.Keys["gateway"])
	if err != nil {
		t.Fatal(err)
	}
	if j.State != cairn.StateRunning || j.SubmittedBy != "agent-1" || l == nil || l.JobID != "sl-1" || l.Receipt == nil || string(l.Input) != `{"q":1}` {
		t.Fatalf("job %+v lease %+v", j, l)
	}
	if err := client.ReceiptVerifier(mustLedgerKey(t, gw))(l); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if _, err := gw.CompleteJob(ctx, "sl-1", cairn.CompleteRequest{LeaseID: l.LeaseID, Status: "succeeded", Result: json.RawMessage(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
	var tl cairn.List[*cairn.Event]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/sl-run/timeline", nil, 200, &tl)
	var types []string
	for _, ev := range tl.Items {
		if ev.JobID != "sl-1" {
			continue
		}
		types = append(types, ev.Type)
		if ev.Type == cairn.EventJobDispatched {
			d := ev.DataMap()
			if d["principal"] != "gateway" || d["worker_id"] != "gw-1" || d["key_id"] == "" || d["key_id"] == nil {
				t.Fatalf("dispatch evidence: %v", d)
			}
		}
		if ev.Type == cairn.EventJobSubmitted && ev.Actor != "agent-1" {
			t.Fatalf("submitted by %q", ev.Actor)
		}
	}
	want := []string{cairn.EventRunStarted, cairn.EventJobSubmitted, cairn.EventPolicyDecided, cairn.EventPolicyDecided, cairn.EventJobDispatched, cairn.EventJobCompleted, cairn.EventOutputChecked}
	if !equalStrings(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}

	// A replay gets the job and no lease; a job that needs approval or is
	// denied gets none either.
	j, l, err = agent.SubmitAndLeaseFor(ctx, cairn.SubmitRequest{JobID: "sl-1", RunID: "sl-run", Action: "db.read", Executor: "gateway", Input: json.RawMessage(`{"q":1}`)}, e.Keys["gateway"])
	if err != nil || l != nil || j.State != cairn.StateSucceeded {
		t.Fatalf("replay: %v %+v %+v", err, j, l)
	}
	j, l, err = agent.SubmitAndLeaseFor(ctx, cairn.SubmitRequest{JobID: "sl-2", Action: "db.write", Labels: map[string]string{"env": "prod"}, Executor: "gateway"}, e.Keys["gateway"])
	if err != nil || l != nil || j.State != cairn.StatePendingApproval {
		t.Fatalf("approval: %v %+v %+v", err, j, l)
	}
	j, l, err = agent.SubmitAndLeaseFor(ctx, cairn.SubmitRequest{JobID: "sl-3", Action: "rm.rf", Executor: "gateway"}, e.Keys["gateway"])
	if err != nil || l != nil || j.State != cairn.StateDenied {
		t.Fatalf("deny: %v %+v %+v", err, j, l)
	}
	// The submitter itself, with the worker role, leases without the header.
	j, l, err = gw.SubmitAndLease(ctx, cairn.SubmitRequest{JobID: "sl-4", Action: "db.read"})
	if err != nil || l == nil || j.State != cairn.StateRunning {
		t.Fatalf("own lease: %v %+v %+v", err, j, l)
	}

	// Refusals: nothing is written.
	submit := func(as, execKey, body string, status int, code string) {
		t.Helper()
		req, _ := nethttp.NewRequest("POST", e.URL+"/api/v1/jobs", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+e.Keys[as])
		if execKey != "" {
			req.Header.Set(cairn.ExecutorKeyHeader, execKey)
		}
		res, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var eb struct{ Error cairn.Error }
		json.NewDecoder(res.Body).Decode(&eb)
		if res.StatusCode != status || eb.Error.Code != code {
			t.Fatalf("%s: %d %s, want %d %s (%s)", body, res.StatusCode, eb.Error.Code, status, code, eb.Error.Message)
		}
	}
	submit("agent-1", "", `{"job_id":"r-1","action":"db.read","lease":{}}`, 403, cairn.EForbidden)
	submit("agent-1", e.Keys["agent-2"], `{"job_id":"r-2","action":"db.read","lease":{}}`, 403, cairn.EForbidden)
	submit("agent-1", "not-a-key", `{"job_id":"r-3","action":"db.read","lease":{}}`, 401, cairn.EUnauthorized)
	submit("agent-1", e.Keys["gateway"], `{"job_id":"r-4","action":"db.read"}`, 400, cairn.EInvalid)
	submit("agent-1", e.Keys["gateway"], `{"job_id":"r-5","action":"db.read","executor":"someone-else","lease":{}}`, 400, cairn.EInvalid)
	submit("agent-1", e.Keys["gateway"], `{"job_id":"r-6","action":"db.read","lease":{"lease_ms":5}}`, 400, cairn.EInvalid)
	submit("agent-1", e.Keys["gateway"], `{"job_id":"r-7","action":"db.read","lease":{"worker_id":"a b"}}`, 400, cairn.EInvalid)
	var other cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "b-gw", Kind: "service", Roles: []string{"worker"}, Tenant: "tenant-b"}, 201, &other)
	submit("agent-1", other.Key, `{"job_id":"r-8","action":"db.read","lease":{}}`, 403, cairn.EForbidden)
	for _, id := range []string{"r-1", "r-2", "r-3", "r-4", "r-5", "r-6", "r-7", "r-8"} {
		e.ErrCode("admin", "GET", "/api/v1/jobs/"+id, nil, 404, cairn.ENotFound)
	}
	e.verifyLedger()
}

func mustLedgerKey(t *testing.T, c *client.Client) string {
	t.Helper()
	k, err := c.LedgerKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
