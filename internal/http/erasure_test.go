package http_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// erasureError is an error answer with its ledger index.
type erasureError struct {
	Error struct {
		Code        string  `json:"code"`
		Field       string  `json:"field"`
		Message     string  `json:"message"`
		LedgerIndex *uint64 `json:"ledger_index"`
	} `json:"error"`
}

func (e *env) errorOf(as, method, path string, body any, status int) erasureError {
	e.T.Helper()
	got, raw := e.Do(as, method, path, body)
	if got != status {
		e.T.Fatalf("%s %s: %d %s, want %d", method, path, got, raw, status)
	}
	var out erasureError
	if err := json.Unmarshal(raw, &out); err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

func marker(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "MARKER-" + hex.EncodeToString(b)
}

// storedRaw is a payload as the store holds it (sealed), and its data key's
// wrapped form.
func (e *env) storedRaw(ptr string) (data, wrapped []byte, keyID string) {
	e.T.Helper()
	err := e.Store.View(context.Background(), func(tx cairn.ReadTx) error {
		p, err := tx.GetPayload("default", ptr)
		if err != nil {
			return err
		}
		k, err := tx.PayloadKeyByID("default", p.KeyID)
		if p.KeyID == cairn.TenantDataKey {
			k, err = tx.PayloadKey("default", "")
		}
		if err != nil || k == nil {
			e.T.Fatalf("data key %q: %+v, %v", p.KeyID, k, err)
		}
		data, wrapped, keyID = p.Data, k.Wrapped, p.KeyID
		return nil
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return data, wrapped, keyID
}

// filesContaining names the files under dir whose raw bytes contain any
// of needles (each needle's name).
func filesContaining(t *testing.T, dir string, needles map[string][]byte) []string {
	t.Helper()
	var hits []string
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for name, needle := range needles {
			if bytes.Contains(b, needle) {
				hits = append(hits, filepath.Base(path)+": "+name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no files in %s", dir)
	}
	slices.Sort(hits)
	return hits
}

// TestErasureLeavesNoTraceAndLedgerVerifies is issue 14 §3's test: a job
// whose input holds a unique marker is erased; with the server stopped, no
// file of the data directory holds the marker, the result's marker, the
// payloads' ciphertexts or the destroyed data key; the ledger verifies
// online and offline, the erased payloads listed as erased.
func TestErasureLeavesNoTraceAndLedgerVerifies(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	in, out := marker(t), marker(t)
	subject := map[string]string{cairn.DefaultSubjectLabel: "customer-4711"}
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-1", Action: "db.read", Labels: subject, Input: json.RawMessage(`{"note":"` + in + `"}`)})
	e.work(succeed(map[string]string{"answer": out}), "db.read")
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-2", Action: "db.read", Labels: subject, Input: json.RawMessage(`{"n":2}`)})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-other", Action: "db.read", Labels: map[string]string{"env": "dev"}, Input: json.RawMessage(`{"keep":true}`)})

	// Sealed at rest: the stored bytes are not the plaintext.
	sealed, wrapped, keyID := e.storedRaw("ctx:j-1")
	if bytes.Contains(sealed, []byte(in)) {
		t.Fatal("the stored context holds the plaintext")
	}
	if _, _, otherKey := e.storedRaw("ctx:j-other"); otherKey == keyID {
		t.Fatal("a job without a subject is sealed under the subject's key")
	}
	resSealed, _, resKey := e.storedRaw("res:j-1")
	if resKey != keyID {
		t.Fatalf("the result is sealed under %s, the context under %s", resKey, keyID)
	}
	needles := map[string][]byte{"input marker": []byte(in), "result marker": []byte(out),
		"context ciphertext": sealed[13:45], "result ciphertext": resSealed[13:45], "wrapped data key": wrapped[13:]}
	// The scan can fail: before the erasure, the ciphertexts are in the files.
	e.Store.CompactErased(context.Background())
	if hits := filesContaining(t, e.Dir, needles); !slices.Contains(hits, "cairn.db: context ciphertext") {
		t.Fatalf("before the erasure the scan finds %q; it cannot see the ciphertext", hits)
	}
	var got map[string]string
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-1/context", nil, 200, &got)
	if got["note"] != in {
		t.Fatalf("context %v", got)
	}

	req := cairn.ErasureRequest{Subject: "customer-4711", Reason: "GDPR Art. 17 request 1234"}
	e.ErrCode("auditor-1", "POST", "/api/v1/erasures", req, 403, cairn.EForbidden)
	// j-2 may still run: its worker needs its input.
	e.ErrCode("admin", "POST", "/api/v1/erasures", req, 409, cairn.EConflict)
	e.MustDo("agent-1", "POST", "/api/v1/jobs/j-2/cancel", cairn.CancelRequest{Reason: "erasure"}, 200, nil)
	var er cairn.Erasure
	e.MustDo("admin", "POST", "/api/v1/erasures", req, 201, &er)
	var ptrs []string
	for _, p := range er.Payloads {
		ptrs = append(ptrs, p.Ptr)
	}
	if !er.KeyDestroyed || !slices.Equal(er.JobIDs, []string{"j-1", "j-2"}) || !slices.Equal(ptrs, []string{"ctx:j-1", "ctx:j-2", "res:j-1"}) {
		t.Fatalf("erasure %+v", er)
	}
	// Twice: the subject has nothing left.
	e.ErrCode("admin", "POST", "/api/v1/erasures", req, 404, cairn.ENotFound)
	// Reads answer 410 erased with the erasure event's index.
	for _, path := range []string{"/api/v1/jobs/j-1/context", "/api/v1/jobs/j-1/result", "/api/v1/jobs/j-2/context"} {
		r := e.errorOf("auditor-1", "GET", path, nil, 410)
		if r.Error.Code != cairn.CodeErased || r.Error.LedgerIndex == nil || *r.Error.LedgerIndex != er.Entry {
			t.Fatalf("%s: %+v, want erased at %d", path, r.Error, er.Entry)
		}
	}
	r := e.errorOf("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{JobIDs: []string{"j-1"}, Reason: "again"}, 410)
	if r.Error.Code != cairn.CodeErased || r.Error.LedgerIndex == nil || *r.Error.LedgerIndex != er.Entry {
		t.Fatalf("erasing j-1 again: %+v", r.Error)
	}
	// What is not erased stays: the job, its hashes, other jobs' payloads.
	if j := e.job("j-1"); j.ContextSHA256 == "" || j.ResultSHA256 == "" {
		t.Fatalf("job after erasure %+v", j)
	}
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-other/context", nil, 200, nil)

	// The ledger names the jobs and hashes, never the data.
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	var body string
	for _, le := range entries.Items {
		if le.Index == er.Entry {
			raw, _ := json.Marshal(le)
			body = string(raw)
		}
	}
	if !strings.Contains(body, `erasure`) || !strings.Contains(body, er.Payloads[0].SHA256) || strings.Contains(body, in) || strings.Contains(body, "customer-4711") {
		t.Fatalf("erasure entry %s", body)
	}

	e.verifyLedger() // online
	b := e.export("")
	rep, err := verify.Bundle(b, verify.Options{TrustedKey: e.logKey()})
	if err != nil {
		t.Fatalf("offline verification: %v %v", err, rep.Problems)
	}
	if rep.PayloadsErased != 3 || rep.JobHashesErased != 2 || rep.JobHashesVerified != 1 {
		t.Fatalf("report: %d erased payloads, %d job_hashes erased, %d verified; notes %q", rep.PayloadsErased, rep.JobHashesErased, rep.JobHashesVerified, rep.Notes)
	}
	// A bundle whose erased payload claims another hash fails.
	for i := range b.Payloads {
		if b.Payloads[i].Ptr == "res:j-1" {
			b.Payloads[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	if _, err := verify.Bundle(b, verify.Options{TrustedKey: e.logKey()}); err == nil {
		t.Fatal("a changed hash of an erased payload verifies")
	}
	// … so does one whose erased_by names another entry, or that is not
	// withheld.
	for name, edit := range map[string]func(p *bundle.Payload){
		"erased_by another entry": func(p *bundle.Payload) { other := *p.ErasedBy - 1; p.ErasedBy = &other },
		"not withheld":            func(p *bundle.Payload) { p.Withheld = false },
	} {
		b := e.export("")
		for i := range b.Payloads {
			if b.Payloads[i].Ptr == "ctx:j-1" {
				edit(&b.Payloads[i])
			}
		}
		if _, err := verify.Bundle(b, verify.Options{TrustedKey: e.logKey()}); err == nil {
			t.Fatalf("%s: verifies", name)
		}
	}

	// While the server runs (database, WAL, shared memory) …
	if hits := filesContaining(t, e.Dir, needles); len(hits) > 0 {
		t.Fatalf("after the erasure: %q", hits)
	}
	// … and once it has stopped.
	e.Stop()
	if hits := filesContaining(t, e.Dir, needles); len(hits) > 0 {
		t.Fatalf("after the erasure, with the server stopped: %q", hits)
	}
}

// TestErasureHostile: a non-admin, no reason, hostile strings, both or
// neither of subject and job_ids, unknown jobs and jobs of another tenant.
func TestErasureHostile(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-1", Action: "db.read"})
	var k cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "acme-admin", Kind: "human", Roles: []string{"admin", "agent"}, Tenant: "acme"}, 201, &k)
	e.Keys["acme-admin"] = k.Key
	e.MustDo("acme-admin", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-acme", Action: "db.read"}, 201, nil)

	for as, roles := range map[string]string{"agent-1": "agent", "auditor-1": "auditor", "polly": "policy_admin", "worker-1": "worker"} {
		e.ErrCode(as, "POST", "/api/v1/erasures", cairn.ErasureRequest{JobIDs: []string{"j-1"}, Reason: "r"}, 403, cairn.EForbidden)
		_ = roles
	}
	cases := []struct {
		req   any
		field string
	}{
		{cairn.ErasureRequest{JobIDs: []string{"j-1"}}, "reason"},
		{cairn.ErasureRequest{JobIDs: []string{"j-1"}, Reason: "   "}, "reason"},
		{cairn.ErasureRequest{JobIDs: []string{"j-1"}, Reason: "a\x00b"}, "reason"},
		{cairn.ErasureRequest{JobIDs: []string{"j-1"}, Reason: strings.Repeat("x", 1025)}, "reason"},
		{cairn.ErasureRequest{Reason: "r"}, "subject"},
		{cairn.ErasureRequest{Subject: "s", JobIDs: []string{"j-1"}, Reason: "r"}, "job_ids"},
		{cairn.ErasureRequest{JobIDs: []string{"../etc/passwd"}, Reason: "r"}, "job_ids"},
		{cairn.ErasureRequest{JobIDs: []string{"j-1'; DROP TABLE payloads;--"}, Reason: "r"}, "job_ids"},
		{cairn.ErasureRequest{Subject: strings.Repeat("s", 1025), Reason: "r"}, "subject"},
		{map[string]any{"subject": 7, "reason": "r"}, "subject"},
		{map[string]any{"job_ids": []string{"j-1"}, "reason": "r", "extra": 1}, "extra"},
	}
	for _, tc := range cases {
		r := e.errorOf("admin", "POST", "/api/v1/erasures", tc.req, 400)
		if r.Error.Code != cairn.EInvalid || tc.field != "" && r.Error.Field != tc.field {
			t.Errorf("%+v: %+v, want invalid_input on %q", tc.req, r.Error, tc.field)
		}
	}
	// Another tenant's job is not found (and not erased); so is an unknown one.
	e.ErrCode("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{JobIDs: []string{"j-acme"}, Reason: "r"}, 404, cairn.ENotFound)
	e.ErrCode("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{JobIDs: []string{"j-1", "nope"}, Reason: "r"}, 404, cairn.ENotFound)
	for _, subject := range []string{"nobody", "bad\u202etext", "x' OR '1'='1", "%"} {
		e.ErrCode("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{Subject: subject, Reason: "r"}, 404, cairn.ENotFound)
	}
	e.MustDo("acme-admin", "GET", "/api/v1/jobs/j-acme/context", nil, 200, nil)
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-1/context", nil, 200, nil)
	// Nothing above wrote to the ledger but the setup.
	e.verifyLedger()
}

type fakeHolds struct{ jobs []string }

func (f *fakeHolds) HoldFor(_ context.Context, tenant string, jobIDs []string, subject string) (string, bool, error) {
	for _, id := range jobIDs {
		if slices.Contains(f.jobs, id) {
			return "hold-litigation-7", true, nil
		}
	}
	return "", false, nil
}

// TestErasureRespectsLegalHold: a hold on any job the erasure would touch
// refuses it with 409 legal_hold naming the hold, and nothing is erased.
func TestErasureRespectsLegalHold(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	subject := map[string]string{cairn.DefaultSubjectLabel: "s-1"}
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-held", Action: "db.read", Labels: subject})
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-free", Action: "db.read"})
	for _, id := range []string{"j-held", "j-free"} {
		e.MustDo("agent-1", "POST", "/api/v1/jobs/"+id+"/cancel", cairn.CancelRequest{Reason: "done"}, 200, nil)
	}
	e.Svc.SetHoldChecker(&fakeHolds{jobs: []string{"j-held"}})
	for _, req := range []cairn.ErasureRequest{{Subject: "s-1", Reason: "r"}, {JobIDs: []string{"j-free", "j-held"}, Reason: "r"}} {
		r := e.errorOf("admin", "POST", "/api/v1/erasures", req, 409)
		if r.Error.Code != cairn.CodeLegalHold || !strings.Contains(r.Error.Message, "hold-litigation-7") {
			t.Fatalf("%+v: %+v", req, r.Error)
		}
	}
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-held/context", nil, 200, nil)
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-free/context", nil, 200, nil)
	var er cairn.Erasure
	e.MustDo("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{JobIDs: []string{"j-free"}, Reason: "r"}, 201, &er)
	if er.KeyDestroyed || len(er.Payloads) != 1 {
		t.Fatalf("erasure by job ids %+v", er)
	}
	e.ErrCode("auditor-1", "GET", "/api/v1/jobs/j-free/context", nil, 410, cairn.CodeErased)

	// The store's own legal holds (POST /api/v1/holds) refuse it too.
	e.Svc.SetHoldChecker(nil)
	var h cairn.Hold
	e.MustDo("auditor-1", "POST", "/api/v1/holds", cairn.PlaceHoldRequest{Scope: "subject", ID: "s-1", Reason: "litigation"}, 201, &h)
	r := e.errorOf("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{Subject: "s-1", Reason: "r"}, 409)
	if r.Error.Code != cairn.CodeLegalHold || !strings.Contains(r.Error.Message, h.HoldID) {
		t.Fatalf("a placed hold: %+v", r.Error)
	}
	e.MustDo("admin", "POST", "/api/v1/holds/"+h.HoldID+"/release", cairn.ReleaseHoldRequest{Reason: "settled"}, 200, nil)
	e.MustDo("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{Subject: "s-1", Reason: "r"}, 201, nil)
	e.verifyLedger()
}

// TestPayloadReaderRoles: a tenant names the roles that may read payloads;
// everyone else gets the hashes and 403 payload_access_denied. The subject
// label is the tenant's to choose.
func TestPayloadReaderRoles(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	var st cairn.TenantSettings
	e.MustDo("auditor-1", "GET", "/api/v1/tenant/settings", nil, 200, &st)
	if st.SubjectLabel != cairn.DefaultSubjectLabel || len(st.PayloadReaders) != 0 {
		t.Fatalf("defaults %+v", st)
	}
	e.ErrCode("agent-1", "GET", "/api/v1/tenant/settings", nil, 403, cairn.EForbidden)
	e.ErrCode("auditor-1", "PUT", "/api/v1/tenant/settings", service.TenantSettingsRequest{PayloadReaders: []string{"auditor"}}, 403, cairn.EForbidden)
	for _, bad := range []service.TenantSettingsRequest{{PayloadReaders: []string{"root"}}, {SubjectLabel: "has space"}, {SubjectLabel: strings.Repeat("l", 64)}} {
		e.ErrCode("admin", "PUT", "/api/v1/tenant/settings", bad, 400, cairn.EInvalid)
	}
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-1", Action: "db.read", Labels: map[string]string{"customer": "c-9"}})
	e.MustDo("admin", "PUT", "/api/v1/tenant/settings", service.TenantSettingsRequest{SubjectLabel: "customer", PayloadReaders: []string{"auditor", "auditor"}}, 200, &st)
	if st.SubjectLabel != "customer" || !slices.Equal(st.PayloadReaders, []string{"auditor"}) || st.UpdatedBy != "admin" {
		t.Fatalf("settings %+v", st)
	}
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-2", Action: "db.read", Labels: map[string]string{"customer": "c-9"}})

	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-1/context", nil, 200, nil)
	e.MustDo("admin", "GET", "/api/v1/jobs/j-1/context", nil, 200, nil)
	for _, as := range []string{"manager-2", "agent-1"} {
		e.ErrCode(as, "GET", "/api/v1/jobs/j-2/context", nil, 403, cairn.CodePayloadAccessDenied)
		var j cairn.Job // the hashes stay readable
		e.MustDo(as, "GET", "/api/v1/jobs/j-2", nil, 200, &j)
		if j.ContextSHA256 == "" {
			t.Fatalf("%s: job without its hash", as)
		}
	}
	// The label chosen: j-2 (sealed after the change) belongs to c-9; j-1
	// was sealed under the tenant's key before it.
	var er cairn.Erasure
	e.MustDo("agent-1", "POST", "/api/v1/jobs/j-2/cancel", cairn.CancelRequest{Reason: "done"}, 200, nil)
	e.MustDo("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{Subject: "c-9", Reason: "request"}, 201, &er)
	if !slices.Equal(er.JobIDs, []string{"j-2"}) {
		t.Fatalf("erased %+v", er)
	}
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-1/context", nil, 200, nil)
	e.verifyLedger()

	// An auditor the tenant no longer lets read payloads exports them by
	// their hashes; the bundle still verifies.
	e.MustDo("admin", "PUT", "/api/v1/tenant/settings", service.TenantSettingsRequest{PayloadReaders: []string{"approver"}}, 200, nil)
	e.ErrCode("auditor-1", "GET", "/api/v1/jobs/j-1/context", nil, 403, cairn.CodePayloadAccessDenied)
	b := e.export("")
	for _, p := range b.Payloads {
		if len(p.Data) > 0 || !p.Withheld || p.SHA256 == "" || (p.Reason != service.WithheldAccess && p.Reason != service.WithheldErased) {
			t.Fatalf("payload in an export without payload access: %+v", p)
		}
	}
	if rep, err := verify.Bundle(b, verify.Options{TrustedKey: e.logKey()}); err != nil || rep.JobHashesVerified != 0 {
		t.Fatalf("hashes-only bundle: %v %+v", err, rep)
	}
}

// TestGateInputSealedHiddenAndErased: a workflow gate's rendered input is
// a payload: not in the stored run record, sealed under the gate job's
// subject's key, shown to approvers, hidden from roles the tenant does not
// let read payloads, and gone with the subject's erasure.
func TestGateInputSealedHiddenAndErased(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register(`name: gated-subject
steps:
  - id: plan
    action: tool.plan
  - id: apply
    action: tool.apply
    depends_on: [plan]
    labels: {data_subject: cust-7}
    gate: {approver_roles: [approver], expires_in: 1h}
    input: {plan: "${{ steps.plan.result }}"}
`)
	m := marker(t)
	e.startRun("agent-1", "run-g", w.WorkflowID, nil)
	e.work(succeed(m), "tool.plan")
	gateInput := func(as string) string {
		var r cairn.Run
		e.MustDo(as, "GET", "/api/v1/workflow-runs/run-g", nil, 200, &r)
		st := r.Step("apply")
		if st == nil || st.Gate == nil {
			t.Fatalf("no gate: %+v", r.Steps)
		}
		return string(st.Gate.Input)
	}
	if in := gateInput("manager-2"); !strings.Contains(in, m) {
		t.Fatalf("the approver sees gate input %q", in)
	}
	var jobID string
	e.Store.View(context.Background(), func(tx cairn.ReadTx) error {
		r, err := tx.GetRun("default", "run-g")
		if err != nil {
			t.Fatal(err)
		}
		g := r.Step("apply").Gate
		raw, _ := json.Marshal(r)
		if (g.Input != nil && string(g.Input) != "null") || bytes.Contains(raw, []byte(m)) {
			t.Fatalf("the stored run holds the gate input: %s", raw)
		}
		jobID = g.JobID
		return nil
	})
	sealed, _, keyID := e.storedRaw("gate:" + jobID)
	if bytes.Contains(sealed, []byte(m)) {
		t.Fatal("the gate input is stored in plaintext")
	}
	e.MustDo("admin", "PUT", "/api/v1/tenant/settings", service.TenantSettingsRequest{PayloadReaders: []string{"auditor"}}, 200, nil)
	if in := gateInput("manager-2"); in != "" && in != "null" {
		t.Fatalf("an approver without payload access sees %q", in)
	}
	if in := gateInput("auditor-1"); !strings.Contains(in, m) {
		t.Fatalf("the auditor sees %q", in)
	}
	var er cairn.Erasure
	e.MustDo("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{Subject: "cust-7", Reason: "request"}, 201, &er)
	if len(er.Payloads) != 1 || er.Payloads[0].Ptr != "gate:"+jobID || !er.KeyDestroyed {
		t.Fatalf("erasure %+v (key %s)", er, keyID)
	}
	if in := gateInput("auditor-1"); in != "" && in != "null" {
		t.Fatalf("after the erasure the auditor sees %q", in)
	}
	e.verifyLedger()
}
