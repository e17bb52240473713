package claudehook_test

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/claudehook"
)

// TestIDs: tool names, session ids and tool use ids map to valid Cairn
// actions and ids; the usual ones unchanged, others legibly with a hash so
// that distinct names stay distinct.
func TestIDs(t *testing.T) {
	actions := map[string]string{
		"Bash":                        "claude.Bash",
		"mcp__github__create_issue":   "claude.mcp__github__create_issue",
		"mcp__my-server__do.thing":    "claude.mcp__my-server__do.thing",
		"Weird Tool!":                 "claude.Weird_Tool_-",
		"..":                          "claude._.-",
		strings.Repeat("x", 400):      "claude.xxx",
		"mcp__srv__tool/with/slashes": "claude.mcp__srv__tool/with/slashes",
	}
	seen := map[string]string{}
	for name, prefix := range actions {
		got := (&claudehook.Event{ToolName: name}).Action()
		if !strings.HasPrefix(got, prefix) || len(got) > 256 || strings.Contains(got, "..") {
			t.Errorf("%q → %q, want prefix %q", name, got, prefix)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both map to %q", name, other, got)
		}
		seen[got] = name
	}
	if a, b := (&claudehook.Event{ToolName: "a b"}).Action(), (&claudehook.Event{ToolName: "a_b"}).Action(); a == b {
		t.Errorf("a b and a_b collide: %s", a)
	}

	ev := &claudehook.Event{SessionID: "0b6f3c9e-5a1d-4c2b-9e7f-2d8a1c4b6e90", ToolUseID: "toolu_01ABC"}
	if ev.RunID() != "0b6f3c9e-5a1d-4c2b-9e7f-2d8a1c4b6e90" || ev.JobID() != "claude-toolu_01ABC" {
		t.Errorf("run %q job %q", ev.RunID(), ev.JobID())
	}
	for _, raw := range []string{"-lead", ".dot", "sp ace/slash", strings.Repeat("é", 300)} {
		ev := &claudehook.Event{SessionID: raw, ToolUseID: raw}
		for _, id := range []string{ev.RunID(), ev.JobID()} {
			if !validID(id) {
				t.Errorf("%q → invalid id %q", raw, id)
			}
		}
	}
}

// validID mirrors the API's id rule: 1..256 bytes of [A-Za-z0-9._:@-], not
// starting with '.' or '-'.
func validID(s string) bool {
	if s == "" || len(s) > 256 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:@-", c) >= 0) {
			return false
		}
	}
	return true
}

// TestOddIDsAccepted: a tool use with an odd tool name and ids is still
// submitted (the server accepts what the hook derives) and decided.
func TestOddIDsAccepted(t *testing.T) {
	e := newEnv(t)
	input := with(t, "pre_read", map[string]any{"tool_name": "mcp__odd server__tool!", "session_id": "-session/1", "tool_use_id": "toolu 1"})
	r := run(t, e.cfg(), input)
	if r.ans.Permission() != claudehook.Deny {
		t.Fatalf("%s %s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.ans.Specific.PermissionDecisionReason, "rule default") {
		t.Fatalf("not decided by policy: %s", r.ans.Specific.PermissionDecisionReason)
	}
	ev, _ := claudehook.ReadEvent(strings.NewReader(string(input)))
	if j := e.job(ev.JobID()); j.State != cairn.StateDenied || !strings.HasPrefix(j.Action, "claude.mcp__odd_server__tool_-") {
		t.Fatalf("job %s %s", j.State, j.Action)
	}
}
