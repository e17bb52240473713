package ui_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
)

// TestBrowserPayloadAccessAndErasure: when the tenant lets only auditors
// read payloads, an approver's job and approval pages show the hashes and
// say why the payload is not shown, never its content; an auditor's show
// it; after an erasure, the page says it was erased.
func TestBrowserPayloadAccessAndErasure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish("polly", seedPolicy)
	const secret = "MARKER-7f3a9c-private-note"
	in, _ := json.Marshal(map[string]string{"note": secret})
	j := e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-p", Action: "db.write", Labels: map[string]string{"env": "prod", cairn.DefaultSubjectLabel: "cust-1"}, Input: in})
	e.MustDo("admin", "PUT", "/api/v1/tenant/settings", service.TenantSettingsRequest{PayloadReaders: []string{"auditor"}}, 200, nil)

	b := newTab(t, e.URL)
	b.signIn(e.Keys["manager-2"])
	// The job page shows context_sha256, the approval page the job_hash.
	for page, hash := range map[string]string{"/jobs/job-p": j.ContextSHA256[:16], "/approvals/job-p": j.JobHash} {
		b.visit(page)
		b.wait(`document.getElementById('main').innerText.includes('only some roles read payloads')`, 10*time.Second)
		if text := b.mainText(); strings.Contains(text, secret) || !strings.Contains(text, hash) {
			t.Errorf("%s as an approver without payload access: %q", page, text)
		}
	}
	b.noProblems()

	a := newTab(t, e.URL)
	a.signIn(e.Keys["auditor-1"])
	a.visit("/jobs/job-p")
	a.wait(`document.getElementById('main').innerText.includes('`+secret+`')`, 10*time.Second)

	e.MustDo("agent-1", "POST", "/api/v1/jobs/job-p/cancel", cairn.CancelRequest{Reason: "withdrawn"}, 200, nil)
	e.MustDo("admin", "POST", "/api/v1/erasures", cairn.ErasureRequest{Subject: "cust-1", Reason: "request"}, 201, nil)
	a.visit("/jobs/job-p")
	a.wait(`document.getElementById('main').innerText.includes('was erased')`, 10*time.Second)
	if text := a.mainText(); strings.Contains(text, secret) || !strings.Contains(text, j.ContextSHA256[:16]) {
		t.Errorf("after the erasure: %q", text)
	}
	a.noProblems()
}
