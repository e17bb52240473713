package http_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/service"
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
		{"job into another agent's run", "agent-1", "POST", "/api/v1/jobs", `{"action":"db.read","run_id":"run-of-agent-3"}`, 403, service.CodeRunNotOwned},
		{"policy change from another tenant", "other-polly", "POST", "/api/v1/policy/publish", `{"bundle":"default: allow\n"}`, 403, cairn.EForbidden},
		{"openapi without key", "", "GET", "/api/v1/openapi.json", nil, 401, cairn.EUnauthorized},
		{"lease overflowing wait", "worker-1", "POST", "/api/v1/workers/lease", `{"wait_ms":10000000000000}`, 400, cairn.EInvalid},
		{"lease overflowing lease", "worker-1", "POST", "/api/v1/workers/lease", `{"lease_ms":10000000000000}`, 400, cairn.EInvalid},
		{"decisions unknown param", "auditor-1", "GET", "/api/v1/jobs/known-job/decisions?foo=1", nil, 400, cairn.EInvalid},
		{"key with sql principal", "admin", "POST", "/api/v1/keys", `{"principal":"a' --","kind":"human","roles":["agent"]}`, 400, cairn.EInvalid},
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
