package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger"
)

// TestHostileRequests sends malformed, oversized, injected and unauthorised
// requests. Each must get its documented status and code, the server must
// keep serving, and nothing partial may be stored.
func TestHostileRequests(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	good := e.Submit("agent-1", cairn.SubmitRequest{JobID: "known-job", Action: "db.write", Labels: map[string]string{"env": "prod"}})

	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	big := `{"action":"db.read","input":{"x":"` + strings.Repeat("a", 10<<20) + `"}}`
	longID := strings.Repeat("j", 257)
	invalidUTF8 := []byte("{\"action\":\"db.read\",\"resource\":\"\xff\xfe\"}")

	cases := []struct {
		name, as, method, path string
		body                   any
		status                 int
		code                   string
	}{
		{"malformed json", "agent-1", "POST", "/api/v1/jobs", `{"action":`, 400, cairn.EInvalid},
		{"not an object", "agent-1", "POST", "/api/v1/jobs", `[1,2,3]`, 400, cairn.EInvalid},
		{"empty body", "agent-1", "POST", "/api/v1/jobs", ``, 400, cairn.EInvalid},
		{"trailing data", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read"} {"x":1}`, 400, cairn.EInvalid},
		{"wrong type action", "agent-1", "POST", "/api/v1/jobs", `{"action":42}`, 400, cairn.EInvalid},
		{"wrong type labels", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","labels":["a"]}`, 400, cairn.EInvalid},
		{"label value not string", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","labels":{"env":1}}`, 400, cairn.EInvalid},
		{"missing action", "agent-1", "POST", "/api/v1/jobs", `{"input":{}}`, 400, cairn.EInvalid},
		{"unknown field", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","acton":"x"}`, 400, cairn.EInvalid},
		{"10 MB body", "agent-1", "POST", "/api/v1/jobs", big, 413, cairn.ETooLarge},
		{"10000-deep nesting", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","input":` + deep + `}`, 400, cairn.EInvalid},
		{"invalid utf-8", "agent-1", "POST", "/api/v1/jobs", invalidUTF8, 400, cairn.EInvalid},
		{"sql in job_id", "agent-1", "POST", "/api/v1/jobs", `{"job_id":"x'; DROP TABLE jobs;--","action":"db.read"}`, 400, cairn.EInvalid},
		{"path in job_id", "agent-1", "POST", "/api/v1/jobs", `{"job_id":"../../etc/passwd","action":"db.read"}`, 400, cairn.EInvalid},
		{"path in action", "agent-1", "POST", "/api/v1/jobs", `{"action":"db/../../x"}`, 400, cairn.EInvalid},
		{"job_id over 256 bytes", "agent-1", "POST", "/api/v1/jobs", `{"job_id":"` + longID + `","action":"db.read"}`, 400, cairn.EInvalid},
		{"control char in resource", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","resource":"a\u0000b"}`, 400, cairn.EInvalid},
		{"duplicate risk tags", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","risk_tags":["pii","pii"]}`, 400, cairn.EInvalid},
		{"huge number input ok but id bad", "agent-1", "POST", "/api/v1/jobs", `{"job_id":"1e99999","action":"db read"}`, 400, cairn.EInvalid},
		{"sql in path id", "auditor-1", "GET", "/api/v1/jobs/" + url.PathEscape("x' OR '1'='1"), nil, 400, cairn.EInvalid},
		{"long path id", "auditor-1", "GET", "/api/v1/jobs/" + longID, nil, 400, cairn.EInvalid},
		{"unknown job", "auditor-1", "GET", "/api/v1/jobs/no-such-job", nil, 404, cairn.ENotFound},
		{"unknown run", "auditor-1", "GET", "/api/v1/workflow-runs/no-such-run/timeline", nil, 404, cairn.ENotFound},
		{"negative limit", "auditor-1", "GET", "/api/v1/jobs?limit=-1", nil, 400, cairn.EInvalid},
		{"absurd limit", "auditor-1", "GET", "/api/v1/jobs?limit=99999999999999999999", nil, 400, cairn.EInvalid},
		{"zero limit", "auditor-1", "GET", "/api/v1/approvals?limit=0", nil, 400, cairn.EInvalid},
		{"forged cursor", "auditor-1", "GET", "/api/v1/jobs?cursor=Zm9yZ2Vk", nil, 400, cairn.CodeInvalidCursor},
		{"cursor from another list", "auditor-1", "GET", "/api/v1/jobs?cursor=" + *mustCursor("approvals"), nil, 400, cairn.CodeInvalidCursor},
		{"bad timestamp filter", "auditor-1", "GET", "/api/v1/jobs?since=yesterday", nil, 400, cairn.EInvalid},
		{"bad state filter", "auditor-1", "GET", "/api/v1/jobs?state=HACKED", nil, 400, cairn.EInvalid},
		{"unknown query param", "auditor-1", "GET", "/api/v1/approvals?include_resolvd=true", nil, 400, cairn.EInvalid},
		{"negative after", "auditor-1", "GET", "/api/v1/workflow-runs/r/timeline?after=-5", nil, 400, cairn.EInvalid},
		{"no key", "", "GET", "/api/v1/jobs", nil, 401, cairn.EUnauthorized},
		{"wrong key", "nobody", "GET", "/api/v1/jobs", nil, 401, cairn.EUnauthorized},
		{"wrong role submit", "auditor-1", "POST", "/api/v1/jobs", `{"action":"db.read"}`, 403, cairn.EForbidden},
		{"wrong role lease", "agent-1", "POST", "/api/v1/workers/lease", `{}`, 403, cairn.EForbidden},
		{"wrong role approve", "agent-1", "POST", "/api/v1/approvals/known-job/approve", map[string]string{"job_hash": good.JobHash}, 403, cairn.CodeRoleNotAllowed},
		{"wrong role approvals list", "worker-1", "GET", "/api/v1/approvals", nil, 403, cairn.EForbidden},
		{"wrong tenant", "other-tenant", "GET", "/api/v1/jobs/known-job", nil, 404, cairn.ENotFound},
		{"approve unknown job", "manager-2", "POST", "/api/v1/approvals/no-such-job/approve", map[string]string{"job_hash": strings.Repeat("a", 64)}, 404, cairn.CodeNoApprovalPending},
		{"approve without hash", "manager-2", "POST", "/api/v1/approvals/known-job/approve", `{"comment":"ok"}`, 400, cairn.EInvalid},
		{"lease absurd max", "worker-1", "POST", "/api/v1/workers/lease", `{"max":1000000}`, 400, cairn.EInvalid},
		{"lease negative wait", "worker-1", "POST", "/api/v1/workers/lease", `{"wait_ms":-1}`, 400, cairn.EInvalid},
		{"lease huge number", "worker-1", "POST", "/api/v1/workers/lease", `{"max":1e400}`, 400, cairn.EInvalid},
		{"complete without lease", "worker-1", "POST", "/api/v1/jobs/known-job/complete", `{"lease_id":"forged","status":"succeeded"}`, 409, cairn.CodeLeaseInvalid},
		{"complete bad status", "worker-1", "POST", "/api/v1/jobs/known-job/complete", `{"lease_id":"x","status":"done"}`, 400, cairn.EInvalid},
		{"unknown endpoint", "auditor-1", "GET", "/api/v1/nope", nil, 404, cairn.ENotFound},
		{"wrong method", "auditor-1", "DELETE", "/api/v1/jobs", nil, 405, cairn.EMethod},
		{"rollback to unknown snapshot", "polly", "POST", "/api/v1/policy/rollback", `{"to":"cfg:system:policy#sha256:00"}`, 404, cairn.ENotFound},
		{"key with unknown role", "admin", "POST", "/api/v1/keys", `{"principal":"p","kind":"human","roles":["root"]}`, 400, cairn.EInvalid},
		{"job into another agent's run", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","run_id":"run-of-agent-3"}`, 403, cairn.CodeRunNotOwned},
		{"policy change from another tenant", "other-polly", "POST", "/api/v1/policy/publish", `{"bundle":"default: allow\n"}`, 403, cairn.EForbidden},
		{"openapi without key", "", "GET", "/api/v1/openapi.json", nil, 401, cairn.EUnauthorized},
		{"lease overflowing wait", "worker-1", "POST", "/api/v1/workers/lease", `{"wait_ms":10000000000000}`, 400, cairn.EInvalid},
		{"lease overflowing lease", "worker-1", "POST", "/api/v1/workers/lease", `{"lease_ms":10000000000000}`, 400, cairn.EInvalid},
		{"decisions unknown param", "auditor-1", "GET", "/api/v1/jobs/known-job/decisions?foo=1", nil, 400, cairn.EInvalid},
		{"key with sql principal", "admin", "POST", "/api/v1/keys", `{"principal":"a' --","kind":"human","roles":["agent"]}`, 400, cairn.EInvalid},
		// Issue 11: numbers float64 cannot hold as written; candidate bundles need policy_admin.
		{"number rounded by float64", "agent-1", "POST", "/api/v1/jobs", `{"action":"payments.transfer","input":{"amount":10000.0000000000001}}`, 400, cairn.EInvalid},
		{"integer past 2^53", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","input":{"ids":[9007199254740993]}}`, 400, cairn.EInvalid},
		{"number out of range", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","input":{"x":1e400}}`, 400, cairn.EInvalid},
		{"simulate rounded number", "polly", "POST", "/api/v1/policy/simulate", `{"job":{"action":"payments.transfer","input":{"amount":10000.0000000000001}}}`, 400, cairn.EInvalid},
		{"simulate candidate bundle as auditor", "auditor-1", "POST", "/api/v1/policy/simulate", `{"job":{"action":"db.read"},"bundle":"default: allow\n"}`, 403, cairn.EForbidden},
	}
	e.Key("other-admin", "human", "auditor")
	// A principal in another tenant.
	var other cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "intruder", Kind: "human", Roles: []string{"auditor"}, Tenant: "acme"}, 201, &other)
	e.Keys["other-tenant"] = other.Key
	e.Keys["nobody"] = "cairn_not_a_real_key_at_all_000000"
	var op cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "other-polly", Kind: "human", Roles: []string{"policy_admin"}, Tenant: "acme"}, 201, &op)
	e.Keys["other-polly"] = op.Key
	e.Key("agent-3", "agent", "agent")
	e.Submit("agent-3", cairn.SubmitRequest{Action: "db.read", RunID: "run-of-agent-3"})

	jobsBefore := countJobs(e)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.T = t
			e.ErrCode(c.as, c.method, c.path, c.body, c.status, c.code)
		})
	}
	e.T = t
	if n := countJobs(e); n != jobsBefore {
		t.Fatalf("hostile requests stored %d jobs", n-jobsBefore)
	}
	// The server still serves.
	e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read"})
}

func countJobs(e *env) int {
	var l cairn.List[*cairn.Job]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs?limit=1000", nil, 200, &l)
	return len(l.Items)
}

func mustCursor(kind string) *string { return service.EncodeCursor(kind, 1) }

// TestInvalidBundles publishes broken policy bundles: each is a 422 naming
// the line, and the active policy does not change.
func TestInvalidBundles(t *testing.T) {
	e := newEnv(t)
	snap := e.publish(seedPolicy)
	cases := []struct {
		name, bundle string
		line         int
	}{
		{"not yaml", "rules: [\n", 0},
		{"not a mapping", "- a\n- b\n", 1},
		{"unknown top-level key", "default: deny\nrulez: []\n", 2},
		{"unknown rule key", "rules:\n  - id: a\n    decison: ALLOW\n    reason: r\n", 3},
		{"missing decision", "rules:\n  - id: a\n    reason: r\n", 2},
		{"bad decision", "rules:\n  - id: a\n    decision: MAYBE\n    reason: r\n", 3},
		{"duplicate ids", "rules:\n  - id: a\n    decision: ALLOW\n    reason: r\n  - id: a\n    decision: DENY\n    reason: r\n", 5},
		{"cel syntax", "rules:\n  - id: a\n    when: 'input.amount >'\n    decision: DENY\n    reason: r\n", 3},
		{"cel not bool", "rules:\n  - id: a\n    when: '1 + 2'\n    decision: DENY\n    reason: r\n", 3},
		{"cel unknown var", "rules:\n  - id: a\n    when: 'secret == 1'\n    decision: DENY\n    reason: r\n", 3},
		{"approval missing", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n", 2},
		{"approval bad role", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval: {approver_roles: [king]}\n", 5},
		{"bad default", "default: perhaps\n", 1},
		{"output rule bad scanner", "output_rules:\n  - id: o\n    scanners: [tarot]\n    decision: QUARANTINE\n", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.T = t
			status, raw := e.Do("polly", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: strings.ReplaceAll(c.bundle, `\n`, "\n")})
			var eb struct {
				Error struct {
					Code    string
					Message string
					Line    int
				} `json:"error"`
			}
			json.Unmarshal(raw, &eb)
			if status != 422 || eb.Error.Code != cairn.EPolicy || eb.Error.Message == "" {
				t.Fatalf("status %d code %q: %s", status, eb.Error.Code, raw)
			}
			if c.line > 0 && eb.Error.Line != c.line {
				t.Fatalf("line %d, want %d: %s", eb.Error.Line, c.line, raw)
			}
		})
	}
	e.T = t
	var active cairn.ActivePolicy
	e.MustDo("auditor-1", "GET", "/api/v1/policy", nil, 200, &active)
	if string(active.PolicySnapshot) != snap {
		t.Fatal("an invalid bundle changed the active policy")
	}
}

// TestHostileWorkflowRequests does for the workflow API what
// TestHostileRequests does for jobs: each bad request gets its status and
// code, nothing is registered or started, and the server keeps serving.
func TestHostileWorkflowRequests(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	w := e.register("name: ok\nsteps:\n  - id: a\n    action: tool.a\n  - id: b\n    action: tool.b\n    depends_on: [a]\n    gate: {quorum: 1}\n")
	e.startRun("agent-1", "run-h", w.WorkflowID, nil)
	e.work(succeed("x"), "tool.a")
	gate := e.Run("run-h").Step("b").Gate

	deepDef := "name: deep\nsteps:\n  - id: a\n    action: tool.a\n    input: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n"
	bigInput := `{"workflow_id":"ok","input":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	longID := strings.Repeat("r", 257)
	wid := url.PathEscape(w.WorkflowID)
	cases := []struct {
		name, as, method, path string
		body                   any
		status                 int
		code                   string
	}{
		{"register malformed json", "polly", "POST", "/api/v1/workflows", `{"definition":`, 400, cairn.EInvalid},
		{"register unknown field", "polly", "POST", "/api/v1/workflows", `{"definition":"x","defintion":"y"}`, 400, cairn.EInvalid},
		{"register not yaml", "polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: "name: [\n"}, 422, cairn.CodeWorkflowInvalid},
		{"register deep nesting", "polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: deepDef}, 422, cairn.CodeWorkflowInvalid},
		{"register yaml alias bomb", "polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: "name: x\na: &a [1,1,1]\nb: [*a,*a,*a]\nsteps:\n  - id: s\n    action: tool.a\n"}, 422, cairn.CodeWorkflowInvalid},
		{"register sql in name", "polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: "name: \"x'; DROP TABLE runs;--\"\nsteps:\n  - id: s\n    action: tool.a\n"}, 422, cairn.CodeWorkflowInvalid},
		{"register path in action", "polly", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: "name: x\nsteps:\n  - id: s\n    action: ../../etc\n"}, 422, cairn.CodeWorkflowInvalid},
		{"register over 1 MB body", "polly", "POST", "/api/v1/workflows", `{"definition":"` + strings.Repeat("a", 2<<20) + `"}`, 413, cairn.ETooLarge},
		{"register as agent", "agent-1", "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: "name: x\nsteps:\n  - id: s\n    action: tool.a\n"}, 403, cairn.EForbidden},
		{"read definitions as worker", "worker-1", "GET", "/api/v1/workflows", nil, 403, cairn.EForbidden},
		{"unknown workflow", "agent-1", "GET", "/api/v1/workflows/" + url.PathEscape("wf:default:nope#sha256:00"), nil, 404, cairn.ENotFound},
		{"workflow from another tenant", "other-tenant", "GET", "/api/v1/workflows/" + wid, nil, 404, cairn.ENotFound},
		{"start without workflow", "agent-1", "POST", "/api/v1/workflow-runs", `{"input":{}}`, 400, cairn.EInvalid},
		{"start unknown workflow", "agent-1", "POST", "/api/v1/workflow-runs", `{"workflow_id":"nope"}`, 404, cairn.ENotFound},
		{"start with sql run_id", "agent-1", "POST", "/api/v1/workflow-runs", `{"workflow_id":"ok","run_id":"r'; DROP TABLE runs;--"}`, 400, cairn.EInvalid},
		{"start with long run_id", "agent-1", "POST", "/api/v1/workflow-runs", `{"workflow_id":"ok","run_id":"` + longID + `"}`, 400, cairn.EInvalid},
		{"start with 2 MB input", "agent-1", "POST", "/api/v1/workflow-runs", bigInput, 413, cairn.ETooLarge},
		{"start as auditor", "auditor-1", "POST", "/api/v1/workflow-runs", `{"workflow_id":"ok"}`, 403, cairn.EForbidden},
		{"start over an ad-hoc run", "agent-3", "POST", "/api/v1/workflow-runs", `{"workflow_id":"ok","run_id":"adhoc-run"}`, 409, cairn.CodeRunConflict},
		{"list runs bad status", "auditor-1", "GET", "/api/v1/workflow-runs?status=HACKED", nil, 400, cairn.EInvalid},
		{"list runs unknown param", "auditor-1", "GET", "/api/v1/workflow-runs?statuz=failed", nil, 400, cairn.EInvalid},
		{"list runs forged cursor", "auditor-1", "GET", "/api/v1/workflow-runs?cursor=Zm9yZ2Vk", nil, 400, cairn.CodeInvalidCursor},
		{"cancel another agent's run", "agent-2", "POST", "/api/v1/workflow-runs/run-h/cancel", `{}`, 404, cairn.ENotFound},
		{"cancel unknown run", "agent-1", "POST", "/api/v1/workflow-runs/no-such-run/cancel", `{}`, 404, cairn.ENotFound},
		{"cancel an ad-hoc run", "agent-3", "POST", "/api/v1/workflow-runs/adhoc-run/cancel", `{}`, 409, cairn.CodeWorkflowRun},
		{"cancel reason with control chars", "agent-1", "POST", "/api/v1/workflow-runs/run-h/cancel", `{"reason":"a\u0000b"}`, 400, cairn.EInvalid},
		{"rerun a running run", "agent-1", "POST", "/api/v1/workflow-runs/run-h/rerun", `{}`, 409, cairn.CodeRunNotFinished},
		{"vote without hash", "manager-2", "POST", "/api/v1/workflow-runs/run-h/steps/b/approve", `{"comment":"ok"}`, 400, cairn.EInvalid},
		{"vote with non-hex hash", "manager-2", "POST", "/api/v1/workflow-runs/run-h/steps/b/approve", cairn.GateVoteRequest{JobHash: strings.Repeat("Z", 64)}, 400, cairn.EInvalid},
		{"vote with a path as step", "manager-2", "POST", "/api/v1/workflow-runs/run-h/steps/" + url.PathEscape("../a") + "/approve", cairn.GateVoteRequest{JobHash: gate.JobHash}, 400, cairn.EInvalid},
		{"vote on a step without gate", "manager-2", "POST", "/api/v1/workflow-runs/run-h/steps/a/approve", cairn.GateVoteRequest{JobHash: gate.JobHash}, 404, cairn.ENotFound},
		{"vote as worker", "worker-1", "POST", "/api/v1/workflow-runs/run-h/steps/b/approve", cairn.GateVoteRequest{JobHash: gate.JobHash}, 403, cairn.CodeRoleNotAllowed},
		{"vote from another tenant", "other-tenant", "POST", "/api/v1/workflow-runs/run-h/steps/b/approve", cairn.GateVoteRequest{JobHash: gate.JobHash}, 404, cairn.ENotFound},
		{"submit into a workflow run", "agent-1", "POST", "/api/v1/jobs", `{"action":"tool.x","run_id":"run-h"}`, 409, cairn.CodeWorkflowRun},
		{"start with a number rounded by float64", "agent-1", "POST", "/api/v1/workflow-runs", `{"workflow_id":"ok","input":{"amount":10000.0000000000001}}`, 400, cairn.EInvalid},
	}
	var other cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "intruder", Kind: "human", Roles: []string{"auditor", "approver"}, Tenant: "acme"}, 201, &other)
	e.Keys["other-tenant"] = other.Key
	e.Key("agent-3", "agent", "agent")
	e.Submit("agent-3", cairn.SubmitRequest{Action: "db.read", RunID: "adhoc-run"})

	var before cairn.List[*cairn.Workflow]
	e.MustDo("auditor-1", "GET", "/api/v1/workflows", nil, 200, &before)
	var runsBefore cairn.List[*cairn.Run]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs", nil, 200, &runsBefore)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.T = t
			e.ErrCode(c.as, c.method, c.path, c.body, c.status, c.code)
		})
	}
	e.T = t
	var after cairn.List[*cairn.Workflow]
	e.MustDo("auditor-1", "GET", "/api/v1/workflows", nil, 200, &after)
	var runsAfter cairn.List[*cairn.Run]
	e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs", nil, 200, &runsAfter)
	if len(after.Items) != len(before.Items) || len(runsAfter.Items) != len(runsBefore.Items) {
		t.Fatalf("hostile requests stored workflows (%d -> %d) or runs (%d -> %d)", len(before.Items), len(after.Items), len(runsBefore.Items), len(runsAfter.Items))
	}
	if r := e.Run("run-h"); r.Status != cairn.RunWaitingApproval || len(r.Step("b").Gate.Votes) != 0 {
		t.Fatalf("run-h changed: %s %+v", r.Status, r.Step("b").Gate)
	}
	// The server still serves: the gate still opens.
	e.MustDo("manager-2", "POST", "/api/v1/workflow-runs/run-h/steps/b/approve", cairn.GateVoteRequest{JobHash: gate.JobHash}, 200, nil)
	e.verifyLedger()
}

// errField is the field named by an error answer.
func errField(t *testing.T, raw []byte) string {
	t.Helper()
	var eb struct {
		Error struct{ Field string } `json:"error"`
	}
	if err := json.Unmarshal(raw, &eb); err != nil {
		t.Fatalf("error body: %v: %s", err, raw)
	}
	return eb.Error.Field
}

// TestHostileInexactNumbers (issue 11, finding 5): a number that float64
// cannot hold as written is refused, naming its path, instead of being
// judged and hashed as one value and delivered to the worker as another.
// Numbers that round-trip keep working, byte for byte, with replays.
func TestHostileInexactNumbers(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	status, raw := e.Do("agent-1", "POST", "/api/v1/jobs", `{"action":"payments.transfer","input":{"to":"x","legs":[{"amount":10000.0000000000001}]}}`)
	if status != 400 || errField(t, raw) != "input.legs[0].amount" {
		t.Fatalf("got %d %s, want 400 naming input.legs[0].amount", status, raw)
	}
	status, raw = e.Do("polly", "POST", "/api/v1/policy/simulate", `{"job":{"action":"payments.transfer","input":{"amount":10000.0000000000001}}}`)
	if status != 400 || errField(t, raw) != "job.input.amount" {
		t.Fatalf("simulate: got %d %s, want 400 naming job.input.amount", status, raw)
	}
	// Valid numbers: unchanged behaviour, the exact bytes reach the worker,
	// and a replay of the same body is the same job.
	body := `{"job_id":"exact-1","action":"payments.transfer","input":{"amount":10000.0,"fee":0.1,"n":1E+2,"z":-0}}`
	var first, again cairn.Job
	e.MustDo("agent-1", "POST", "/api/v1/jobs", body, 201, &first)
	e.MustDo("agent-1", "POST", "/api/v1/jobs", body, 200, &again)
	if again.JobHash != first.JobHash || first.Decision != cairn.AllowWithConstraints {
		t.Fatalf("replay: %s vs %s, decision %s", again.JobHash, first.JobHash, first.Decision)
	}
	l := e.Lease("payments.*")
	if len(l) != 1 || string(l[0].Input) != `{"amount":10000.0,"fee":0.1,"n":1E+2,"z":-0}` {
		t.Fatalf("leased %+v", l)
	}
}

// TestHostilePolicyFailsOpen (issue 11, finding 1): an input that makes a
// DENY or REQUIRE_APPROVAL rule's `when` fail (cost limit, wrong type) no
// longer switches that rule off, at submit or at dispatch.
func TestHostilePolicyFailsOpen(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	// big-transfers (DENY, input.amount > 10000) errs on a string amount.
	j := e.Submit("agent-1", cairn.SubmitRequest{Action: "payments.transfer", Input: json.RawMessage(`{"amount":"20000"}`)})
	if j.State != cairn.StateDenied || j.PolicyRuleID != "big-transfers" {
		t.Fatalf("string amount: %s by %s", j.State, j.PolicyRuleID)
	}
	var ds cairn.List[*cairn.Decision]
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+j.JobID+"/decisions", nil, 200, &ds)
	last := ds.Items[0].RulesTried[len(ds.Items[0].RulesTried)-1]
	if last.RuleID != "big-transfers" || !last.Matched || !strings.Contains(last.Why, "could not be evaluated (no such overload") ||
		!strings.Contains(ds.Items[0].Explanation, "could not be evaluated") {
		t.Fatalf("explanation %q, trace %+v", ds.Items[0].Explanation, last)
	}

	strict := `default: deny
rules:
  - id: no-flagged
    match: {actions: ["tool.*"]}
    when: input.items.exists(i, i == "flagged")
    decision: DENY
    reason: flagged items are never run
  - id: many-need-approval
    match: {actions: ["tool.*"]}
    when: input.items.filter(i, i != "").size() > 100
    decision: REQUIRE_APPROVAL
    reason: bulk tool calls need approval
    approval: {approver_roles: [approver]}
  - id: tools
    match: {actions: ["tool.*"]}
    decision: ALLOW
    reason: tools are allowed
`
	items := make([]string, 20000)
	for i := range items {
		items[i] = "ok"
	}
	bulk, _ := json.Marshal(map[string]any{"items": items})

	// At dispatch: queued under a permissive policy, judged under the strict one.
	e.publish("default: allow\n")
	queued := e.Submit("agent-1", cairn.SubmitRequest{Action: "tool.bulk", Input: bulk})
	if queued.State != cairn.StateQueued {
		t.Fatalf("permissive submit: %s", queued.State)
	}
	e.publish(strict)
	if got := e.Lease("tool.*"); len(got) != 0 {
		t.Fatalf("leased %d jobs whose DENY rule could not be evaluated", len(got))
	}
	if got := e.job(queued.JobID); got.State != cairn.StateDenied || got.PolicyRuleID != "no-flagged" {
		t.Fatalf("dispatch: %s by %s", got.State, got.PolicyRuleID)
	}
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/"+queued.JobID+"/decisions", nil, 200, &ds)
	if d := ds.Items[len(ds.Items)-1]; d.Phase != cairn.PhaseDispatch || !strings.Contains(d.RulesTried[0].Why, "cost limit") {
		t.Fatalf("dispatch decision %+v", d)
	}

	// At submit.
	if j := e.Submit("agent-1", cairn.SubmitRequest{Action: "tool.bulk", Input: bulk}); j.State != cairn.StateDenied || j.PolicyRuleID != "no-flagged" {
		t.Fatalf("20,000 items: %s by %s", j.State, j.PolicyRuleID)
	}
	if j := e.Submit("agent-1", cairn.SubmitRequest{Action: "tool.bulk", Input: json.RawMessage(`{"items":["ok"]}`)}); j.State != cairn.StateQueued || j.PolicyRuleID != "tools" {
		t.Fatalf("small input: %s by %s", j.State, j.PolicyRuleID)
	}
}

// TestHostileSimulate (issue 11, finding 2): a candidate bundle is code the
// server runs, so simulating one needs policy_admin; it runs under the cost
// limit whatever functions it uses, and stops when the request does.
func TestHostileSimulate(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	job := cairn.SubmitRequest{Action: "db.read"}
	e.ErrCode("auditor-1", "POST", "/api/v1/policy/simulate", cairn.SimulateRequest{Job: job, Bundle: "default: allow\n"}, 403, cairn.EForbidden)
	e.MustDo("auditor-1", "POST", "/api/v1/policy/simulate", cairn.SimulateRequest{Job: job}, 200, nil)
	e.MustDo("polly", "POST", "/api/v1/policy/simulate", cairn.SimulateRequest{Job: job, Bundle: "default: allow\n"}, 200, nil)

	heavy := `default: allow
rules:
  - id: needle
    when: input.hay.contains(input.needle)
    decision: DENY
    reason: found
`
	in, _ := json.Marshal(map[string]string{"hay": strings.Repeat("a", 200_000), "needle": strings.Repeat("a", 2000) + "b"})
	var d cairn.Decision
	e.MustDo("polly", "POST", "/api/v1/policy/simulate", cairn.SimulateRequest{Job: cairn.SubmitRequest{Action: "x", Input: in}, Bundle: heavy}, 200, &d)
	if d.Decision != cairn.Deny || !strings.Contains(d.RulesTried[0].Why, "cost limit") {
		t.Fatalf("candidate ran without a cost limit: %s %+v", d.Decision, d.RulesTried)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	polly := cairn.Principal{Tenant: "default", ID: "polly", Kind: cairn.KindHuman, Roles: []string{cairn.RolePolicyAdmin}}
	if _, err := e.Svc.Simulate(ctx, polly, cairn.SimulateRequest{Job: cairn.SubmitRequest{Action: "x", Input: in}, Bundle: heavy}); !errors.Is(err, context.Canceled) {
		t.Fatalf("simulate after the request ended: %v", err)
	}
}

// completeWith runs one tool job through a worker that completes it.
func completeWith(e *env, jobID, runID string, req cairn.CompleteRequest) *cairn.Job {
	e.T.Helper()
	j := e.Submit("agent-1", cairn.SubmitRequest{JobID: jobID, Action: "tool.search", RunID: runID})
	l := e.Lease("tool.*")
	if len(l) != 1 || l[0].JobID != j.JobID {
		e.T.Fatalf("lease: %+v", l)
	}
	req.LeaseID = l[0].LeaseID
	var done cairn.Job
	e.MustDo("worker-1", "POST", "/api/v1/jobs/"+j.JobID+"/complete", req, 200, &done)
	return &done
}

// readAll is every view of job j (and its run) that p can read, as text.
func readAll(e *env, as string, j *cairn.Job) string {
	e.T.Helper()
	var sb strings.Builder
	for _, path := range []string{
		"/api/v1/jobs/" + j.JobID, "/api/v1/jobs/" + j.JobID + "/evidence", "/api/v1/jobs?limit=1000",
		"/api/v1/jobs/" + j.JobID + "/decisions", "/api/v1/workflow-runs/" + string(j.RunID), "/api/v1/workflow-runs/" + string(j.RunID) + "/timeline",
	} {
		status, raw := e.Do(as, "GET", path, nil)
		if status != 200 {
			e.T.Fatalf("GET %s as %s: %d %s", path, as, status, raw)
		}
		sb.Write(raw)
	}
	return sb.String()
}

// TestHostileErrorText (issue 11, finding 3): a worker's error text goes
// through the output rules before it is stored, like a result.
func TestHostileErrorText(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	secret := "AKIAIOSFODNN7EXAMPLE"
	q := completeWith(e, "err-q", "run-err", cairn.CompleteRequest{Status: "failed", Error: "upstream said: bad key " + secret})
	if q.State != cairn.StateFailed || strings.Contains(string(q.Error), secret) || q.ErrorSafety == nil ||
		q.ErrorSafety.Decision != cairn.OutputQuarantine || len(q.ErrorSafety.Findings) == 0 || q.ErrorSafety.Findings[0].Type != "aws_access_key" {
		t.Fatalf("quarantined error: %q %+v", q.Error, q.ErrorSafety)
	}
	if q.Error != "[error withheld: output rule out-secrets quarantines it]" {
		t.Errorf("error = %q", q.Error)
	}
	for _, as := range []string{"agent-1", "manager-2", "auditor-1"} {
		if all := readAll(e, as, q); strings.Contains(all, secret) {
			t.Errorf("%s reads the secret from the error", as)
		}
	}
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	if raw, _ := json.Marshal(entries); strings.Contains(string(raw), secret) || !strings.Contains(string(raw), "error_safety") {
		t.Errorf("ledger: secret %v, error_safety %v", strings.Contains(string(raw), secret), strings.Contains(string(raw), "error_safety"))
	}

	r := completeWith(e, "err-r", "run-err", cairn.CompleteRequest{Status: "failed", Error: "mail to alice@example.com bounced"})
	if r.Error != "mail to [REDACTED:email] bounced" || r.ErrorSafety == nil || r.ErrorSafety.Decision != cairn.OutputRedact {
		t.Fatalf("redacted error: %q %+v", r.Error, r.ErrorSafety)
	}
	// A clean error is kept as it is, with no verdict.
	c := completeWith(e, "err-c", "run-err", cairn.CompleteRequest{Status: "failed", Error: "timeout after 30s"})
	if c.Error != "timeout after 30s" || c.ErrorSafety != nil {
		t.Fatalf("clean error: %q %+v", c.Error, c.ErrorSafety)
	}
	e.verifyLedger()
}

// TestHostileResultHash (issue 11, finding 4): readers served a redacted
// (or no) result do not get the plain SHA-256 of the original, from which
// a redacted SSN is found by trying every candidate. Auditors do.
func TestHostileResultHash(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	for _, tt := range []struct{ name, result, verdict string }{
		{"redacted", `{"ssn":"123-45-6789"}`, cairn.OutputRedact},
		{"quarantined", `{"key":"AKIAIOSFODNN7EXAMPLE"}`, cairn.OutputQuarantine},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.T = t
			defer func() { e.T = t }()
			j := completeWith(e, "hash-"+tt.name, "run-hash-"+tt.name, cairn.CompleteRequest{Status: "succeeded", Result: json.RawMessage(tt.result)})
			if j.OutputSafety == nil || j.OutputSafety.Decision != tt.verdict {
				t.Fatalf("verdict %+v", j.OutputSafety)
			}
			sum := ledger.SHA256Hex([]byte(tt.result))
			for _, as := range []string{"agent-1", "manager-2"} {
				if all := readAll(e, as, j); strings.Contains(all, sum) {
					t.Errorf("%s is served result_sha256 of the original", as)
				}
			}
			var aj, replay cairn.Job
			e.MustDo("agent-1", "GET", "/api/v1/jobs/"+j.JobID, nil, 200, &aj)
			if aj.ResultSHA256 != "" || aj.ResultPtr == "" {
				t.Errorf("agent's job: result_sha256 %q, result_ptr %q", aj.ResultSHA256, aj.ResultPtr)
			}
			e.MustDo("agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: j.JobID, Action: "tool.search", RunID: string(j.RunID)}, 200, &replay)
			if replay.ResultSHA256 != "" || replay.JobHash != j.JobHash {
				t.Errorf("replayed submit: result_sha256 %q", replay.ResultSHA256)
			}
			if all := readAll(e, "auditor-1", j); !strings.Contains(all, sum) {
				t.Error("the auditor lost result_sha256")
			}
		})
	}
	// An ALLOWed result is served as stored, so its hash stays.
	j := completeWith(e, "hash-ok", "run-hash-ok", cairn.CompleteRequest{Status: "succeeded", Result: json.RawMessage(`{"n":1}`)})
	if all := readAll(e, "agent-1", j); !strings.Contains(all, ledger.SHA256Hex([]byte(`{"n":1}`))) {
		t.Error("an allowed result lost its hash")
	}
	e.verifyLedger()
}
