package claudehook_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/claudehook"
)

// TestToolUseEvidence: a Bash tool use allowed, run by Claude Code and
// completed: the answer changes nothing, the job SUCCEEDED with the tool's
// response as its result, the state file is gone, the run's timeline shows
// submitted, decided, dispatched and completed by the hook's principal,
// and the ledger verifies.
func TestToolUseEvidence(t *testing.T) {
	e := newEnv(t)
	e.pre(t, e.cfg(), "pre_bash_ls", claudehook.Allow)
	r := run(t, e.cfg(), fixture(t, "post_bash_ls"))
	if r.code != 0 || r.ans != (claudehook.Answer{}) {
		t.Fatalf("post: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	id := jobID(t, "pre_bash_ls")
	j := e.job(id)
	if j.State != cairn.StateSucceeded || j.OutputSafety == nil || j.OutputSafety.Decision != cairn.OutputAllow {
		t.Fatalf("job: %s %+v", j.State, j.OutputSafety)
	}
	var got, want map[string]any
	_, raw := e.Do("auditor-1", "GET", "/api/v1/jobs/"+id+"/result", nil)
	json.Unmarshal(raw, &got)
	var ev struct {
		ToolResponse map[string]any `json:"tool_response"`
	}
	json.Unmarshal(fixture(t, "post_bash_ls"), &ev)
	want = ev.ToolResponse
	if got["stdout"] != want["stdout"] {
		t.Fatalf("result %v, want the tool response", got)
	}
	if len(e.states(t)) != 0 {
		t.Fatal("the state file was not removed")
	}

	var tl cairn.List[*cairn.Event]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/0b6f3c9e-5a1d-4c2b-9e7f-2d8a1c4b6e90/timeline", nil, 200, &tl)
	actors := map[string]string{}
	for _, ev := range tl.Items {
		if string(ev.JobID) == id {
			actors[ev.Type] = ev.Actor
		}
	}
	worker := "worker:claude-code:" + hookPrincipal
	for typ, actor := range map[string]string{
		cairn.EventJobSubmitted: hookPrincipal, cairn.EventPolicyDecided: "",
		cairn.EventJobDispatched: worker, cairn.EventJobCompleted: worker, cairn.EventOutputChecked: "",
	} {
		a, ok := actors[typ]
		if !ok || actor != "" && a != actor {
			t.Errorf("timeline %s: actor %q (present %v), want %q", typ, a, ok, actor)
		}
	}
	var v struct{ OK bool }
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/verify", nil, 200, &v)
	if !v.OK {
		t.Fatal("the ledger does not verify")
	}
}

// TestPostQuarantine: a secret in the output is QUARANTINEd; Claude Code
// gets a block naming the output rule and the finding type, never the
// secret.
func TestPostQuarantine(t *testing.T) {
	e := newEnv(t)
	e.pre(t, e.cfg(), "pre_read", claudehook.Allow)
	r := run(t, e.cfg(), fixture(t, "post_read_secret"))
	if r.code != 0 || r.ans.Decision != "block" {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "block reason", r.ans.Reason, "quarantined", "rule claude-secrets", "aws_access_key", jobID(t, "pre_read"))
	if strings.Contains(r.stdout, "AKIAY34FZKBOKMUTVV7A") {
		t.Fatal("the answer repeats the secret")
	}
	if j := e.job(jobID(t, "pre_read")); j.OutputSafety == nil || j.OutputSafety.Decision != cairn.OutputQuarantine {
		t.Fatalf("output safety %+v", j.OutputSafety)
	}
}

// TestPostRedact: PII in the output is REDACTed; Claude Code is told so as
// additional context, and nothing is blocked.
func TestPostRedact(t *testing.T) {
	e := newEnv(t)
	e.pre(t, e.cfg(), "pre_bash_git_log", claudehook.Allow)
	r := run(t, e.cfg(), fixture(t, "post_bash_git_log"))
	if r.code != 0 || r.ans.Decision != "" || r.ans.Specific == nil {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r.ans.Specific.HookEventName != claudehook.PostToolUse {
		t.Fatalf("hookEventName %q", r.ans.Specific.HookEventName)
	}
	mustContain(t, "context", r.ans.Specific.AdditionalContext, "redacted", "rule claude-pii", "email")
	if strings.Contains(r.stdout, "dana.reyes@example.org") {
		t.Fatal("the answer repeats the finding")
	}
}

// TestPostFailedResponses: a response that reports an error (an MCP
// result with isError) and a PostToolUseFailure complete the job FAILED.
func TestPostFailedResponses(t *testing.T) {
	e := newEnv(t)
	e.pre(t, e.cfg(), "pre_mcp", claudehook.Allow)
	if r := run(t, e.cfg(), fixture(t, "post_mcp_error")); r.code != 0 || r.ans.Decision != "" {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if j := e.job(jobID(t, "pre_mcp")); j.State != cairn.StateFailed {
		t.Fatalf("mcp job %s", j.State)
	}

	e.pre(t, e.cfg(), "pre_write", claudehook.Allow)
	failure := with(t, "pre_write", map[string]any{"hook_event_name": "PostToolUseFailure", "error": "EACCES: permission denied\x1b[0m, open '/home/dev/shop/src/cart_test.go'"})
	r := run(t, e.cfg(), failure)
	if r.code != 0 || r.ans.Decision != "" {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	j := e.job(jobID(t, "pre_write"))
	if j.State != cairn.StateFailed || !strings.Contains(string(j.Error), "EACCES") {
		t.Fatalf("write job %s %q", j.State, j.Error)
	}
}

// TestPostWithoutPre: a PostToolUse for a tool use the PreToolUse hook
// never submitted is a block saying its output was not recorded.
func TestPostWithoutPre(t *testing.T) {
	e := newEnv(t)
	r := run(t, e.cfg(), fixture(t, "post_write"))
	if r.code != 0 || r.ans.Decision != "block" {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Reason, "no job", "not recorded")
}

// TestPostAfterAsk: after an ask answered yes in Claude Code, the pending
// job is cancelled with the reason that the tool ran on the local answer,
// and Claude Code is told (as context) that the output was not checked.
func TestPostAfterAsk(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Wait, cfg.OnTimeout = 100*time.Millisecond, claudehook.OnTimeoutAsk
	e.pre(t, cfg, "pre_bash_rm", claudehook.Ask)
	post := with(t, "pre_bash_rm", map[string]any{"hook_event_name": "PostToolUse", "tool_response": map[string]any{"stdout": "", "stderr": "", "interrupted": false}})
	r := run(t, cfg, post)
	if r.code != 0 || r.ans.Decision != "" || r.ans.Specific == nil {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "context", r.ans.Specific.AdditionalContext, "permission prompt", "cancelled", "not checked")
	id := jobID(t, "pre_bash_rm")
	if j := e.job(id); j.State != cairn.StateCancelled {
		t.Fatalf("state %s", j.State)
	}
	var rec cairn.DecisionRecord
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+id+"/evidence", nil, 200, &rec)
	if rec.Approval == nil || rec.Approval.Resolution != cairn.ResolutionCancelled || !strings.Contains(string(rec.Approval.ResolvedComment), "permission prompt") {
		t.Fatalf("approval %+v", rec.Approval)
	}
}

// TestServerDown: with the control plane unreachable, PreToolUse denies
// and says nothing was allowed; with --fail-open it allows and says there
// is no evidence; PostToolUse blocks (or, fail-open, adds context).
func TestServerDown(t *testing.T) {
	dead := httptest.NewServer(nil)
	dead.Close()
	cfg := claudehook.Config{
		Client: client.New(dead.URL, "some-key", client.WithRetries(0)), Server: dead.URL,
		Wait: time.Second, OnTimeout: claudehook.OnTimeoutDeny, Lease: time.Minute, StateDir: t.TempDir(),
	}
	r := run(t, cfg, fixture(t, "pre_bash_ls"))
	if r.code != 0 || r.ans.Permission() != claudehook.Deny {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Specific.PermissionDecisionReason, "unreachable", "nothing was allowed", dead.URL)
	if r := run(t, cfg, fixture(t, "post_bash_ls")); r.ans.Decision != "block" {
		t.Fatalf("post: %s", r.stdout)
	}

	cfg.FailOpen = true
	r = run(t, cfg, fixture(t, "pre_bash_ls"))
	if r.ans.Permission() != claudehook.Allow {
		t.Fatalf("fail-open: %s %s", r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Specific.PermissionDecisionReason, "unreachable", "--fail-open", "no evidence")
	r = run(t, cfg, fixture(t, "post_bash_ls"))
	if r.ans.Decision != "" || r.ans.Specific == nil {
		t.Fatalf("fail-open post: %s", r.stdout)
	}
	mustContain(t, "context", r.ans.Specific.AdditionalContext, "--fail-open")
}

// TestMisconfigured: a hook without a key (or with bad settings) reads the
// event and denies it; it never fails open.
func TestMisconfigured(t *testing.T) {
	e := newEnv(t)
	cfg := claudehook.Config{Err: errNoKey{}, Server: e.URL, FailOpen: true}
	r := run(t, cfg, fixture(t, "pre_read"))
	if r.ans.Permission() != claudehook.Deny {
		t.Fatalf("%s", r.stdout)
	}
	mustContain(t, "reason", r.ans.Specific.PermissionDecisionReason, "no API key")
	bad := e.cfg()
	bad.OnTimeout = "maybe"
	if r := run(t, bad, fixture(t, "pre_read")); r.ans.Permission() != claudehook.Deny {
		t.Fatalf("bad on-timeout: %s", r.stdout)
	}
	if r := run(t, cfg, fixture(t, "post_bash_ls")); r.ans.Decision != "block" {
		t.Fatalf("post: %s", r.stdout)
	}
}

type errNoKey struct{}

func (errNoKey) Error() string { return "no API key: pass --key-file FILE or set CAIRN_KEY" }

// TestMalformedInput: input the hook cannot read exits 2 (Claude Code
// blocks the tool) with a message on stderr and nothing on stdout; nothing
// is submitted.
func TestMalformedInput(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct{ input, want string }{
		"empty":            {"", "empty"},
		"not json":         {"PreToolUse Bash ls", "not a JSON event"},
		"array":            {"[1,2]", "not a JSON event"},
		"trailing":         {string(fixture(t, "pre_read")) + "{}", "after the JSON event"},
		"truncated":        {string(fixture(t, "pre_read"))[:80], "not a JSON event"},
		"no event name":    {string(with(t, "pre_read", map[string]any{"hook_event_name": ""})), "hook_event_name is missing"},
		"other event":      {string(with(t, "pre_read", map[string]any{"hook_event_name": "Stop"})), "not a tool event"},
		"no tool_use_id":   {string(with(t, "pre_read", map[string]any{"tool_use_id": nil})), "tool_use_id is missing"},
		"no session":       {string(with(t, "pre_read", map[string]any{"session_id": "  "})), "session_id is missing"},
		"no tool_input":    {string(with(t, "pre_read", map[string]any{"tool_input": nil})), "tool_input is missing"},
		"no tool_response": {string(with(t, "pre_read", map[string]any{"hook_event_name": "PostToolUse"})), "tool_response is missing"},
		"wrong type":       {string(with(t, "pre_read", map[string]any{"tool_name": 7})), "not a JSON event"},
		"input not object": {string(with(t, "pre_read", map[string]any{"tool_input": "ls"})), "not a JSON object"},
		"too large":        {`{"tool_input":"` + strings.Repeat("x", claudehook.MaxEventBytes) + `"}`, "exceeds"},
	}
	for name, c := range cases {
		r := run(t, e.cfg(), []byte(c.input))
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "blocked") {
			t.Errorf("%s: exit %d stdout %q stderr %q, want exit 2 and %q", name, r.code, r.stdout, r.stderr, c.want)
		}
	}
	var jobs cairn.List[*cairn.Job]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs", nil, 200, &jobs)
	if len(jobs.Items) != 0 {
		t.Fatalf("%d jobs submitted from malformed input", len(jobs.Items))
	}
}

// TestPostAfterLeaseEnded: a tool that outlives its Cairn lease cannot
// complete the job; the job is cancelled with that reason and Claude Code
// is told the output was not checked.
func TestPostAfterLeaseEnded(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Lease = time.Second
	e.pre(t, cfg, "pre_bash_ls", claudehook.Allow)
	time.Sleep(1500 * time.Millisecond) // the tool runs longer than its lease
	r := run(t, cfg, fixture(t, "post_bash_ls"))
	if r.code != 0 || r.ans.Decision != "block" {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Reason, "lease had ended", "cancelled", "not checked")
	if j := e.job(jobID(t, "pre_bash_ls")); j.State != cairn.StateCancelled {
		t.Fatalf("state %s", j.State)
	}
	if len(e.states(t)) != 0 {
		t.Fatal("state left behind")
	}
}
