package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
)

const wantCard = `Job           job-123
              run run-7 · step step-2 · trace 4bf92f3577b34da6a3ce929d0e0e4736
Action        db.write on orders/42
Submitted by  agent-1
State         SUCCEEDED
Decision      REQUIRE_APPROVAL  rule prod-write-needs-approval
  reason      Production writes need manager approval
  snapshot    cfg:system:policy#sha256:3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a
Job hash      7f3a9c2b1d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd
Approval      required · approved by alice at 2026-04-01T14:11:32Z
  comment     "checked the diff"
  roles       approver
  requested   by agent-1 at 2026-04-01T14:10:32Z
  expires     2026-04-02T14:10:32Z
Decisions     2
  submit    REQUIRE_APPROVAL  prod-write-needs-approval  cfg:system:policy#sha256:3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a  2026-04-01T14:10:32Z
  dispatch  ALLOW             (default)                  cfg:system:policy#sha256:3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a  2026-04-01T14:11:37Z
Output        QUARANTINE  rule out-safe-1
  findings    aws_access_key@120+20, email@300+17
Pointers      context ctx:job-123
              result  res:job-123
Events        2
  #11  2026-04-01T14:10:32Z  job_submitted      agent-1
  #14  2026-04-01T14:11:32Z  approval_resolved  alice
Recorded      2026-04-01T14:12:02Z
`

const wantPendingCard = `Job           job-9
Action        db.delete
Submitted by  agent-1
State         PENDING_APPROVAL
Decision      REQUIRE_APPROVAL  rule prod-write-needs-approval
  reason      Production writes need manager approval
  snapshot    -
Job hash      abc
Approval      required · pending
  requested   by agent-1 at 2026-04-01T14:10:32Z
Decisions     0
Output        not checked (no result)
Pointers      context ctx:job-9
              result  -
Recorded      2026-04-01T14:10:32Z
`

const wantTimeline = `Run           run-7  (completed)
Started       by agent-1 at 2026-04-01T14:10:32Z
Completed     2026-04-01T14:12:02Z
Jobs          2
  job-123  step-2  db.write           REQUIRE_APPROVAL  SUCCEEDED
  job-124  -       payments.transfer  DENY              DENIED
Timeline      7 events

SEQ  TIMESTAMP             TYPE               JOB      ACTOR          EVIDENCE                                                          LEDGER
1    2026-04-01T14:10:32Z  run_started        -        agent-1        -                                                                 #10
2    2026-04-01T14:10:32Z  job_submitted      job-123  agent-1        -                                                                 #11
3    2026-04-01T14:10:32Z  policy_decided     job-123  system         decision=REQUIRE_APPROVAL rule=prod-write-needs-approval          #12
4    2026-04-01T14:11:32Z  approval_resolved  job-123  alice          resolution=approved by=alice                                      #14
5    2026-04-01T14:11:52Z  job_completed      job-123  worker-1       state=SUCCEEDED                                                   #16
6    2026-04-01T14:11:52Z  output_checked     job-123  system         output=QUARANTINE rule=out-safe-1 findings=aws_access_key@120+20  #17
7    2026-04-01T14:12:02Z  run_completed      -        system\x1b[2J  -                                                                 -
`

const wantSimulation = `Decision      REQUIRE_APPROVAL  rule prod-write-needs-approval
  reason      Production writes need manager approval
  snapshot    cfg:system:policy#sha256:3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a
Why           rule prod-write-needs-approval matched: action db.write, labels env=prod
Approval      roles approver, admin · expires in 24h
Constraints   {"max_rows":100}
Rules tried   2
  reads-are-fine             no match  action db.write not in [db.read http.get]
  prod-write-needs-approval  MATCH     action db.write, labels env=prod
`

func diff(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("line %d:\n got  %q\n want %q", i+1, g, w)
		}
	}
	t.Logf("full output:\n%s", got)
}

func TestEvidenceCard(t *testing.T) {
	var b bytes.Buffer
	if err := printEvidenceCard(&b, fixtureRecord()); err != nil {
		t.Fatal(err)
	}
	diff(t, b.String(), wantCard)

	pending := &cairn.DecisionRecord{
		JobID: "job-9", Decision: cairn.RequireApproval, PolicyRuleID: "prod-write-needs-approval",
		PolicyReason: "Production writes need manager approval", JobHash: "abc", ApprovalRequired: true,
		ContextPtr: "ctx:job-9", Timestamp: at(0), State: cairn.StatePendingApproval, Action: "db.delete", Submitted: "agent-1",
		Approval: &cairn.Approval{RequestedBy: "agent-1", RequestedAt: at(0), Status: "pending"},
	}
	b.Reset()
	if err := printEvidenceCard(&b, pending); err != nil {
		t.Fatal(err)
	}
	diff(t, b.String(), wantPendingCard)
}

func TestEvidenceCardRoundTripsJSON(t *testing.T) {
	// The card is printed from what the server sends: decode the fixture
	// from JSON as the command would.
	raw, err := json.Marshal(fixtureRecord())
	if err != nil {
		t.Fatal(err)
	}
	var rec cairn.DecisionRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := printEvidenceCard(&b, &rec); err != nil {
		t.Fatal(err)
	}
	diff(t, b.String(), wantCard)
}

func TestRunTimeline(t *testing.T) {
	r, evs := fixtureRun()
	var b bytes.Buffer
	if err := printRunTimeline(&b, r, nil, evs); err != nil {
		t.Fatal(err)
	}
	diff(t, b.String(), wantTimeline)
}

func TestSimulation(t *testing.T) {
	var b bytes.Buffer
	if err := printSimulation(&b, fixtureSimulation()); err != nil {
		t.Fatal(err)
	}
	diff(t, b.String(), wantSimulation)
}

func TestJobCard(t *testing.T) {
	j := &cairn.Job{
		JobID: "job-1", RunID: "run-1", Action: "db.write", Resource: "orders/1", Labels: map[string]string{"env": "prod", "team": "core"},
		RiskTags: []string{"pii"}, SubmittedBy: "agent-1", State: cairn.StateFailed, Decision: cairn.Allow,
		PolicySnapshot: cairn.Opt(snap), JobHash: "abc", ContextPtr: "ctx:job-1", ContextSHA256: "c0ffee",
		Attempts: 2, Error: "disk full\nretry later", CreatedAt: at(0), UpdatedAt: at(30), CompletedAt: atP(30),
	}
	want := `Job           job-1
              run run-1
Action        db.write on orders/1
Labels        env=prod,team=core
Risk tags     pii
Submitted by  agent-1 at 2026-04-01T14:10:32Z
State         FAILED
Decision      ALLOW  rule (default)
  snapshot    ` + snap + `
Job hash      abc
Approval      not required
Attempts      2
Error         disk full\nretry later
Pointers      context ctx:job-1  sha256 c0ffee
              result  -
Updated       2026-04-01T14:11:02Z
Completed     2026-04-01T14:11:02Z
`
	var b bytes.Buffer
	if err := printJobCard(&b, j); err != nil {
		t.Fatal(err)
	}
	diff(t, b.String(), want)
}

func TestTables(t *testing.T) {
	var b bytes.Buffer
	printPolicyAudit(&b, []*cairn.PolicyAudit{
		{AuditID: "p2", Action: "rollback", SnapshotBefore: "cfg:b", SnapshotAfter: "cfg:a", Actor: "admin", Message: "bad rule", Timestamp: at(60), Ledger: &cairn.LedgerRef{Index: 5}},
		{AuditID: "p1", Action: "publish", SnapshotAfter: "cfg:b", Actor: "admin", Timestamp: at(0)},
	})
	diff(t, b.String(), `TIMESTAMP             ACTION    ACTOR  BEFORE  AFTER  MESSAGE   LEDGER
2026-04-01T14:11:32Z  rollback  admin  cfg:b   cfg:a  bad rule  #5
2026-04-01T14:10:32Z  publish   admin  -       cfg:b  -         -
`)
	b.Reset()
	printApprovalsTable(&b, []*cairn.Approval{{JobID: "j1", Action: "db.write", PolicyRuleID: "r", RequestedBy: "bot", RequestedAt: at(0), ExpiresAt: atP(3600), Status: "pending", JobHash: "abc"}})
	diff(t, b.String(), `JOB_ID  ACTION    RULE  REQUESTED_BY  REQUESTED             EXPIRES               STATUS   RESOLUTION  RESOLVED_BY  JOB_HASH
j1      db.write  r     bot           2026-04-01T14:10:32Z  2026-04-01T15:10:32Z  pending  -           -            abc
`)
	b.Reset()
	printKeysTable(&b, []*cairn.Key{{KeyID: "k1", Principal: "bot", Kind: "agent", Roles: []string{"agent", "worker"}, Tenant: "default", CreatedAt: at(0), CreatedBy: "admin", RevokedAt: atP(10)}})
	diff(t, b.String(), `KEY_ID  PRINCIPAL  KIND   ROLES         TENANT   CREATED               CREATED_BY  REVOKED
k1      bot        agent  agent,worker  default  2026-04-01T14:10:32Z  admin       2026-04-01T14:10:42Z
`)
	b.Reset()
	printJobsTable(&b, nil)
	diff(t, b.String(), "no jobs\n")
}

func TestDescribe(t *testing.T) {
	g := &clientOptions{Server: "http://127.0.0.1:1", Timeout: 30 * time.Second}
	api := &client.APIError{Status: 409, Code: "job_hash_mismatch", Message: "the job changed since you reviewed it", Field: "job_hash"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{api, "job_hash_mismatch: the job changed since you reviewed it (job_hash)"},
		{&client.APIError{Status: 422, Code: "policy_invalid", Message: "unknown key \"mach\"", Line: 4}, `policy_invalid: unknown key "mach" (line 4)`},
		{&client.APIError{Status: 400, Code: "invalid_input", Message: "bad\x1b[31m"}, `invalid_input: bad\x1b[31m`},
		{&url.Error{Op: "Get", URL: "http://127.0.0.1:1/api/v1/jobs/x", Err: errors.New("connection refused")}, "unavailable: cannot reach http://127.0.0.1:1: connection refused"},
		{context.DeadlineExceeded, "timeout: no answer from http://127.0.0.1:1 within 30s (--timeout)"},
		{errors.New("plain"), "plain"},
	} {
		got := g.describe(tc.err)
		if got.Error() != tc.want {
			t.Errorf("describe(%v) = %q, want %q", tc.err, got.Error(), tc.want)
		}
		if !errors.Is(got, tc.err) && !errors.As(got, new(*client.APIError)) {
			t.Errorf("describe(%v) lost the cause", tc.err)
		}
	}
	if g.describe(nil) != nil {
		t.Error("describe(nil) != nil")
	}
	root := newRootCmd()
	for _, path := range [][]string{{"audit"}, {"audit", "job"}, {"keys"}, {"policy"}, {"jobs"}, {"approvals"}, {"worker"}} {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.ErrPrefix() != "error:" {
			t.Errorf("%s prints errors with %q", c.CommandPath(), c.ErrPrefix())
		}
	}
}

func TestHelpers(t *testing.T) {
	if got := clean("ok\tline\nnext\x1b[2J\u202e"); got != `ok\tline\nnext\x1b[2J\u202e` {
		t.Errorf("clean = %q", got)
	}
	if clean("héllo · world") != "héllo · world" {
		t.Error("clean changed printable text")
	}
	hex := strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		hex: cairn.SnapshotPrefix + hex, "sha256:" + hex: cairn.SnapshotPrefix + hex,
		cairn.SnapshotPrefix + hex: cairn.SnapshotPrefix + hex, "cfg:t:policy#sha256:" + hex: "cfg:t:policy#sha256:" + hex,
	} {
		if got := snapshotID(in); got != want {
			t.Errorf("snapshotID(%q) = %q", in, got)
		}
	}
	m, err := parseLabels([]string{"env=prod", "k=a=b"})
	if err != nil || m["env"] != "prod" || m["k"] != "a=b" {
		t.Errorf("parseLabels = %v, %v", m, err)
	}
	if _, err := parseLabels([]string{"novalue"}); err == nil {
		t.Error("parseLabels accepted novalue")
	}
}

func TestReadJSONArg(t *testing.T) {
	if raw, err := readJSONArg("input", ` {"a":1} `, nil); err != nil || string(raw) != `{"a":1}` {
		t.Errorf("readJSONArg = %s, %v", raw, err)
	}
	if _, err := readJSONArg("input", `{a:1}`, nil); err == nil || err.Error() != "--input is not valid JSON" {
		t.Errorf("readJSONArg invalid = %v", err)
	}
	if raw, err := readJSONArg("input", "-", strings.NewReader(`[1]`)); err != nil || string(raw) != `[1]` {
		t.Errorf("readJSONArg stdin = %s, %v", raw, err)
	}
	f := filepath.Join(t.TempDir(), "in.json")
	os.WriteFile(f, []byte(`{"b":2}`+"\n"), 0o600)
	if raw, err := readJSONArg("input", "@"+f, nil); err != nil || string(raw) != `{"b":2}` {
		t.Errorf("readJSONArg @file = %s, %v", raw, err)
	}
}

func TestParseTimeFlag(t *testing.T) {
	if tm, err := parseTimeFlag("since", "2026-04-01T14:10:32Z"); err != nil || !tm.Equal(t0) {
		t.Errorf("parseTimeFlag = %v, %v", tm, err)
	}
	if tm, err := parseTimeFlag("since", "1h"); err != nil || time.Since(tm) < 59*time.Minute {
		t.Errorf("parseTimeFlag 1h = %v, %v", tm, err)
	}
	if _, err := parseTimeFlag("since", "yesterday"); err == nil {
		t.Error("parseTimeFlag accepted yesterday")
	}
}

func TestSnapshotOfMatchesSHA256Sum(t *testing.T) {
	// printf 'default: deny\n' | sha256sum
	const want = "cfg:system:policy#sha256:f9b0bb885f6b55d65039dbd21e2051b883c623db853bc5e127bed691dc799e60"
	if got := snapshotOf("default: deny\n"); got != want {
		t.Errorf("snapshotOf = %q, want %q", got, want)
	}
}

// ---- Commands against a fake server ----

var cliMu sync.Mutex

// runCLI runs the cairn command line against srv and returns stdout,
// stderr and the error Execute returned.
func runCLI(t *testing.T, srv *httptest.Server, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	rootCmd := newRootCmd()
	t.Setenv("CAIRN_KEY", "")
	t.Setenv("CAIRN_KEY_FILE", "")
	var out, errb bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errb)
	rootCmd.SetIn(strings.NewReader(stdin))
	rootCmd.SetArgs(append([]string{"--server", srv.URL, "--key", "ck_cli_test"}, args...))
	err := rootCmd.Execute()
	return out.String(), errb.String(), err
}

type recorded struct {
	method, path, query, body string
}

// fakeServer answers routes ("METHOD /path") with canned JSON and records
// every request.
func fakeServer(t *testing.T, routes map[string]func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *[]recorded) {
	var mu sync.Mutex
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer ck_cli_test" {
			t.Errorf("%s %s: Authorization = %q", r.Method, r.URL.Path, got)
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)})
		mu.Unlock()
		h, ok := routes[r.Method+" "+r.URL.EscapedPath()]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"no such route in the fake","request_id":"r0"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func answer(status int, v any) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		if s, ok := v.(string); ok {
			io.WriteString(w, s)
			return
		}
		json.NewEncoder(w).Encode(v)
	}
}

func TestAuditJobCommand(t *testing.T) {
	srv, _ := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/jobs/job-123/evidence": answer(200, fixtureRecord()),
	})
	out, _, err := runCLI(t, srv, "", "audit", "job", "job-123")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, out, wantCard)

	out, _, err = runCLI(t, srv, "", "audit", "job", "job-123", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	for _, k := range []string{"run_id", "workflow_step_id", "job_id", "trace_id", "decision", "policy_rule_id", "policy_reason",
		"policy_snapshot", "job_hash", "approval_required", "resolution", "resolved_by", "resolved_comment", "context_ptr",
		"result_ptr", "output_safety", "timestamp"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("--json lacks %s", k)
		}
	}
	if !strings.Contains(out, "\n  \"job_id\": \"job-123\"") {
		t.Errorf("--json is not indented:\n%s", out)
	}

	_, _, err = runCLI(t, srv, "", "audit", "job", "nope")
	if err == nil || err.Error() != "not_found: no such route in the fake" {
		t.Errorf("missing job: err = %v", err)
	}
}

func TestAuditRunCommand(t *testing.T) {
	r, evs := fixtureRun()
	srv, reqs := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/workflow-runs/run-7": answer(200, r),
		"GET /api/v1/workflow-runs/run-7/timeline": func(w http.ResponseWriter, req *http.Request) {
			if l := req.URL.Query().Get("limit"); l != "4" && l != "200" {
				t.Errorf("limit = %q", req.URL.Query().Get("limit"))
			}
			next := "p2"
			if req.URL.Query().Get("cursor") == "" {
				json.NewEncoder(w).Encode(cairn.List[*cairn.Event]{Items: evs[:4], NextCursor: &next})
				return
			}
			json.NewEncoder(w).Encode(cairn.List[*cairn.Event]{Items: evs[4:]})
		},
	})
	out, _, err := runCLI(t, srv, "", "audit", "run", "run-7", "--limit", "4")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, out, wantTimeline)
	if n := len(*reqs); n != 3 {
		t.Errorf("made %d requests, want 3 (run + 2 timeline pages)", n)
	}

	out, _, err = runCLI(t, srv, "", "audit", "run", "run-7", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got runAudit
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Timeline) != 7 || got.Run.RunID != "run-7" {
		t.Errorf("--json: %v, %+v", err, got)
	}
}

// approveServer is a fake server with a job pending approval (job-9) and
// one whose hash no longer matches (job-10).
func approveServer(t *testing.T) (*httptest.Server, *[]recorded) {
	job := &cairn.Job{JobID: "job-9", Action: "db.delete", SubmittedBy: "agent-1", State: cairn.StatePendingApproval,
		Decision: cairn.RequireApproval, PolicyRuleID: "prod", JobHash: "h123", ApprovalRequired: true, ContextPtr: "ctx:job-9", CreatedAt: at(0)}
	approved := &cairn.Approval{JobID: "job-9", JobHash: "h123", Status: "resolved", Resolution: "approved", ResolvedBy: "alice", ResolvedAt: atP(5)}
	return fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/jobs/job-9":                answer(200, job),
		"GET /api/v1/jobs/job-9/context":        answer(200, `{"table":"orders","where":"id=42"}`),
		"POST /api/v1/approvals/job-9/approve":  answer(200, approved),
		"POST /api/v1/approvals/job-10/approve": answer(409, `{"error":{"code":"job_hash_mismatch","message":"the job changed since it was reviewed","request_id":"r9","field":"job_hash"}}`),
	})
}

// Without --hash and --yes: show the job, resolve nothing.
func TestApproveCommand(t *testing.T) {
	srv, reqs := approveServer(t)
	out, _, err := runCLI(t, srv, "", "approvals", "approve", "job-9", "-m", "ok")
	if err == nil || !strings.HasPrefix(err.Error(), "confirmation_required: ") || !strings.Contains(err.Error(), "--hash h123") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(out, "Job hash      h123") || !strings.Contains(out, `Input         {"table":"orders","where":"id=42"}`) {
		t.Errorf("review output:\n%s", out)
	}
	for _, r := range *reqs {
		if r.method == "POST" {
			t.Errorf("resolved without confirmation: %+v", r)
		}
	}
}

// With --yes: the fetched hash is sent.
func TestApproveYesSendsTheFetchedHash(t *testing.T) {
	srv, reqs := approveServer(t)
	out, _, err := runCLI(t, srv, "", "approvals", "approve", "job-9", "--yes", "-m", "ok")
	if err != nil {
		t.Fatal(err)
	}
	last := (*reqs)[len(*reqs)-1]
	if last.method != "POST" || last.body != `{"job_hash":"h123","comment":"ok"}` {
		t.Errorf("approve request = %+v", last)
	}
	if !strings.HasSuffix(out, "job job-9 approved by alice at 2026-04-01T14:10:37Z (job_hash h123)\n") {
		t.Errorf("output:\n%s", out)
	}
}

// With --hash: no fetch; an API error is worded as code: message (field).
func TestApproveWithHash(t *testing.T) {
	srv, reqs := approveServer(t)
	if _, _, err := runCLI(t, srv, "", "approvals", "approve", "job-9", "--hash", "h123"); err != nil {
		t.Fatal(err)
	}
	if len(*reqs) != 1 || (*reqs)[0].body != `{"job_hash":"h123","comment":""}` {
		t.Errorf("requests = %+v", *reqs)
	}
	_, _, err := runCLI(t, srv, "", "approvals", "approve", "job-10", "--hash", "old")
	if err == nil || err.Error() != "job_hash_mismatch: the job changed since it was reviewed (job_hash)" {
		t.Errorf("err = %v", err)
	}
	if !client.IsCode(err, cairn.CodeJobHashMismatch) {
		t.Errorf("the APIError is not reachable from %T", err)
	}
}

func TestJobsSubmitCommand(t *testing.T) {
	srv, reqs := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/jobs": answer(201, &cairn.Job{JobID: "j1", Action: "db.write", State: cairn.StatePendingApproval,
			Decision: cairn.RequireApproval, PolicyRuleID: "prod", JobHash: "hh", ContextPtr: "ctx:j1"}),
	})
	out, errOut, err := runCLI(t, srv, `{"id":42}`, "jobs", "submit", "--action", "db.write", "--resource", "orders/42",
		"--label", "env=prod", "--label", "team=core", "--run", "r1", "--job-id", "j1", "--input", "-")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.Unmarshal([]byte((*reqs)[0].body), &body)
	want := `{"action":"db.write","input":{"id":42},"job_id":"j1","labels":{"env":"prod","team":"core"},"resource":"orders/42","run_id":"r1"}`
	if got, _ := json.Marshal(body); string(got) != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
	if !strings.Contains(out, "State         PENDING_APPROVAL") || !strings.Contains(errOut, "cairn approvals approve j1 --hash hh") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}

	_, _, err = runCLI(t, srv, "", "jobs", "submit", "--action", "x", "--input", "{nope")
	if err == nil || err.Error() != "--input is not valid JSON" {
		t.Errorf("err = %v", err)
	}
}

func TestKeysCreateCommand(t *testing.T) {
	srv, reqs := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/keys": answer(201, &cairn.CreatedKey{Key: "ck_secret_once", KeyID: "k7", Principal: "bot", Kind: "agent", Tenant: "default", Roles: []string{"agent", "worker"}}),
	})
	out, errOut, err := runCLI(t, srv, "", "keys", "create", "--principal", "bot", "--kind", "agent", "--role", "agent", "--role", "worker")
	if err != nil {
		t.Fatal(err)
	}
	if (*reqs)[0].body != `{"principal":"bot","kind":"agent","roles":["agent","worker"]}` {
		t.Errorf("body = %s", (*reqs)[0].body)
	}
	diff(t, out, `Key ID        k7
Principal     bot (agent)
Tenant        default
Roles         agent, worker
Key           ck_secret_once
`)
	if !strings.Contains(errOut, "shown once") {
		t.Errorf("stderr = %q", errOut)
	}

	// --out keeps the key off the terminal.
	path := filepath.Join(t.TempDir(), "bot.key")
	out, _, err = runCLI(t, srv, "", "keys", "create", "--principal", "bot", "--kind", "agent", "--role", "agent", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "ck_secret_once") {
		t.Error("--out printed the key")
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "ck_secret_once\n" {
		t.Errorf("key file = %q, %v", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v", fi.Mode())
	}

	n := len(*reqs)
	for _, args := range [][]string{
		{"keys", "create", "--principal", "bot", "--kind", "robot", "--role", "agent"},
		{"keys", "create", "--principal", "bot", "--kind", "agent", "--role", "root"},
		{"keys", "create", "--principal", "bot", "--kind", "agent"},
	} {
		if _, _, err := runCLI(t, srv, "", args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if len(*reqs) != n {
		t.Error("invalid keys create reached the server")
	}
}

func TestPolicyPublishCommand(t *testing.T) {
	bundle := "default: deny\nrules: []\n"
	srv, reqs := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/policy/publish": func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(&cairn.PolicyChange{PolicySnapshot: snapshotOf(bundle), Changed: true,
				Audit: &cairn.PolicyAudit{AuditID: "pa1", Action: "publish", Actor: "admin", Timestamp: at(0), Message: "first"}})
		},
	})
	f := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(f, []byte(bundle), 0o600)
	out, errOut, err := runCLI(t, srv, "", "policy", "publish", f, "-m", "first")
	if err != nil {
		t.Fatal(err)
	}
	var req cairn.PublishRequest
	json.Unmarshal([]byte((*reqs)[0].body), &req)
	if req.Bundle != bundle || req.Message != "first" {
		t.Errorf("request = %+v", req)
	}
	if errOut != "" {
		t.Errorf("stderr = %q", errOut)
	}
	diff(t, out, `Active        `+snapshotOf(bundle)+` (published)
Audit         pa1 publish by admin at 2026-04-01T14:10:32Z
  message     first
`)
}

func TestPolicyErrorsNameTheLine(t *testing.T) {
	srv, _ := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/policy/publish": answer(422, `{"error":{"code":"policy_invalid","message":"unknown decision \"ALOW\"","request_id":"r","field":"rules[1].decision","line":9}}`),
	})
	_, _, err := runCLI(t, srv, "bad", "policy", "publish", "-")
	if err == nil || err.Error() != `policy_invalid: unknown decision "ALOW" (rules[1].decision, line 9)` {
		t.Errorf("err = %v", err)
	}
}

func TestSimulateCommand(t *testing.T) {
	srv, reqs := fakeServer(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/policy/simulate": answer(200, fixtureSimulation()),
	})
	out, _, err := runCLI(t, srv, "", "policy", "simulate", "--action", "db.write", "--label", "env=prod", "--input", `{"n":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if (*reqs)[0].body != `{"job":{"action":"db.write","labels":{"env":"prod"},"input":{"n":1}}}` {
		t.Errorf("body = %s", (*reqs)[0].body)
	}
	diff(t, out, wantSimulation)
}

func TestKeyResolution(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CAIRN_KEY", "")
	t.Setenv("CAIRN_KEY_FILE", "")
	g := &clientOptions{}
	if _, err := g.resolveKey(); err == nil {
		t.Error("no key: no error")
	}
	os.Mkdir("cairn-data", 0o700)
	os.WriteFile(filepath.Join("cairn-data", "admin.key"), []byte("ck_admin\n"), 0o600)
	if k, _ := g.resolveKey(); k != "ck_admin" {
		t.Errorf("default key file: %q", k)
	}
	t.Setenv("CAIRN_KEY", "ck_env")
	if k, _ := g.resolveKey(); k != "ck_env" {
		t.Errorf("env: %q", k)
	}
	os.WriteFile("k", []byte(" ck_file \n"), 0o600)
	g.KeyFile = "k"
	if k, _ := g.resolveKey(); k != "ck_file" {
		t.Errorf("--key-file: %q", k)
	}
	g.Key = "ck_flag"
	if _, err := g.resolveKey(); err == nil {
		t.Error("--key with --key-file: no error")
	}
	g.KeyFile = ""
	if k, _ := g.resolveKey(); k != "ck_flag" {
		t.Errorf("--key: %q", k)
	}
}

func TestWorkerHandlers(t *testing.T) {
	job := &cairn.LeasedJob{JobID: "j1", Action: "db.read", JobHash: "hh", Input: json.RawMessage(`{"q":1}`)}
	if res, err := echoHandler(context.Background(), job); err != nil || string(res) != `{"q":1}` {
		t.Errorf("echo = %s, %v", res, err)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	t.Setenv("CAIRN_KEY", "ck_must_not_leak")
	for _, tc := range []struct{ cmd, want, wantErr string }{
		{cmd: "cat", want: `{"q":1}`},
		{cmd: "echo hello", want: `"hello"`},
		{cmd: `printf '{"id":"%s","a":"%s","k":"%s"}' "$CAIRN_JOB_ID" "$CAIRN_ACTION" "$CAIRN_KEY"`, want: `{"id":"j1","a":"db.read","k":""}`},
		{cmd: "true", want: `null`},
		{cmd: "echo nope >&2; exit 3", wantErr: "exit status 3: nope"},
	} {
		res, err := execHandler(tc.cmd)(context.Background(), job)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: err = %v, want %s", tc.cmd, err, tc.wantErr)
			}
			continue
		}
		if err != nil || string(res) != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.cmd, res, err, tc.want)
		}
	}
	expired := *job
	expired.LeaseExpiresAt = time.Now().Add(100 * time.Millisecond)
	if _, err := execHandler("exec sleep 5")(context.Background(), &expired); err == nil || !strings.Contains(err.Error(), "lease expired") {
		t.Errorf("lease expiry: %v", err)
	}
}

func TestWorkerFlagsValidated(t *testing.T) {
	srv, reqs := fakeServer(t, nil)
	for _, args := range [][]string{
		{"worker", "--echo"},
		{"worker", "--action", "db.*"},
		{"worker", "--action", "db.*", "--echo", "--exec", "cat"},
	} {
		if _, _, err := runCLI(t, srv, "", args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if len(*reqs) != 0 {
		t.Error("invalid worker flags reached the server")
	}
}

func TestWorkflowRunDAG(t *testing.T) {
	r := &cairn.Run{RunID: "run-9", Status: cairn.RunFailed, StartedBy: "agent-1", CreatedAt: at(0), UpdatedAt: at(9), CompletedAt: atP(9),
		WorkflowID: "wf:default:refund#sha256:ab", Reason: "step transfer: job failed\x1b[2J"}
	dag := []*dagStep{
		{StepID: "lookup", DependsOn: []string{}, Status: cairn.StepSucceeded, Attempts: 1, JobID: "run-9.lookup.1", Decision: cairn.Allow, RuleID: "reads", Approvers: []string{}, Output: "ALLOW (out-1)"},
		{StepID: "transfer", DependsOn: []string{"lookup"}, Depth: 1, Status: cairn.StepFailed, Attempts: 3, JobID: "run-9.transfer.3", Decision: cairn.RequireApproval, RuleID: "big",
			Approvers: []string{"alice (approved, gate)", "bob (approved, policy)"}, GateStatus: cairn.GateApproved},
		{StepID: "notify", DependsOn: []string{"transfer"}, Depth: 2, Status: cairn.StepCancelled, Approvers: []string{}},
	}
	evs := []*cairn.Event{{Seq: 1, Type: cairn.EventStepRetryScheduled, Timestamp: at(3), RunID: "run-9", WorkflowStepID: "transfer", JobID: "run-9.transfer.1", Actor: "cairn",
		Data: map[string]any{"step_status": "retry_wait", "attempt": float64(1), "error": "job failed: timeout"}}}
	var b bytes.Buffer
	if err := printRunTimeline(&b, r, dag, evs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Workflow      wf:default:refund#sha256:ab",
		"Reason        step transfer: job failed",
		"  lookup      -         succeeded             1      run-9.lookup.1    ALLOW (reads)           -                                               ALLOW (out-1)",
		"  └ transfer  lookup    failed gate:approved  3      run-9.transfer.3  REQUIRE_APPROVAL (big)  alice (approved, gate), bob (approved, policy)  -",
		"    └ notify  transfer  cancelled             0      -                 -                       -                                               -",
		`step=retry_wait attempt=1 error="job failed: timeout"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("control characters reach the terminal")
	}
}
