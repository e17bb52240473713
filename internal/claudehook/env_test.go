package claudehook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/claudehook"
)

const adminKey = "cairn_hook_test_admin_key_0123456789"

// hookPrincipal is the principal of the hook's key.
const hookPrincipal = "cc-hook"

// env is a real in-process Cairn with the example policy of docs/hooks.md
// published, a hook key (agent, worker), an approver and an auditor.
type env struct {
	*apitest.Env
	stateDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{Env: apitest.New(t, apitest.Options{AdminKey: adminKey, LedgerKey: true}), stateDir: t.TempDir()}
	e.Key(hookPrincipal, "agent", "agent", "worker")
	e.Key("alice", "human", "approver")
	e.Key("auditor-1", "human", "auditor")
	e.Key("polly", "human", "policy_admin")
	e.publish(string(readFile(t, "testdata/policy.yaml")))
	return e
}

func (e *env) publish(bundle string) {
	e.T.Helper()
	e.MustDo("polly", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: bundle, Message: "test"}, 201, nil)
}

// cfg is the hook's configuration against this server.
func (e *env) cfg() claudehook.Config {
	return claudehook.Config{
		Client: client.New(e.URL, e.Keys[hookPrincipal]), Server: e.URL,
		Wait: 2 * time.Second, OnTimeout: claudehook.OnTimeoutDeny, Lease: time.Minute,
		StateDir: e.stateDir,
	}
}

// job reads a job as the auditor.
func (e *env) job(id string) *cairn.Job {
	e.T.Helper()
	var j cairn.Job
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+id, nil, 200, &j)
	return &j
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture is a recorded hook input from testdata.
func fixture(t *testing.T, name string) []byte {
	return readFile(t, filepath.Join("testdata", name+".json"))
}

// result is what one run of the hook produced.
type result struct {
	code   int
	ans    claudehook.Answer
	stdout string
	stderr string
}

// run feeds input to the hook as Claude Code would and decodes its answer.
func run(t *testing.T, cfg claudehook.Config, input []byte) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := claudehook.Run(context.Background(), cfg, bytes.NewReader(input), &out, &errb)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	if code == 0 {
		dec := json.NewDecoder(&out)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r.ans); err != nil {
			t.Errorf("answer is not hook JSON: %v: %q", err, r.stdout) // not Fatal: run is also called off the test goroutine
		}
	}
	return r
}

// pre runs the hook on a PreToolUse fixture and checks its decision.
func (e *env) pre(t *testing.T, cfg claudehook.Config, name, want string) claudehook.Answer {
	t.Helper()
	r := run(t, cfg, fixture(t, name))
	if r.code != 0 || r.ans.Permission() != want {
		t.Fatalf("%s: exit %d, decision %q, want %q: %s %s", name, r.code, r.ans.Permission(), want, r.stdout, r.stderr)
	}
	if r.ans.Specific.HookEventName != claudehook.PreToolUse {
		t.Fatalf("hookEventName %q", r.ans.Specific.HookEventName)
	}
	return r.ans
}

// jobID is the job a fixture's tool use maps to.
func jobID(t *testing.T, name string) string {
	t.Helper()
	ev, err := claudehook.ReadEvent(bytes.NewReader(fixture(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	return ev.JobID()
}

// with returns the fixture with top-level fields replaced.
func with(t *testing.T, name string, fields map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustContain(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q: %s", what, p, s)
		}
	}
}

// states lists the hook's state files.
func (e *env) states(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(e.stateDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
