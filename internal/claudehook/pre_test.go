package claudehook_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/claudehook"
)

// TestPreAllowDispatches: each allowed kind of tool use (Bash, Read, Edit,
// Write, WebFetch, an MCP tool) becomes a job claude.<tool> in the
// session's run, bound to the hook's principal, leased before the answer
// allow, whose reason names the decision, the rule and the job.
func TestPreAllowDispatches(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ fixture, action, rule string }{
		{"pre_bash_ls", "claude.Bash", "claude-bash"},
		{"pre_read", "claude.Read", "claude-read-only"},
		{"pre_edit", "claude.Edit", "claude-edits-and-fetches"},
		{"pre_write", "claude.Write", "claude-edits-and-fetches"},
		{"pre_webfetch", "claude.WebFetch", "claude-edits-and-fetches"},
		{"pre_mcp", "claude.mcp__github__create_issue", "claude-github"},
	}
	for _, c := range cases {
		ans := e.pre(t, e.cfg(), c.fixture, claudehook.Allow)
		id := jobID(t, c.fixture)
		mustContain(t, c.fixture+" reason", ans.Specific.PermissionDecisionReason, "ALLOW", "rule "+c.rule, "job "+id, "receipt verified")
		j := e.job(id)
		if j.Action != c.action || j.State != cairn.StateRunning || j.Executor != hookPrincipal || j.SubmittedBy != hookPrincipal ||
			string(j.RunID) != "0b6f3c9e-5a1d-4c2b-9e7f-2d8a1c4b6e90" || string(j.LeaseOwner) == "" {
			t.Errorf("%s: job %+v", c.fixture, j)
		}
	}
	// The lease is kept for PostToolUse in files only the user can read,
	// and no file holds the key.
	files := e.states(t)
	if len(files) != len(cases) {
		t.Fatalf("%d state files, want %d", len(files), len(cases))
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, info.Mode().Perm())
		}
		if strings.Contains(string(readFile(t, f)), e.Keys[hookPrincipal]) {
			t.Errorf("%s holds the API key", f)
		}
	}
}

// TestPreDeny: a policy DENY is "deny" with the rule and reason, and the
// job is DENIED and never dispatched.
func TestPreDeny(t *testing.T) {
	e := newEnv(t)
	ans := e.pre(t, e.cfg(), "pre_webfetch_denied", claudehook.Deny)
	id := jobID(t, "pre_webfetch_denied")
	mustContain(t, "reason", ans.Specific.PermissionDecisionReason, "DENY", "rule claude-no-fetch-example", "Nothing is fetched from example.com", id)
	if j := e.job(id); j.State != cairn.StateDenied || j.Attempts != 0 {
		t.Fatalf("job %s attempts %d", j.State, j.Attempts)
	}
	if len(e.states(t)) != 0 {
		t.Fatal("a denied tool use left state behind")
	}
}

// TestPreApprovalTimeout: an approval still pending after --wait answers
// "deny" (the default; the job is cancelled) or "ask" (the job stays
// pending), naming the console link and who may approve.
func TestPreApprovalTimeout(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Wait = 300 * time.Millisecond
	id := jobID(t, "pre_bash_rm")

	askCfg := cfg
	askCfg.OnTimeout = claudehook.OnTimeoutAsk
	ans := e.pre(t, askCfg, "pre_bash_rm", claudehook.Ask)
	mustContain(t, "ask reason", ans.Specific.PermissionDecisionReason, "REQUIRE_APPROVAL", "rule claude-bash-risky",
		e.URL+"/approvals/"+id, "role approver", hookPrincipal+", the submitter, may not")
	if j := e.job(id); j.State != cairn.StatePendingApproval {
		t.Fatalf("after ask: %s", j.State)
	}

	// The same tool use again, now with the default: deny, job cancelled.
	ans = e.pre(t, cfg, "pre_bash_rm", claudehook.Deny)
	mustContain(t, "deny reason", ans.Specific.PermissionDecisionReason, "rule claude-bash-risky", "no approval within 300ms", e.URL+"/approvals/"+id, "cancelled")
	if j := e.job(id); j.State != cairn.StateCancelled {
		t.Fatalf("after deny on timeout: %s", j.State)
	}
}

// TestPreApprovedDuringWait: an approval granted while the hook waits is
// dispatched and answered allow, naming the approver.
func TestPreApprovedDuringWait(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Wait = 20 * time.Second
	id := jobID(t, "pre_bash_rm")
	done := make(chan result, 1)
	go func() { done <- run(t, cfg, fixture(t, "pre_bash_rm")) }()
	j := e.waitState(id, cairn.StatePendingApproval)
	e.MustDo("alice", "POST", "/api/v1/approvals/"+id+"/approve", cairn.ResolveRequest{JobHash: j.JobHash, Comment: "build is disposable"}, 200, nil)
	r := <-done
	if r.code != 0 || r.ans.Permission() != claudehook.Allow {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Specific.PermissionDecisionReason, "REQUIRE_APPROVAL", "approved by alice", "build is disposable", id)
	if j := e.job(id); j.State != cairn.StateRunning {
		t.Fatalf("state %s", j.State)
	}
}

// TestPreRejectedDuringWait: a rejection is "deny" naming who rejected.
func TestPreRejectedDuringWait(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Wait = 20 * time.Second
	id := jobID(t, "pre_bash_rm")
	done := make(chan result, 1)
	go func() { done <- run(t, cfg, fixture(t, "pre_bash_rm")) }()
	j := e.waitState(id, cairn.StatePendingApproval)
	e.MustDo("alice", "POST", "/api/v1/approvals/"+id+"/reject", cairn.ResolveRequest{JobHash: j.JobHash, Comment: "not on main"}, 200, nil)
	r := <-done
	if r.ans.Permission() != claudehook.Deny {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Specific.PermissionDecisionReason, "rejected by alice", "not on main")
}

// TestPreDispatchRedecisionDenies: the policy changes while the approval is
// pending; after the approval the dispatch re-decision denies, and so does
// the hook.
func TestPreDispatchRedecisionDenies(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Wait = 20 * time.Second
	id := jobID(t, "pre_bash_rm")
	done := make(chan result, 1)
	go func() { done <- run(t, cfg, fixture(t, "pre_bash_rm")) }()
	j := e.waitState(id, cairn.StatePendingApproval)
	e.publish(`default: deny
rules:
  - id: no-shell
    match: {actions: ["claude.Bash"]}
    decision: DENY
    reason: The shell is closed today
`)
	e.MustDo("alice", "POST", "/api/v1/approvals/"+id+"/approve", cairn.ResolveRequest{JobHash: j.JobHash}, 200, nil)
	r := <-done
	if r.ans.Permission() != claudehook.Deny {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "reason", r.ans.Specific.PermissionDecisionReason, "rule no-shell", "at dispatch")
	if j := e.job(id); j.State != cairn.StateDenied {
		t.Fatalf("state %s", j.State)
	}
}

// TestPreConstraintsRefused: ALLOW_WITH_CONSTRAINTS cannot be enforced on
// Claude Code's tools: deny, and the job is cancelled.
func TestPreConstraintsRefused(t *testing.T) {
	e := newEnv(t)
	e.publish(`default: deny
rules:
  - id: capped-shell
    match: {actions: ["claude.Bash"]}
    decision: ALLOW_WITH_CONSTRAINTS
    reason: Shell with a cap
    constraints: {max_seconds: 5}
`)
	ans := e.pre(t, e.cfg(), "pre_bash_ls", claudehook.Deny)
	mustContain(t, "reason", ans.Specific.PermissionDecisionReason, "rule capped-shell", "constraints", "cancelled")
	if j := e.job(jobID(t, "pre_bash_ls")); j.State != cairn.StateCancelled {
		t.Fatalf("state %s", j.State)
	}
}

// TestPreReplaySameToolUse: the hook run twice for one tool use answers
// allow twice with one job and one dispatch; after PostToolUse a third run
// is refused (a tool use runs once).
func TestPreReplaySameToolUse(t *testing.T) {
	e := newEnv(t)
	e.pre(t, e.cfg(), "pre_bash_ls", claudehook.Allow)
	ans := e.pre(t, e.cfg(), "pre_bash_ls", claudehook.Allow)
	mustContain(t, "replay reason", ans.Specific.PermissionDecisionReason, "already dispatched")
	id := jobID(t, "pre_bash_ls")
	var ds cairn.List[*cairn.Decision]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+id+"/decisions", nil, 200, &ds)
	if len(ds.Items) != 2 || ds.Items[0].Phase != cairn.PhaseSubmit || ds.Items[1].Phase != cairn.PhaseDispatch {
		t.Fatalf("decisions: %d", len(ds.Items))
	}
	if r := run(t, e.cfg(), fixture(t, "post_bash_ls")); r.code != 0 || r.ans.Decision != "" {
		t.Fatalf("post: %d %s %s", r.code, r.stdout, r.stderr)
	}
	ans = e.pre(t, e.cfg(), "pre_bash_ls", claudehook.Deny)
	mustContain(t, "after completion", ans.Specific.PermissionDecisionReason, "already ran", "SUCCEEDED")
}

// TestPreRunningWithoutLease: a job RUNNING under a lease this hook does
// not hold (its state file is gone) is refused.
func TestPreRunningWithoutLease(t *testing.T) {
	e := newEnv(t)
	e.pre(t, e.cfg(), "pre_bash_ls", claudehook.Allow)
	other := e.cfg()
	other.StateDir = t.TempDir()
	e.pre(t, other, "pre_bash_ls", claudehook.Deny)
}

// TestPreKeyWithoutWorkerRole: a hook key that cannot lease is refused
// before anything is submitted.
func TestPreKeyWithoutWorkerRole(t *testing.T) {
	e := newEnv(t)
	e.Key("agent-only", "agent", "agent")
	cfg := e.cfg()
	cfg.Client = client.New(e.URL, e.Keys["agent-only"])
	ans := e.pre(t, cfg, "pre_read", claudehook.Deny)
	mustContain(t, "reason", ans.Specific.PermissionDecisionReason, "needs agent and worker")
	e.ErrCode("auditor-1", "GET", "/api/v1/jobs/"+jobID(t, "pre_read"), nil, 404, cairn.ENotFound)
}

// waitState polls a job until it is in state, for at most 10 seconds.
func (e *env) waitState(id, state string) *cairn.Job {
	e.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _ := e.Do("auditor-1", "GET", "/api/v1/jobs/"+id, nil)
		if status == 200 {
			if j := e.job(id); j.State == state {
				return j
			}
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("job %s never reached %s", id, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
