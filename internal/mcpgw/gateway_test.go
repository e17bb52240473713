package mcpgw_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/mcpgw"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDecisionsOverBothTransports: allow, deny, redact and quarantine,
// through the gateway over streamable HTTP (HTTP upstream) and over stdio
// (stdio upstream); each call is one job with its evidence. http-in-process
// is HTTP with the gateway calling Cairn's API in-process, as `cairn serve
// --mcp-gateway` hosts it: the same jobs, principals and evidence.
func TestDecisionsOverBothTransports(t *testing.T) {
	for _, transport := range []string{"http", "http-in-process", "stdio"} {
		t.Run(transport, func(t *testing.T) {
			var f *fixture
			var cs *mcp.ClientSession
			if transport != "stdio" {
				f = newFixtureWith(t, "  - name: files\n    url: "+httpUpstream(t)+"\n    labels: {env: test}\n", transport == "http-in-process")
				cs = f.connectHTTP(f.serveHTTP(), "agent-a", nil)
			} else {
				f = newFixture(t, stdioUpstream("files"))
				cs = f.connectStdio(nil)
			}
			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]*mcp.Tool{}
			for _, tl := range tools.Tools {
				names[tl.Name] = tl
			}
			if names["files__read"] == nil || names["files__write"] == nil || names["files__delete"] == nil {
				t.Fatalf("tools/list: %v", tools.Tools)
			}
			if a := names["files__read"].Annotations; a == nil || !a.ReadOnlyHint {
				t.Fatal("annotations were not passed on unchanged")
			}

			// ALLOW: the upstream runs, the result comes back with its evidence.
			res := call(t, cs, "files__read", map[string]any{"path": "/tmp/a.txt"})
			if res.IsError || text(res) != "contents of /tmp/a.txt" {
				t.Fatalf("allow: %+v %q", res, text(res))
			}
			if res.Meta["cairn/decision"] != cairn.Allow || res.Meta["cairn/policy_rule_id"] != "tools-allowed" || !strings.HasPrefix(res.Meta["cairn/policy_snapshot"].(string), "cfg:system:policy#sha256:") {
				t.Fatalf("allow meta: %v", res.Meta)
			}
			j := f.job(metaJob(t, res))
			wantPrincipal := "agent-a"
			if transport == "stdio" {
				wantPrincipal = "gateway"
			}
			if j.State != cairn.StateSucceeded || j.Action != "mcp.files.read" || j.SubmittedBy != wantPrincipal || j.Executor != "gateway" ||
				j.Labels["env"] != "test" || j.Resource != "files" || !strings.HasPrefix(string(j.RunID), "mcp-") {
				t.Fatalf("allow job: %+v", j)
			}
			var input map[string]any
			f.api.MustDo("auditor-1", "GET", "/api/v1/jobs/"+j.JobID+"/context", nil, 200, &input)
			if input["path"] != "/tmp/a.txt" {
				t.Fatalf("the job's input is not the call's arguments: %v", input)
			}

			// DENY: a tool result with isError naming the rule; nothing runs.
			res = call(t, cs, "files__delete", map[string]any{"path": "/etc/passwd"})
			if !res.IsError || !strings.Contains(text(res), "no-delete") || !strings.Contains(text(res), "Deleting files is never automated") {
				t.Fatalf("deny: %q", text(res))
			}
			if j := f.job(metaJob(t, res)); j.State != cairn.StateDenied {
				t.Fatalf("deny state %s", j.State)
			}

			// REDACT: the client gets the redacted content.
			res = call(t, cs, "files__ssn", map[string]any{"path": "x"})
			if res.IsError || strings.Contains(text(res), "jane.doe@example.com") || !strings.Contains(text(res), "customer email") {
				t.Fatalf("redact: %q", text(res))
			}
			if j := f.job(metaJob(t, res)); j.OutputSafety == nil || j.OutputSafety.Decision != cairn.OutputRedact {
				t.Fatalf("redact job: %+v", j.OutputSafety)
			}

			// QUARANTINE: isError naming the rule and finding types, never the text.
			res = call(t, cs, "files__secret", map[string]any{"path": "x"})
			if !res.IsError || strings.Contains(text(res), "AKIA") || !strings.Contains(text(res), "out-secrets") || !strings.Contains(text(res), "aws") {
				t.Fatalf("quarantine: %q", text(res))
			}
			if j := f.job(metaJob(t, res)); j.OutputSafety == nil || j.OutputSafety.Decision != cairn.OutputQuarantine {
				t.Fatalf("quarantine job: %+v", j.OutputSafety)
			}

			// The session's run holds the calls as its timeline.
			var tl cairn.List[*cairn.Event]
			f.api.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/"+string(j.RunID)+"/timeline?limit=1000", nil, 200, &tl)
			types := map[string]int{}
			for i, ev := range tl.Items {
				types[ev.Type]++
				if ev.Seq != int64(i+1) {
					t.Fatalf("timeline gap at %d: seq %d", i, ev.Seq)
				}
			}
			if types[cairn.EventJobSubmitted] != 4 || types[cairn.EventJobDispatched] != 3 || types[cairn.EventJobCompleted] != 3 {
				t.Fatalf("timeline: %v", types)
			}
			f.verifyLedger()
		})
	}
}

// TestApprovalHold: a call that needs approval waits; approved in time it
// runs; approved after the wait, the identical call resumes the same job
// and runs it once; rejected and expired approvals are said plainly.
func TestApprovalHold(t *testing.T) {
	f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
	url := f.serveHTTP()
	var progress []string
	cs := f.connectHTTP(url, "agent-a", &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		progress = append(progress, r.Params.Message)
	}})
	args := map[string]any{"path": "/prod/config.yaml", "content": "x"}

	// Approved in time.
	done := make(chan *mcp.CallToolResult)
	go func() {
		res, _ := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "files__write", Arguments: map[string]any{"path": "/prod/a", "content": "1"}, Meta: mcp.Meta{"progressToken": "p1"}})
		done <- res
	}()
	id := f.pendingJob("mcp.files.write", "/prod/a")
	f.approve(id)
	res := <-done
	if res == nil || res.IsError || !strings.Contains(text(res), "wrote 1 bytes to /prod/a") {
		t.Fatalf("approved in time: %+v", res)
	}
	if res.Meta["cairn/job_id"] != id || f.job(id).State != cairn.StateSucceeded {
		t.Fatalf("approved job: %v", res.Meta)
	}
	if len(progress) == 0 || !strings.Contains(progress[0], "/approvals/"+id) || !strings.Contains(progress[0], "approver") {
		t.Fatalf("progress notifications: %q", progress)
	}

	// Not approved within approval_wait: pending, with who and where.
	res = call(t, cs, "files__write", args)
	if !res.IsError || !strings.Contains(text(res), "approval is pending") || !strings.Contains(text(res), "/approvals/") || !strings.Contains(text(res), "role approver") {
		t.Fatalf("pending: %q", text(res))
	}
	pending := metaJob(t, res)
	before := upstreamCalls.Load()
	// The identical call (arguments in another order) resumes the same job.
	res = call(t, cs, "files__write", map[string]any{"content": "x", "path": "/prod/config.yaml"})
	if metaJob(t, res) != pending || !res.IsError {
		t.Fatalf("identical call did not resume job %s: %v %q", pending, res.Meta, text(res))
	}
	// Another principal's identical call does not resume it.
	other := f.connectHTTP(url, "agent-b", nil)
	res = call(t, other, "files__write", args)
	if metaJob(t, res) == pending {
		t.Fatal("another principal resumed agent-a's pending job")
	}
	f.approve(pending)
	res = call(t, cs, "files__write", args)
	if res.IsError || metaJob(t, res) != pending || upstreamCalls.Load() != before+1 {
		t.Fatalf("approved then resumed: %q (ran %d times)", text(res), upstreamCalls.Load()-before)
	}
	// Once it ran, the identical call is a new job.
	res = call(t, cs, "files__write", args)
	if metaJob(t, res) == pending {
		t.Fatal("a job that already ran was resumed")
	}
	rejected := metaJob(t, res)
	f.api.MustDo("approver-1", "POST", "/api/v1/approvals/"+rejected+"/reject", cairn.ResolveRequest{JobHash: f.job(rejected).JobHash, Comment: "not today"}, 200, nil)
	res = call(t, cs, "files__write", args)
	if !res.IsError || metaJob(t, res) != rejected || !strings.Contains(text(res), "rejected by approver-1") || !strings.Contains(text(res), "not today") {
		t.Fatalf("rejected: %q", text(res))
	}

	// Expired.
	res = call(t, cs, "files__write", map[string]any{"path": "/quick/x"})
	if !res.IsError || !strings.Contains(text(res), "expired") {
		t.Fatalf("expired: %q", text(res))
	}
	f.verifyLedger()
}

// pendingJob waits for the pending job of an action and resource path.
func (f *fixture) pendingJob(action, path string) string {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var l cairn.List[*cairn.Job]
		f.api.MustDo("auditor-1", "GET", "/api/v1/jobs?state=PENDING_APPROVAL&action="+action, nil, 200, &l)
		for _, j := range l.Items {
			var in map[string]any
			f.api.MustDo("auditor-1", "GET", "/api/v1/jobs/"+j.JobID+"/context", nil, 200, &in)
			if in["path"] == path {
				return j.JobID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("no pending %s job for %s", action, path)
	return ""
}

func (f *fixture) approve(id string) {
	f.t.Helper()
	f.api.MustDo("approver-1", "POST", "/api/v1/approvals/"+id+"/approve", cairn.ResolveRequest{JobHash: f.job(id).JobHash, Comment: "ok"}, 200, nil)
}

// TestHideDenied: with hide_denied, tools/list leaves out the tools the
// policy denies the client for every input, and keeps the others
// (including those denied or held only for some inputs).
func TestHideDenied(t *testing.T) {
	for _, hide := range []bool{false, true} {
		f := newFixture(t, "  - name: files\n    url: "+httpUpstream(t)+"\n")
		if hide {
			cfg := *f.cfg
			cfg.HideDenied = true
			gw, err := mcpgw.New(context.Background(), &cfg, mcpgw.Options{Server: f.api.URL, Key: f.api.Keys["gateway"]})
			if err != nil {
				t.Fatal(err)
			}
			f.gw = gw
		}
		cs := f.connectHTTP(f.serveHTTP(), "agent-a", nil)
		tools, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, tl := range tools.Tools {
			have[tl.Name] = true
		}
		if have["files__delete"] == hide || !have["files__read"] || !have["files__write"] {
			t.Fatalf("hide_denied %v: %v", hide, have)
		}
	}
}
