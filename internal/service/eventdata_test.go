package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// The typed event data (cairn.SubmittedData, DecidedData,
// ApprovalRequestedData, PolicyChangeData) canonicalise to exactly the
// bytes of the maps they replaced, for jobs with and without the optional
// members (null identifiers, nil and empty labels and risk tags, an
// executor or none, constraints, approval specs, expiry).
func TestTypedEventDataCanonicalAsMaps(t *testing.T) {
	now := time.Date(2026, 4, 1, 14, 0, 3, 123456789, time.UTC)
	for i, j := range eventDataJobs(now) {
		for k, ev := range eventDataEvaluations() {
			name := fmt.Sprintf("job%d/eval%d", i, k)
			j := *j
			applyDecision(&j, ev)
			submitted := jobEvent(&j, cairn.EventJobSubmitted, "agent", now)
			submitted.Data = submittedData(&j)
			sameCanonical(t, name+"/job_submitted", submitted, oldSubmittedData(&j))

			d, decided := decisionEvent(&j, ev, cairn.PhaseSubmit, "agent", now)
			sameCanonical(t, name+"/policy_decided", decided, map[string]any{"decision": d, "phase": cairn.PhaseSubmit})

			a, requested := approvalEvent(&j, d, ev, "agent", now)
			sameCanonical(t, name+"/approval_requested", requested, map[string]any{"approval": a})
		}
	}
	for i, j := range eventDataJobs(now) {
		jobLifecycleData(t, fmt.Sprintf("job%d", i), j, now)
	}
	for i, roles := range [][]string{nil, {}, {"agent", "worker"}} {
		k := &cairn.Key{KeyID: "key_1", Principal: "p \u00e9", Kind: "agent", Roles: roles}
		for _, tenant := range []string{"", "other"} {
			e := &cairn.Event{Tenant: "default", Type: cairn.EventKeyCreated, Timestamp: now, Actor: "admin", Data: keyCreatedData(k)}
			old := map[string]any{"key_id": k.KeyID, "principal": k.Principal, "kind": k.Kind, "roles": k.Roles}
			if tenant != "" {
				e.Data.(*cairn.KeyCreatedData).Tenant = tenant
				old["tenant"] = tenant
			}
			sameCanonical(t, fmt.Sprintf("key_created/%d/%q", i, tenant), e, old)
		}
	}
	e := &cairn.Event{Tenant: "default", Type: cairn.EventKeyRevoked, Timestamp: now, Actor: "admin", Data: &cairn.KeyRevokedData{KeyID: "key_1"}}
	sameCanonical(t, "key_revoked", e, map[string]any{"key_id": "key_1"})
	for i, before := range []cairn.Opt{"", cairn.Opt("cfg:system:policy#sha256:" + ledger.SHA256Hex([]byte("before")))} {
		a := &cairn.PolicyAudit{AuditID: "pa_1", Action: "publish", SnapshotBefore: before, SnapshotAfter: "cfg:x", Actor: "admin",
			Tenant: "default", Message: "m\u00e9\u2028<&>", Timestamp: now}
		e := &cairn.Event{Tenant: "default", Type: cairn.EventPolicyPublished, Timestamp: now, Actor: "admin", PolicySnapshot: "cfg:x",
			Data: &cairn.PolicyChangeData{Audit: a, PolicySHA256: "abc"}}
		sameCanonical(t, fmt.Sprintf("policy_published/%d", i), e, map[string]any{"audit": a, "policy_sha256": "abc"})
	}
}

// sameCanonical fails unless ev canonicalises to the same bytes with its
// data replaced by old, and its data reads back as old does.
func sameCanonical(t *testing.T, name string, ev *cairn.Event, old map[string]any) {
	t.Helper()
	got, err := ledger.Canonical(ev)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	was := *ev
	was.Data = old
	want, err := ledger.Canonical(&was)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: typed data canonicalises to\n%s\nthe map to\n%s", name, got, want)
	}
	if !bytes.Contains(got, []byte(`"data":{`)) {
		t.Errorf("%s: no data member in %s", name, got)
	}
	if _, err := ledger.ParseEntry(mustBody(t, got)); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func mustBody(t *testing.T, canonEvent []byte) []byte {
	t.Helper()
	b, err := ledger.EnvelopeBody("default", 1, "", 0, canonEvent)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oldSubmittedData is the job_submitted data as service wrote it as a map.
func oldSubmittedData(j *cairn.Job) map[string]any {
	data := map[string]any{"job": map[string]any{
		"tenant": j.Tenant, "job_id": j.JobID, "run_id": j.RunID, "workflow_step_id": j.WorkflowStepID,
		"action": j.Action, "resource": j.Resource, "labels": j.Labels, "risk_tags": j.RiskTags,
		"submitted_by": j.SubmittedBy, "trace_id": j.TraceID, "context_ptr": j.ContextPtr, "context_sha256": j.ContextSHA256,
	}}
	if j.Executor != "" {
		data["executor"] = j.Executor
	}
	return data
}

func eventDataJobs(now time.Time) []*cairn.Job {
	full := &cairn.Job{JobID: "job-1", RunID: "run-1", WorkflowStepID: "step-1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Tenant: "acme", Action: "db.write", Resource: "db://orders/1", Labels: map[string]string{"env": "prod", "\u00e9": "\u2028", "a<b": "&"},
		RiskTags: []string{"write", "pii"}, SubmittedBy: "agent-7", Executor: "gateway", JobHash: ledger.SHA256Hex([]byte("h")),
		ContextPtr: cairn.ContextPtr("job-1"), ContextSHA256: ledger.SHA256Hex([]byte("null")), CreatedAt: now}
	bare := &cairn.Job{JobID: "job-2", Tenant: "default", Action: "x", SubmittedBy: "a", JobHash: "h",
		ContextPtr: cairn.ContextPtr("job-2"), ContextSHA256: "s"}
	empty := *bare
	empty.Labels, empty.RiskTags = map[string]string{}, []string{}
	return []*cairn.Job{full, bare, &empty}
}

func eventDataEvaluations() []cairn.Evaluation {
	return []cairn.Evaluation{
		{Decision: cairn.Allow, Snapshot: "cfg:system:policy#sha256:" + ledger.SHA256Hex([]byte("p")), DefaultRule: true},
		{Decision: cairn.RequireApproval, RuleID: "r1", Reason: "needs a human", Snapshot: "cfg:s",
			Constraints: json.RawMessage(`{"max_rows":100,"f":1.5e3}`), Approval: &cairn.ApprovalSpec{ApproverRoles: []string{"lead", "approver"}},
			ExpiresIn: time.Hour, Explanation: "because", Trace: []cairn.RuleTrace{{}}},
		{Decision: cairn.Deny, RuleID: "r2", Trace: []cairn.RuleTrace{}},
	}
}

// jobLifecycleData compares the dispatch, completion, output check and
// approval resolution data of j (as it is and with every optional member
// set) with the maps they replaced.
func jobLifecycleData(t *testing.T, name string, j *cairn.Job, now time.Time) {
	p := cairn.Principal{Tenant: j.Tenant, ID: "worker-key", KeyID: "key_1", Kind: "worker"}
	exp := now.Add(time.Minute)
	for k, variant := range []func(*cairn.Job){
		func(*cairn.Job) {},
		func(j *cairn.Job) {
			j.LeaseID, j.LeaseOwner, j.Attempts = "lease_1", "w-1", 2
			j.ResultPtr, j.ResultSHA256, j.Error = cairn.Opt(cairn.ResultPtr(j.JobID)), "abc", "boom \u2028"
			j.ErrorSafety = &cairn.OutputSafety{Decision: cairn.OutputAllow, Findings: []cairn.Finding{}}
		},
	} {
		j := *j
		variant(&j)
		n := fmt.Sprintf("%s/variant%d", name, k)
		e := jobEvent(&j, cairn.EventJobDispatched, "worker:w-1", now)
		e.Data = dispatchedData(&j, "w-1", p, exp, "dec_1")
		sameCanonical(t, n+"/job_dispatched", e, map[string]any{"lease_id": j.LeaseID, "worker_id": "w-1", "principal": p.ID, "key_id": p.KeyID,
			"lease_expires_at": exp, "decision_id": "dec_1", "attempts": j.Attempts})
		for _, blinding := range []string{"", "c2FsdA"} {
			req := cairn.CompleteRequest{LeaseID: string(j.LeaseID), Status: "succeeded"}
			e := jobEvent(&j, cairn.EventJobCompleted, "worker:w-1", now)
			e.Data = completedData(&j, req, p, blinding)
			old := map[string]any{"status": req.Status, "result_ptr": j.ResultPtr, "result_sha256": j.ResultSHA256, "lease_id": req.LeaseID, "error": j.Error,
				"worker_id": string(j.LeaseOwner), "principal": p.ID, "key_id": p.KeyID}
			if j.ErrorSafety != nil {
				old["error_safety"] = j.ErrorSafety
			}
			if blinding != "" {
				old[BlindingMember] = blinding
			}
			sameCanonical(t, n+"/job_completed", e, old)
			e = jobEvent(&j, cairn.EventOutputChecked, "cairn", now)
			e.Data = outputCheckedData(&j, blinding)
			old = map[string]any{"result_ptr": j.ResultPtr, "result_sha256": j.ResultSHA256}
			if blinding != "" {
				old[BlindingMember] = blinding
			}
			sameCanonical(t, n+"/output_checked", e, old)
		}
		e = jobEvent(&j, cairn.EventLeaseExpired, "cairn", now)
		e.Data = &cairn.LeaseExpiredData{LeaseID: j.LeaseID, Attempts: j.Attempts}
		sameCanonical(t, n+"/lease_expired", e, map[string]any{"lease_id": j.LeaseID, "attempts": j.Attempts})
		e = jobEvent(&j, cairn.EventJobStateChanged, "cairn", now)
		e.Data = &cairn.JobStateChangedData{Reason: "cancelled", LeaseID: string(j.LeaseID)}
		old := map[string]any{"reason": "cancelled"}
		if j.LeaseID != "" {
			old["lease_id"] = string(j.LeaseID)
		}
		sameCanonical(t, n+"/job_state_changed/lease", e, old)
		e.Data = &cairn.JobStateChangedData{Reason: "denied at dispatch", DecisionID: "dec_2"}
		sameCanonical(t, n+"/job_state_changed/decision", e, map[string]any{"reason": "denied at dispatch", "decision_id": "dec_2"})
		e.Data = &cairn.JobStateChangedData{Reason: ""}
		sameCanonical(t, n+"/job_state_changed/reason", e, map[string]any{"reason": ""})
		for _, roles := range [][]string{nil, {}, {"approver", "lead"}} {
			a := &cairn.Approval{ApprovalID: "apr_1", ResolverRoles: roles}
			e := jobEvent(&j, cairn.EventApprovalResolved, "human", now)
			e.Data = resolvedData(a, "ok \u00e9")
			old := map[string]any{"approval_id": a.ApprovalID, "comment": "ok \u00e9"}
			if len(a.ResolverRoles) > 0 {
				old["resolver_roles"] = a.ResolverRoles
			}
			sameCanonical(t, n+"/approval_resolved", e, old)
		}
	}
}

// Results hidden from a caller read the same from typed data as from the
// maps: result_sha256 null, no blinding.
func TestHideResultHashTyped(t *testing.T) {
	j := &cairn.Job{JobID: "j", ResultPtr: "res:j", ResultSHA256: "abc"}
	for _, e := range []*cairn.Event{
		{Type: cairn.EventJobCompleted, JobID: "j", Data: completedData(j, cairn.CompleteRequest{}, cairn.Principal{}, "salt")},
		{Type: cairn.EventOutputChecked, JobID: "j", Data: outputCheckedData(j, "salt")},
	} {
		if !hasResultHash(e) {
			t.Fatalf("%s: no result hash", e.Type)
		}
		old := map[string]any{}
		b, _ := json.Marshal(e.Data)
		if err := json.Unmarshal(b, &old); err != nil {
			t.Fatal(err)
		}
		hideResultHash(e)
		was := &cairn.Event{Data: old}
		hideResultHash(was)
		got, _ := ledger.Canonical(e.Data)
		want, _ := ledger.Canonical(was.Data)
		if !bytes.Equal(got, want) || bytes.Contains(got, []byte("salt")) || !bytes.Contains(got, []byte(`"result_sha256":null`)) {
			t.Errorf("%s: hidden typed data %s, map %s", e.Type, got, want)
		}
	}
}
