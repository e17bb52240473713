package storetest

import (
	"context"
	"testing"

	"github.com/cairnhq/cairn"
)

// OldRunsWorkflow is the workflow of the runs OldRuns returns.
const OldRunsWorkflow = "wf:default:a#sha256:1"

// OldRun is a run as the migrations before started_by stored it.
type OldRun struct {
	Tenant, ID, Workflow, Status, Body string
}

// OldRuns returns the runs the started_by migration tests store before
// migrating, oldest first: r0…r9 in default, started by agent-1 (even)
// and agent-2 (odd) except r9, whose body lacks the field; r1, r4 and r7
// run OldRunsWorkflow, r3 waits for approval, r5's body holds NUL escapes
// (and an escaped backslash before "u0000"). And one run of agent-1 in
// acme.
func OldRuns() []OldRun {
	type oldRun struct{ tenant, id, wf, status, by string }
	var old []oldRun
	for i := 0; i < 10; i++ {
		r := oldRun{"default", "r" + string(rune('0'+i)), "", cairn.RunCompleted, []string{"agent-1", "agent-2"}[i%2]}
		if i%3 == 1 {
			r.wf, r.status = OldRunsWorkflow, cairn.RunSucceeded
		}
		if i == 3 {
			r.status = cairn.RunWaitingApproval
		}
		if i == 9 {
			r.by = ""
		}
		old = append(old, r)
	}
	old = append(old, oldRun{"acme", "a0", "", cairn.RunRunning, "agent-1"})
	out := make([]OldRun, len(old))
	for i, r := range old {
		body := `{"run_id":"` + r.id + `","tenant":"` + r.tenant + `","status":"` + r.status + `",`
		if r.by != "" {
			body += `"started_by":"` + r.by + `",`
		}
		if r.wf != "" {
			body += `"workflow_id":"` + r.wf + `",`
		}
		body += `"created_at":"2026-03-01T12:00:0` + string(rune('0'+i%10)) + `Z","updated_at":"2026-03-01T12:00:00Z","completed_at":null`
		if r.id == "r5" {
			body += `,"status_reason":"C:\\u0000\\\u0000","steps":[{"step_id":"plan","status":"failed","error":"bad \u0000\u0000 byte"}]`
		}
		body += `}`
		out[i] = OldRun{Tenant: r.tenant, ID: r.id, Workflow: r.wf, Status: r.status, Body: body}
	}
	return out
}

// CheckOldRuns checks how a store lists the migrated OldRuns by starter,
// page by page (3 runs a page), and that r5 kept its NUL characters.
func CheckOldRuns(t *testing.T, s cairn.Store, what string) {
	t.Helper()
	err := s.View(context.Background(), func(tx cairn.ReadTx) error {
		for _, c := range []struct {
			tenant string
			f      cairn.RunFilter
			want   string
		}{
			{"default", cairn.RunFilter{StartedBy: "agent-1"}, "r8,r6,r4,r2,r0"},
			{"default", cairn.RunFilter{StartedBy: "agent-2"}, "r7,r5,r3,r1"},
			{"default", cairn.RunFilter{StartedBy: "agent-2", Status: cairn.RunSucceeded}, "r7,r1"},
			{"default", cairn.RunFilter{StartedBy: "agent-2", Status: cairn.RunWaitingApproval}, "r3"},
			{"default", cairn.RunFilter{StartedBy: "agent-1", WorkflowID: OldRunsWorkflow}, "r4"},
			{"default", cairn.RunFilter{StartedBy: "agent-3"}, ""},
			{"acme", cairn.RunFilter{StartedBy: "agent-1"}, "a0"},
		} {
			if got := RunPages(t, tx, c.tenant, c.f, 3); got != c.want {
				t.Errorf("%s: ListRuns(%s, %+v) = %s, want %s", what, c.tenant, c.f, got, c.want)
			}
		}
		r, err := tx.GetRun("default", "r5")
		if err != nil || r.Reason != `C:\u0000\`+"\x00" || r.Steps[0].Error != "bad \x00\x00 byte" {
			t.Fatalf("%s: GetRun(r5) = %+v, %v", what, r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
