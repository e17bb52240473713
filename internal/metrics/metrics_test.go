package metrics_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	dto "github.com/prometheus/client_model/go"
)

// governed runs jobs through every metric's path: an approval, an allowed
// job whose lease expires once, a denied job, a released and a quarantined
// result.
func governed(t *testing.T) *apitest.Env {
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-0123456789", LedgerKey: true, Metrics: true})
	e.Key("agent-1", "agent", "agent")
	e.Key("approver-1", "human", "approver")
	e.Key("worker-1", "service", "worker")
	e.Key("auditor-1", "human", "auditor")
	e.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: apitest.ApprovalPolicy, Message: "t"}, 201, nil)
	return e
}

// TestGovernanceMetrics checks each governance metric against what the
// API did, scrape by scrape.
func TestGovernanceMetrics(t *testing.T) { flow(t, true) }

// flow runs the jobs of governed and returns a scrape taken while an
// approval was pending and one at the end; check asserts the values.
func flow(t *testing.T, check bool) (mid, end map[string]*dto.MetricFamily) {
	e := governed(t)
	w := e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-write", Action: "db.write", Input: json.RawMessage(`{}`)})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-read", Action: "db.read", Input: json.RawMessage(`{}`)})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-deny", Action: "db.drop", Input: json.RawMessage(`{}`)})

	f := scrape(t, e.URL)
	mid = f
	for _, c := range []struct {
		name   string
		v      float64
		labels []string
	}{
		{"cairn_approvals_pending", 1, nil},
		{"cairn_jobs", 1, []string{"state=PENDING_APPROVAL"}},
		{"cairn_jobs", 1, []string{"state=QUEUED"}},
		{"cairn_jobs", 0, []string{"state=RUNNING"}},
		{"cairn_policy_decisions_total", 1, []string{"decision=REQUIRE_APPROVAL", "rule=writes-need-approval", "phase=submit"}},
		{"cairn_policy_decisions_total", 1, []string{"decision=ALLOW", "rule=reads-are-fine", "phase=submit"}},
		{"cairn_policy_decisions_total", 1, []string{"decision=DENY", "rule=default", "phase=submit"}},
		{"cairn_job_transitions_total", 1, []string{"state=PENDING_APPROVAL"}},
		{"cairn_job_transitions_total", 1, []string{"state=QUEUED"}},
		{"cairn_job_transitions_total", 1, []string{"state=DENIED"}},
		{"cairn_fsync_failures_total", 0, nil},
		{"cairn_metrics_store_errors_total", 0, nil},
	} {
		if got, ok := value(f, c.name, c.labels...); check && (!ok || got != c.v) {
			t.Errorf("after submits: %s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.v)
		}
	}
	if age, ok := value(f, "cairn_approval_oldest_pending_age_seconds"); check && !ok || age < 0 || age > 600 {
		t.Errorf("oldest pending age %v %v", age, ok)
	}
	if left, ok := value(f, "cairn_approval_next_expiry_seconds"); check && !ok || left <= 0 || left > 3600 {
		t.Errorf("next expiry in %v s (present %v), want within the rule's hour", left, ok)
	}
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	if n, _ := value(f, "cairn_ledger_entries"); check && int(n) != len(entries.Items) {
		t.Errorf("cairn_ledger_entries %v, the ledger has %d", n, len(entries.Items))
	}

	e.MustDo("approver-1", "POST", "/api/v1/approvals/j-write/approve", cairn.ResolveRequest{JobHash: w.JobHash, Comment: "ok"}, 200, nil)
	// j-read's first lease runs out; it is leased again and quarantined.
	var lr cairn.LeaseResponse
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w1", JobID: "j-read", Actions: []string{"db.read"}, LeaseMS: 1000}, 200, &lr)
	if len(lr.Jobs) != 1 {
		t.Fatalf("leased %d", len(lr.Jobs))
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var j cairn.Job
		e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-read", nil, 200, &j)
		if j.State == cairn.StateQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not expire: %s", j.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	complete := func(id, result string) {
		var lr cairn.LeaseResponse
		e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w1", JobID: id, Actions: []string{"db.*"}}, 200, &lr)
		if len(lr.Jobs) != 1 {
			t.Fatalf("leased %d of %s", len(lr.Jobs), id)
		}
		e.MustDo("worker-1", "POST", "/api/v1/jobs/"+id+"/complete", cairn.CompleteRequest{LeaseID: lr.Jobs[0].LeaseID, Status: "succeeded", Result: json.RawMessage(result)}, 200, nil)
	}
	complete("j-read", `{"key":"AKIAIOSFODNN7EXAMPLE"}`)
	complete("j-write", `{"rows":1}`)
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, 200, nil)

	// A witness's cosignature of the latest checkpoint, made 30 s ago.
	var cp struct {
		Size uint64 `json:"size"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoint", nil, 200, &cp)
	if err := e.Store.Update(context.Background(), func(tx cairn.Tx) error {
		return tx.InsertCosignature("default", cp.Size, &cairn.Cosignature{Witness: "w.example", Note: "n", CreatedAt: time.Now().Add(-30 * time.Second)})
	}); err != nil {
		t.Fatal(err)
	}
	f = scrape(t, e.URL)
	end = f
	if !check {
		return mid, end
	}
	for _, c := range []struct {
		name   string
		v      float64
		labels []string
	}{
		{"cairn_approvals_pending", 0, nil},
		{"cairn_approval_oldest_pending_age_seconds", 0, nil},
		{"cairn_approval_resolution_seconds", 1, []string{"resolution=approved"}},
		{"cairn_lease_expiries_total", 1, nil},
		{"cairn_output_verdicts_total", 1, []string{"decision=QUARANTINE", "rule=out-secrets"}},
		{"cairn_output_verdicts_total", 1, []string{"decision=ALLOW", "rule=out-secrets"}},
		{"cairn_policy_decisions_total", 2, []string{"decision=ALLOW", "rule=reads-are-fine", "phase=dispatch"}},
		{"cairn_policy_decisions_total", 1, []string{"decision=REQUIRE_APPROVAL", "rule=writes-need-approval", "phase=dispatch"}},
		{"cairn_job_transitions_total", 3, []string{"state=RUNNING"}},
		{"cairn_job_transitions_total", 3, []string{"state=QUEUED"}},
		{"cairn_job_transitions_total", 2, []string{"state=SUCCEEDED"}},
		{"cairn_jobs", 0, []string{"state=QUEUED"}},
		{"cairn_jobs", 0, []string{"state=PENDING_APPROVAL"}},
		{"cairn_ledger_uncheckpointed_entries", 0, nil},
	} {
		if got, ok := value(f, c.name, c.labels...); !ok || got != c.v {
			t.Errorf("after completion: %s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.v)
		}
	}
	if _, ok := value(f, "cairn_approval_next_expiry_seconds"); ok {
		t.Error("next approval expiry reported with no approval pending")
	}
	if age, ok := value(f, "cairn_checkpoint_age_seconds"); !ok || age < 0 || age > 600 {
		t.Errorf("checkpoint age %v (present %v)", age, ok)
	}
	if age, ok := value(f, "cairn_witness_cosignature_age_seconds", "witness=w.example"); !ok || age < 30 || age > 600 {
		t.Errorf("witness cosignature age %v (present %v), want about 30 s", age, ok)
	}
	// No label carries a job id.
	for name, fam := range f {
		if !strings.HasPrefix(name, "cairn_") {
			continue
		}
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if strings.HasPrefix(l.GetValue(), "j-") {
					t.Errorf("%s has label %s=%s, a job id", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	return mid, end
}
