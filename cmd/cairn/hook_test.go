package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
)

// hookRun runs the built binary as Claude Code would: the event on stdin,
// the answer on stdout, the exit code.
func hookRun(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(cairnBinary(t), append([]string{"hook", "claude-code"}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Dir = t.TempDir()
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

func hookFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "claudehook", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type hookAnswer struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Specific *struct {
		HookEventName            string `json:"hookEventName"`
		PermissionDecision       string `json:"permissionDecision"`
		PermissionDecisionReason string `json:"permissionDecisionReason"`
	} `json:"hookSpecificOutput"`
}

func decodeAnswer(t *testing.T, stdout string) hookAnswer {
	t.Helper()
	var a hookAnswer
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("stdout is not hook JSON: %v: %q", err, stdout)
	}
	return a
}

// TestHookBinary pipes recorded Claude Code events into the built binary:
// a Bash tool use is allowed and dispatched, its PostToolUse completes the
// job; a DENY is answered deny with exit 0; malformed input and a mistyped
// flag exit 2 (Claude Code blocks the tool); an unreachable server is a
// deny.
func TestHookBinary(t *testing.T) {
	e, args := hookServer(t)
	code, out, errOut := hookRun(t, hookFixture(t, "pre_bash_ls"), args...)
	a := decodeAnswer(t, out)
	if code != 0 || a.Specific == nil || a.Specific.PermissionDecision != "allow" || a.Specific.HookEventName != "PreToolUse" {
		t.Fatalf("pre: exit %d %s %s", code, out, errOut)
	}
	code, out, errOut = hookRun(t, hookFixture(t, "post_bash_ls"), args...)
	if code != 0 || decodeAnswer(t, out).Decision != "" {
		t.Fatalf("post: exit %d %s %s", code, out, errOut)
	}
	var j cairn.Job
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/claude-toolu_01BashLs4Wm9pQe2rTz6dKcH", nil, 200, &j)
	if j.State != cairn.StateSucceeded || j.Executor != "cc-hook" {
		t.Fatalf("job %s executor %q", j.State, j.Executor)
	}

	code, out, _ = hookRun(t, hookFixture(t, "pre_webfetch_denied"), args...)
	if a := decodeAnswer(t, out); code != 0 || a.Specific.PermissionDecision != "deny" || !strings.Contains(a.Specific.PermissionDecisionReason, "claude-no-fetch-example") {
		t.Fatalf("deny: exit %d %s", code, out)
	}
}

// hookServer is a server with the hook's policy and keys; args point the
// hook at it with the hook key's file.
func hookServer(t *testing.T) (*apitest.Env, []string) {
	t.Helper()
	e := apitest.New(t, apitest.Options{AdminKey: testAdminKey, LedgerKey: true})
	e.Key("cc-hook", "agent", "agent", "worker")
	e.Key("auditor-1", "human", "auditor")
	policy, err := os.ReadFile(filepath.Join("..", "..", "internal", "claudehook", "testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: string(policy), Message: "hooks"}, 201, nil)
	keyFile := filepath.Join(t.TempDir(), "hook.key")
	if err := os.WriteFile(keyFile, []byte(e.Keys["cc-hook"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, []string{"--server", e.URL, "--key-file", keyFile, "--state-dir", t.TempDir()}
}

// TestHookBinaryBlocks: malformed input and a mistyped flag exit 2 (Claude
// Code blocks the tool).
func TestHookBinaryBlocks(t *testing.T) {
	_, args := hookServer(t)
	code, out, errOut := hookRun(t, []byte(`{"hook_event_name":"PreToolUse"`), args...)
	if code != 2 || out != "" || !strings.Contains(errOut, "malformed hook input") {
		t.Fatalf("malformed: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = hookRun(t, hookFixture(t, "pre_read"), append(args, "--wiat", "5s")...)
	if code != 2 || out != "" || !strings.Contains(errOut, "unknown flag") {
		t.Fatalf("bad flag: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestHookBinaryDeniesWithoutServerOrKey: an unreachable server, or no
// key, is a deny.
func TestHookBinaryDeniesWithoutServerOrKey(t *testing.T) {
	e, args := hookServer(t)
	keyFile := args[3]
	dead := httptest.NewServer(nil)
	dead.Close()
	code, out, _ := hookRun(t, hookFixture(t, "pre_read"), "--server", dead.URL, "--key-file", keyFile, "--state-dir", t.TempDir())
	if a := decodeAnswer(t, out); code != 0 || a.Specific.PermissionDecision != "deny" || !strings.Contains(a.Specific.PermissionDecisionReason, "unreachable") {
		t.Fatalf("server down: exit %d %s", code, out)
	}
	code, out, _ = hookRun(t, hookFixture(t, "pre_read"), "--server", e.URL, "--state-dir", t.TempDir())
	if a := decodeAnswer(t, out); code != 0 || a.Specific.PermissionDecision != "deny" || !strings.Contains(a.Specific.PermissionDecisionReason, "no API key") {
		t.Fatalf("no key: exit %d %s", code, out)
	}
}
