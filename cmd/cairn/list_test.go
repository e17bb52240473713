package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// The paged list commands (jobs list, approvals list, policy audit) send
// their filter, --since/--until and a page size for --limit, follow
// next_cursor, stop at --limit, and print a JSON array with --json; a bad
// --since is refused before any request.
func TestPagedListCommands(t *testing.T) {
	next := "c2"
	srv, reqs := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/jobs": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("cursor") == "c2" {
				json.NewEncoder(w).Encode(cairn.List[*cairn.Job]{Items: []*cairn.Job{{JobID: "j3"}, {JobID: "j4"}}})
				return
			}
			json.NewEncoder(w).Encode(cairn.List[*cairn.Job]{Items: []*cairn.Job{{JobID: "j1"}, {JobID: "j2"}}, NextCursor: &next})
		},
		"GET /api/v1/approvals":    answer(200, cairn.List[*cairn.Approval]{Items: []*cairn.Approval{{ApprovalID: "ap1", JobID: "j1"}}}),
		"GET /api/v1/policy/audit": answer(200, cairn.List[*cairn.PolicyAudit]{Items: []*cairn.PolicyAudit{{Action: "publish", Actor: "admin"}}}),
	})

	out, _, err := runCLI(t, srv, "", "jobs", "list", "--state", "queued", "--since", "2026-01-02T00:00:00Z", "--limit", "3", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []cairn.Job
	if err := json.Unmarshal([]byte(out), &jobs); err != nil || len(jobs) != 3 || jobs[0].JobID != "j1" || jobs[2].JobID != "j3" {
		t.Fatalf("jobs list --limit 3 --json printed %q (%v), want j1, j2, j3", out, err)
	}
	q, _ := url.ParseQuery((*reqs)[0].query)
	if q.Get("state") != "QUEUED" || q.Get("limit") != "3" || !strings.HasPrefix(q.Get("since"), "2026-01-02T00:00:00") {
		t.Errorf("jobs list sent %q", (*reqs)[0].query)
	}

	out, _, err = runCLI(t, srv, "", "approvals", "list", "--all")
	if err != nil || !strings.Contains(out, "JOB_ID") || !strings.Contains(out, "\nj1 ") {
		t.Errorf("approvals list printed %q, %v", out, err)
	}
	if q, _ := url.ParseQuery((*reqs)[len(*reqs)-1].query); q.Get("limit") != "100" {
		t.Errorf("approvals list sent %q, want the page size of --limit 100", (*reqs)[len(*reqs)-1].query)
	}

	out, _, err = runCLI(t, srv, "", "policy", "audit", "--json")
	if err != nil || !strings.Contains(out, `"publish"`) || !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Errorf("policy audit --json printed %q, %v", out, err)
	}

	n := len(*reqs)
	if _, _, err := runCLI(t, srv, "", "jobs", "list", "--since", "yesterday-ish"); err == nil {
		t.Error("jobs list accepted --since yesterday-ish")
	}
	if len(*reqs) != n {
		t.Error("jobs list with a bad --since sent a request")
	}
}
