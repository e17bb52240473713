package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cairnhq/cairn"
)

// contractBundle is the example from CONTRACT.md, "Policy bundle", verbatim.
const contractBundle = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write", "db.delete"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver], expires_in: 24h}
  - id: reads-are-fine
    match: {actions: ["db.read", "http.get"]}
    decision: ALLOW
    reason: Read-only actions
  - id: big-transfers
    match: {actions: ["payments.transfer"]}
    when: 'input.amount > 10000'
    decision: DENY
    reason: Transfers over 10k are never automated
output_rules:
  - id: out-safe-1
    scanners: [secrets]
    decision: QUARANTINE
`

var agent = cairn.Principal{Tenant: "default", ID: "bot-7", Kind: cairn.KindAgent, Roles: []string{cairn.RoleAgent}}

func mustCompile(t testing.TB, src string) *Bundle {
	t.Helper()
	b, err := Compile([]byte(src))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return b
}

func snapshotOf(src string) string {
	s := sha256.Sum256([]byte(src))
	return "cfg:system:policy#sha256:" + hex.EncodeToString(s[:])
}

func TestContractExample(t *testing.T) {
	b := mustCompile(t, contractBundle)
	if got, want := b.SnapshotID(), snapshotOf(contractBundle); got != want {
		t.Fatalf("SnapshotID = %s, want %s", got, want)
	}
	if string(b.Text()) != contractBundle {
		t.Fatalf("Text() differs from the compiled bytes")
	}
	snap := b.SnapshotID()

	got := b.Evaluate(cairn.PolicyInput{Action: "db.write", Labels: map[string]string{"env": "prod"}, Principal: agent})
	want := cairn.Evaluation{
		Decision:    cairn.RequireApproval,
		RuleID:      "prod-write-needs-approval",
		Reason:      "Production writes need manager approval",
		Snapshot:    snap,
		Approval:    &cairn.ApprovalSpec{ApproverRoles: []string{"approver"}, ExpiresIn: "24h"},
		ExpiresIn:   24 * time.Hour,
		Explanation: "rule prod-write-needs-approval matched: action db.write matches db.write; label env=prod",
		Trace: []cairn.RuleTrace{
			{RuleID: "prod-write-needs-approval", Matched: true, Why: "action db.write matches db.write; label env=prod"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("prod write (-want +got):\n%s", d)
	}

	got = b.Evaluate(cairn.PolicyInput{Action: "db.write", Labels: map[string]string{"env": "staging"}, Principal: agent})
	want = cairn.Evaluation{
		Decision:    cairn.Deny,
		RuleID:      "default",
		Reason:      "no rule matched; the default is DENY",
		Snapshot:    snap,
		DefaultRule: true,
		Explanation: "no rule matched (3 rules tried), so the default decision DENY applies",
		Trace: []cairn.RuleTrace{
			{RuleID: "prod-write-needs-approval", Why: "label env=staging (rule wants env=prod)"},
			{RuleID: "reads-are-fine", Why: "action db.write does not match [db.read http.get]"},
			{RuleID: "big-transfers", Why: "action db.write does not match [payments.transfer]"},
			{RuleID: "default", Matched: true, Why: "no rule matched; the bundle default DENY applies"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("staging write (-want +got):\n%s", d)
	}

	got = b.Evaluate(cairn.PolicyInput{Action: "payments.transfer", Input: map[string]any{"amount": 25000.0}, Principal: agent})
	want = cairn.Evaluation{
		Decision:    cairn.Deny,
		RuleID:      "big-transfers",
		Reason:      "Transfers over 10k are never automated",
		Snapshot:    snap,
		Explanation: "rule big-transfers matched: action payments.transfer matches payments.transfer; when input.amount > 10000 was true",
		Trace: []cairn.RuleTrace{
			{RuleID: "prod-write-needs-approval", Why: "action payments.transfer does not match [db.write db.delete]"},
			{RuleID: "reads-are-fine", Why: "action payments.transfer does not match [db.read http.get]"},
			{RuleID: "big-transfers", Matched: true, Why: "action payments.transfer matches payments.transfer; when input.amount > 10000 was true"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("big transfer (-want +got):\n%s", d)
	}

	wantOut := []cairn.OutputRule{{ID: "out-safe-1", Scanners: []string{"secrets"}, Decision: cairn.OutputQuarantine}}
	if d := cmp.Diff(wantOut, b.OutputRules()); d != "" {
		t.Errorf("OutputRules (-want +got):\n%s", d)
	}

	ri, ok := b.Rule("reads-are-fine")
	if !ok || ri.Line != 8 || ri.EndLine != 11 || ri.Decision != cairn.Allow {
		t.Errorf("Rule(reads-are-fine) = %+v, %v; want lines 8-11 ALLOW", ri, ok)
	}
	ri, ok = b.Rule("big-transfers")
	if !ok || ri.Line != 12 || ri.EndLine != 16 {
		t.Errorf("Rule(big-transfers) = %+v, %v; want lines 12-16", ri, ok)
	}
	if _, ok := b.Rule("nope"); ok {
		t.Errorf("Rule(nope) found")
	}
	if ri, ok := b.Rule("default"); !ok || ri.Line != 1 || ri.Decision != cairn.Deny {
		t.Errorf("Rule(default) = %+v, %v", ri, ok)
	}
}

func TestSnapshotIsSHA256OfExactBytes(t *testing.T) {
	for _, src := range []string{
		contractBundle,
		contractBundle + "\n", // trailing newline changes the id
		strings.ReplaceAll(contractBundle, "\n", "\r\n"), // CRLF is accepted and hashed as is
		"default: allow",
	} {
		b := mustCompile(t, src)
		sum := sha256.Sum256([]byte(src))
		want := cairn.SnapshotPrefix + hex.EncodeToString(sum[:])
		if b.SnapshotID() != want {
			t.Errorf("SnapshotID(%q) = %s, want %s", src[:min(len(src), 20)], b.SnapshotID(), want)
		}
	}
}

const testBundle = `version: 1
default:
  decision: deny
  reason: Nothing matched, so no.
rules:
  - id: no-deletes-by-bots
    description: Agents never delete
    match:
      actions: ["*.delete"]
      principal: {kinds: [agent]}
    decision: DENY
    reason: Agents may not delete
  - id: prod-pii
    match:
      resources: ["prod/*"]
      risk_tags: [pii]
    decision: REQUIRE_APPROVAL
    reason: PII in production needs a human
    approval: {approver_roles: [approver, admin], expires_in: 7d}
  - id: risky-any
    match:
      any_risk_tags: [secrets, money]
    decision: DENY
    reason: Secrets or money
  - id: limited-export
    match:
      actions: [export.csv]
      principal: {ids: ["svc-?"], roles: [worker, agent]}
    decision: ALLOW_WITH_CONSTRAINTS
    reason: Exports are capped
    constraints:
      max_rows: 100
      columns: [id, name]
      redact: true
      ratio: 0.5
      note: null
  - id: cel-input
    match: {actions: [pay]}
    when: input.amount >= 100 && principal.kind == "agent" && "finance" in principal.roles
    decision: REQUIRE_APPROVAL
    reason: Large agent payments
    approval:
      approver_roles: approver
  - id: cel-labels
    when: |
      labels.team == "core" &&
      job.action.startsWith("http.")
    decision: ALLOW
    reason: Core team HTTP
  - id: catch-reads
    match: {actions: ["*.read", "read"]}
    decision: ALLOW
    reason: Reads
`

func TestEvaluate(t *testing.T) {
	b := mustCompile(t, testBundle)
	fin := cairn.Principal{ID: "bot-1", Kind: cairn.KindAgent, Roles: []string{"agent", "finance"}}
	human := cairn.Principal{ID: "alice", Kind: cairn.KindHuman, Roles: []string{"agent"}}
	svc := cairn.Principal{ID: "svc-1", Kind: cairn.KindService, Roles: []string{"worker"}}
	type want struct {
		decision, rule string
		dflt           bool
		why            string // substring of the deciding trace entry
		tried          int
	}
	tests := []struct {
		name string
		in   cairn.PolicyInput
		want want
	}{
		{"first match wins over later", cairn.PolicyInput{Action: "db.delete", Resource: "prod/x", RiskTags: []string{"pii"}, Principal: agent},
			want{cairn.Deny, "no-deletes-by-bots", false, "action db.delete matches *.delete; principal kind agent", 1}},
		{"principal kind mismatch falls through", cairn.PolicyInput{Action: "db.delete", Resource: "prod/x", RiskTags: []string{"pii", "x"}, Principal: human},
			want{cairn.RequireApproval, "prod-pii", false, "resource prod/x matches prod/*; risk tag pii", 2}},
		{"resource glob crosses slashes", cairn.PolicyInput{Action: "a", Resource: "prod/db/t1", RiskTags: []string{"pii"}, Principal: human},
			want{cairn.RequireApproval, "prod-pii", false, "resource prod/db/t1 matches prod/*", 2}},
		{"absent resource never matches", cairn.PolicyInput{Action: "a.read", RiskTags: []string{"pii"}, Principal: human},
			want{cairn.Allow, "catch-reads", false, "action a.read matches *.read", 7}},
		{"risk tags all required", cairn.PolicyInput{Action: "zzz", Resource: "prod/x", Principal: human},
			want{cairn.Deny, "default", true, "no rule matched", 8}},
		{"any risk tag", cairn.PolicyInput{Action: "zzz", RiskTags: []string{"money"}, Principal: human},
			want{cairn.Deny, "risky-any", false, "risk tag money (any of [secrets money])", 3}},
		{"constraints", cairn.PolicyInput{Action: "export.csv", Principal: svc},
			want{cairn.AllowWithConstraints, "limited-export", false, "principal role worker; principal id svc-1 matches svc-?", 4}},
		{"principal id glob mismatch", cairn.PolicyInput{Action: "export.csv", Principal: cairn.Principal{ID: "svc-10", Kind: "service", Roles: []string{"worker"}}},
			want{cairn.Deny, "default", true, "", 8}},
		{"CEL true", cairn.PolicyInput{Action: "pay", Input: map[string]any{"amount": 100.0}, Principal: fin},
			want{cairn.RequireApproval, "cel-input", false, "when input.amount >= 100 && principal.kind == \"agent\" && \"finance\" in principal.roles was true", 5}},
		{"CEL json.Number", cairn.PolicyInput{Action: "pay", Input: map[string]any{"amount": json.Number("150")}, Principal: fin},
			want{cairn.RequireApproval, "cel-input", false, "was true", 5}},
		{"CEL false", cairn.PolicyInput{Action: "pay", Input: map[string]any{"amount": 99.5}, Principal: fin},
			want{cairn.Deny, "default", true, "", 8}},
		{"CEL multi-line with labels", cairn.PolicyInput{Action: "http.get", Labels: map[string]string{"team": "core"}, Principal: human},
			want{cairn.Allow, "cel-labels", false, `when labels.team == "core" && job.action.startsWith("http.") was true`, 6}},
		{"CEL missing label is an error, not a match", cairn.PolicyInput{Action: "http.get", Principal: human},
			want{cairn.Deny, "default", true, "", 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := b.Evaluate(tt.in)
			if ev.Decision != tt.want.decision || ev.RuleID != tt.want.rule || ev.DefaultRule != tt.want.dflt {
				t.Fatalf("got %s by %q (default %v), want %s by %q; trace %+v", ev.Decision, ev.RuleID, ev.DefaultRule, tt.want.decision, tt.want.rule, ev.Trace)
			}
			if len(ev.Trace) != tt.want.tried {
				t.Errorf("trace has %d entries, want %d: %+v", len(ev.Trace), tt.want.tried, ev.Trace)
			}
			last := ev.Trace[len(ev.Trace)-1]
			if !last.Matched || last.RuleID != ev.RuleID || !strings.Contains(last.Why, tt.want.why) {
				t.Errorf("deciding trace %+v, want Why containing %q", last, tt.want.why)
			}
			for _, tr := range ev.Trace[:len(ev.Trace)-1] {
				if tr.Matched || tr.Why == "" {
					t.Errorf("non-deciding trace entry %+v", tr)
				}
			}
			if ev.Snapshot != b.SnapshotID() {
				t.Errorf("Snapshot = %q", ev.Snapshot)
			}
			if ev.DefaultRule && ev.Reason != "Nothing matched, so no." {
				t.Errorf("default reason = %q", ev.Reason)
			}
		})
	}

	// Details of the approval and constraint outcomes.
	ev := b.Evaluate(cairn.PolicyInput{Action: "x", Resource: "prod/a", RiskTags: []string{"pii"}, Principal: human})
	if d := cmp.Diff(&cairn.ApprovalSpec{ApproverRoles: []string{"approver", "admin"}, ExpiresIn: "7d"}, ev.Approval); d != "" || ev.ExpiresIn != 7*24*time.Hour {
		t.Errorf("approval %v %s", ev.ExpiresIn, d)
	}
	ev = b.Evaluate(cairn.PolicyInput{Action: "pay", Input: map[string]any{"amount": 1e6}, Principal: fin})
	if d := cmp.Diff(&cairn.ApprovalSpec{ApproverRoles: []string{"approver"}}, ev.Approval); d != "" || ev.ExpiresIn != 0 {
		t.Errorf("approval without expiry %v %s", ev.ExpiresIn, d)
	}
	ev = b.Evaluate(cairn.PolicyInput{Action: "export.csv", Principal: svc})
	if got, want := string(ev.Constraints), `{"columns":["id","name"],"max_rows":100,"note":null,"ratio":0.5,"redact":true}`; got != want {
		t.Errorf("constraints = %s, want %s", got, want)
	}
	ev.Constraints[0] = 'X' // callers may not corrupt the bundle
	if ev2 := b.Evaluate(cairn.PolicyInput{Action: "export.csv", Principal: svc}); ev2.Constraints[0] != '{' {
		t.Errorf("Evaluation shares the bundle's constraints buffer")
	}

	// A runtime CEL error in an ALLOW rule is recorded, not matched.
	ev = b.Evaluate(cairn.PolicyInput{Action: "http.get", Principal: human})
	if tr := ev.Trace[5]; tr.RuleID != "cel-labels" || tr.Matched || tr.Why != "when: no such key: team" {
		t.Errorf("CEL error trace = %+v", tr)
	}
	// In a REQUIRE_APPROVAL rule it fails closed: the rule decides, and
	// the trace names the error.
	for name, input := range map[string]any{
		"missing key": map[string]any{"other": 1},
		"nil input":   nil,
		"wrong type":  map[string]any{"amount": "lots"},
	} {
		ev = b.Evaluate(cairn.PolicyInput{Action: "pay", Input: input, Principal: fin})
		tr := ev.Trace[len(ev.Trace)-1]
		if ev.Decision != cairn.RequireApproval || ev.RuleID != "cel-input" || tr.RuleID != "cel-input" || !tr.Matched ||
			!strings.Contains(tr.Why, "could not be evaluated (") || !strings.Contains(ev.Explanation, "could not be evaluated") {
			t.Errorf("%s: got %s by %q, explanation %q, trace %+v", name, ev.Decision, ev.RuleID, ev.Explanation, tr)
		}
	}
	ev = b.Evaluate(cairn.PolicyInput{Action: "pay", Input: map[string]any{"other": 1}, Principal: fin})
	if tr := ev.Trace[4]; !strings.Contains(tr.Why, "action pay matches pay; when input.amount >= 100") || !strings.Contains(tr.Why, "(no such key: amount)") {
		t.Errorf("fail-closed trace = %+v", tr)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		src, decision, reason string
		approval              *cairn.ApprovalSpec
		constraints           string
	}{
		{"rules: []\n", cairn.Deny, "no rule matched; the bundle has no default, so the action is denied", nil, ""},
		{"default: allow\n", cairn.Allow, "no rule matched; the default is ALLOW", nil, ""},
		{"default: DENY\n", cairn.Deny, "no rule matched; the default is DENY", nil, ""},
		{"default: require_approval\n", cairn.RequireApproval, "no rule matched; the default is REQUIRE_APPROVAL", &cairn.ApprovalSpec{ApproverRoles: []string{"approver"}}, ""},
		{"default: {decision: REQUIRE_APPROVAL, reason: ask, approval: {approver_roles: [admin], expires_in: 1d12h}}\n", cairn.RequireApproval, "ask", &cairn.ApprovalSpec{ApproverRoles: []string{"admin"}, ExpiresIn: "1d12h"}, ""},
		{"default: {decision: allow_with_constraints, constraints: {dry_run: true}}\n", cairn.AllowWithConstraints, "no rule matched; the default is ALLOW_WITH_CONSTRAINTS", nil, `{"dry_run":true}`},
	}
	for _, tt := range tests {
		b := mustCompile(t, tt.src)
		ev := b.Evaluate(cairn.PolicyInput{Action: "a"})
		if ev.Decision != tt.decision || ev.Reason != tt.reason || ev.RuleID != DefaultRuleID || !ev.DefaultRule {
			t.Errorf("%q: got %s %q %q", tt.src, ev.Decision, ev.Reason, ev.RuleID)
		}
		if d := cmp.Diff(tt.approval, ev.Approval); d != "" {
			t.Errorf("%q approval: %s", tt.src, d)
		}
		if string(ev.Constraints) != tt.constraints {
			t.Errorf("%q constraints = %s", tt.src, ev.Constraints)
		}
	}
}

func TestNoPolicy(t *testing.T) {
	ev := NoPolicy(cairn.PolicyInput{Action: "db.write"})
	if ev.Decision != cairn.Deny || ev.RuleID != "" || ev.Reason != "no policy is published; every action is denied" ||
		ev.Snapshot != "" || ev.DefaultRule || !strings.Contains(ev.Explanation, "no policy is published") || ev.Trace == nil {
		t.Errorf("NoPolicy = %+v", ev)
	}
}

func TestRuleLines(t *testing.T) {
	src := `# header
rules:
  - id: a
    decision: ALLOW
    reason: x

  # comment about b
  - id: b
    when: |
      job.action == "x"

    decision: DENY
    reason: y
# trailing comment

output_rules: []
`
	b := mustCompile(t, src)
	want := []RuleInfo{
		{ID: "a", Line: 3, EndLine: 5, Decision: "ALLOW", Reason: "x"},
		{ID: "b", Line: 8, EndLine: 13, Decision: "DENY", Reason: "y"},
	}
	if d := cmp.Diff(want, b.Rules()); d != "" {
		t.Errorf("Rules (-want +got):\n%s", d)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"db.*", "db.write", true},
		{"db.*", "db.", true},
		{"db.*", "db", false},
		{"db.*", "xdb.write", false},
		{"*", "", true},
		{"*", "a/b.c", true},
		{"prod/*", "prod/a/b", true},
		{"*.delete", "db.delete", true},
		{"*.delete", "db.deleted", false},
		{"*lete*", "db.delete.x", true},
		{"a?c", "abc", true},
		{"a?c", "aéc", true},
		{"a?c", "ac", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b?c", "abbbxc", true},
		{"[ab]x", "bx", true},
		{"[^ab]x", "bx", false},
		{"[!ab]x", "cx", true},
		{"[a-c]*", "cat", true},
		{"[a-c]*", "dog", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"DB.*", "db.write", false},
		{"**", "anything", true},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pat)
		if err != nil {
			t.Fatalf("compileGlob(%q): %v", tt.pat, err)
		}
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("%q.match(%q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
	for _, bad := range []string{"", "[", "[]", "a]", `a\`, "[b-a]", strings.Repeat("a", 1025)} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("compileGlob(%q) succeeded", bad)
		}
	}
	if !MatchAction([]string{"x", "db.*"}, "db.read") || MatchAction([]string{"x"}, "db.read") || MatchAction(nil, "a") {
		t.Errorf("MatchAction")
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"24h": 24 * time.Hour, "90m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "365d": 365 * 24 * time.Hour} {
		if got, err := parseDuration(s); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "0s", "0d", "-1h", "366d", "8761h", "d", "1x", "1.5d", "7 days"} {
		if _, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) succeeded", s)
		}
	}
}

// TestCompileErrors checks that every invalid bundle is a 422 policy_invalid
// naming the line and field of the offending node.
func TestCompileErrors(t *testing.T) {
	const ok = "    decision: ALLOW\n    reason: r\n"
	tests := []struct {
		name  string
		src   string
		line  int
		field string
		msg   string // substring
	}{
		{"empty", "", 0, "", "empty"},
		{"only comments", "# nothing\n\n", 0, "", "empty"},
		{"not yaml", "rules: [\n  {id: a\n", 2, "", "not valid YAML"},
		{"bad indentation", "rules:\n  - id: a\n    decision: DENY\n   reason: x\n", 4, "", "not valid YAML"},
		{"not a mapping", "- a\n- b\n", 1, "", "must be a YAML mapping"},
		{"scalar document", "hello\n", 1, "", "must be a YAML mapping"},
		{"two documents", "default: deny\n---\ndefault: allow\n", 3, "", "more than one YAML document"},
		{"unknown top-level key", "default: deny\nrule: []\n", 2, "rule", `unknown key "rule" in bundle (did you mean "rules"?)`},
		{"duplicate top-level key", "default: deny\ndefault: allow\n", 2, "default", "duplicate key"},
		{"bad version", "version: 2\n", 1, "version", "unsupported version"},
		{"rules not a list", "rules: {id: a}\n", 1, "rules", "rules must be a list"},
		{"rule not a mapping", "rules:\n  - just-a-string\n", 2, "rules[0]", "rule must be a mapping"},
		{"unknown rule key typo", "rules:\n  - id: a\n    decison: DENY\n    reason: r\n", 3, "rules[0].decison", `did you mean "decision"?`},
		{"missing id", "rules:\n  - decision: DENY\n    reason: r\n", 2, "rules[0].id", "missing id"},
		{"bad id", "rules:\n  - id: 'has space'\n" + ok, 2, "rules[0].id", "must be 1-128 characters"},
		{"reserved id", "rules:\n  - id: default\n" + ok, 2, "rules[0].id", "reserved"},
		{"duplicate rule id", "rules:\n  - id: a\n" + ok + "  - id: a\n" + ok, 5, "rules[1].id", `duplicate rule id "a" (also rules[0] at line 2)`},
		{"missing decision", "rules:\n  - id: a\n    reason: r\n", 2, "rules[0].decision", "missing decision"},
		{"missing reason", "rules:\n  - id: a\n    decision: DENY\n", 2, "rules[0].reason", "missing reason"},
		{"empty reason", "rules:\n  - id: a\n    decision: DENY\n    reason: ''\n", 4, "rules[0].reason", "must not be empty"},
		{"bad decision", "rules:\n  - id: a\n    decision: PERMIT\n    reason: r\n", 3, "rules[0].decision", `unknown decision "PERMIT"`},
		{"decision is a list", "rules:\n  - id: a\n    decision: [ALLOW]\n    reason: r\n", 3, "rules[0].decision", "must be a string"},
		{"bad action glob", "rules:\n  - id: a\n    match:\n      actions: [ok, 'db.[']\n" + ok, 4, "rules[0].match.actions[1]", "bad glob"},
		{"empty actions", "rules:\n  - id: a\n    match: {actions: []}\n" + ok, 3, "rules[0].match.actions", "must not be an empty list"},
		{"unknown match key", "rules:\n  - id: a\n    match:\n      action: [x]\n" + ok, 4, "rules[0].match.action", `did you mean "actions"?`},
		{"label value not scalar", "rules:\n  - id: a\n    match:\n      labels: {env: [prod]}\n" + ok, 4, "rules[0].match.labels.env", "string value"},
		{"bad principal kind", "rules:\n  - id: a\n    match:\n      principal:\n        kinds: [robot]\n" + ok, 5, "rules[0].match.principal.kinds[0]", "unknown principal kind"},
		{"bad principal role", "rules:\n  - id: a\n    match: {principal: {roles: [boss]}}\n" + ok, 3, "rules[0].match.principal.roles[0]", `unknown role "boss"`},
		{"CEL syntax error", "rules:\n  - id: a\n    when: 'input.amount >'\n" + ok, 3, "rules[0].when", "CEL syntax error at column 15"},
		{"CEL syntax error multi-line", "rules:\n  - id: a\n    when: |\n      input.a == 1 &&\n      input.b ==\n" + ok, 5, "rules[0].when", "CEL syntax error at line 2, column 11 of the expression"},
		{"CEL undeclared", "rules:\n  - id: a\n    when: 'inptu.amount > 1'\n" + ok, 3, "rules[0].when", "undeclared reference to 'inptu'"},
		{"CEL unknown job field", "rules:\n  - id: a\n    when: job.actoin == 'x'\n" + ok, 3, "rules[0].when", "undefined field 'actoin'"},
		{"CEL type error", "rules:\n  - id: a\n    when: job.action > 3\n" + ok, 3, "rules[0].when", "CEL type error"},
		{"CEL not bool", "rules:\n  - id: a\n    when: '1 + 2'\n" + ok, 3, "rules[0].when", "must evaluate to bool, but has type int"},
		{"CEL dyn result", "rules:\n  - id: a\n    when: input.flag\n" + ok, 3, "rules[0].when", "has type dyn"},
		{"CEL too long", "rules:\n  - id: a\n    when: '" + strings.Repeat("true && ", 600) + "true'\n" + ok, 3, "rules[0].when", "limit is 4096"},
		{"when empty", "rules:\n  - id: a\n    when: ''\n" + ok, 3, "rules[0].when", "must not be empty"},
		{"approval missing", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n", 2, "rules[0].approval", "no approval block"},
		{"approval roles missing", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval: {expires_in: 1h}\n", 5, "rules[0].approval.approver_roles", "missing approver_roles"},
		{"approval roles empty", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval: {approver_roles: []}\n", 5, "rules[0].approval.approver_roles", "empty list"},
		{"approval bad role", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval:\n      approver_roles:\n        - approver\n        - manager\n", 8, "rules[0].approval.approver_roles[1]", `unknown role "manager"`},
		{"approval bad expiry", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval: {approver_roles: [approver], expires_in: soon}\n", 5, "rules[0].approval.expires_in", "not a duration"},
		{"approval expiry too long", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval: {approver_roles: [approver], expires_in: 400d}\n", 5, "rules[0].approval.expires_in", "at most 365d"},
		{"approval expiry zero", "rules:\n  - id: a\n    decision: REQUIRE_APPROVAL\n    reason: r\n    approval: {approver_roles: [approver], expires_in: 0s}\n", 5, "rules[0].approval.expires_in", "positive"},
		{"approval on ALLOW", "rules:\n  - id: a\n" + ok + "    approval: {approver_roles: [approver]}\n", 5, "rules[0].approval", "only allowed when decision is REQUIRE_APPROVAL"},
		{"constraints missing", "rules:\n  - id: a\n    decision: ALLOW_WITH_CONSTRAINTS\n    reason: r\n", 2, "rules[0].constraints", "no constraints object"},
		{"constraints not an object", "rules:\n  - id: a\n    decision: ALLOW_WITH_CONSTRAINTS\n    reason: r\n    constraints: [1, 2]\n", 5, "rules[0].constraints", "must be a mapping"},
		{"constraints empty", "rules:\n  - id: a\n    decision: ALLOW_WITH_CONSTRAINTS\n    reason: r\n    constraints: {}\n", 5, "rules[0].constraints", "must not be empty"},
		{"constraints huge int", "rules:\n  - id: a\n    decision: ALLOW_WITH_CONSTRAINTS\n    reason: r\n    constraints:\n      n: 9007199254740993\n", 6, "rules[0].constraints.n", "±2^53"},
		{"constraints NaN", "rules:\n  - id: a\n    decision: ALLOW_WITH_CONSTRAINTS\n    reason: r\n    constraints:\n      x: .nan\n", 6, "rules[0].constraints.x", "cannot be represented in JSON"},
		{"constraints on DENY", "rules:\n  - id: a\n    decision: DENY\n    reason: r\n    constraints: {a: 1}\n", 5, "rules[0].constraints", "only allowed when decision is ALLOW_WITH_CONSTRAINTS"},
		{"bad default", "default: maybe\n", 1, "default", `unknown default "maybe"`},
		{"default null", "default:\n", 1, "default", "found null"},
		{"default object bad key", "default:\n  decision: deny\n  reasn: x\n", 3, "default.reasn", `did you mean "reason"?`},
		{"default constraints scalar", "default: allow_with_constraints\n", 1, "default", "needs constraints"},
		{"output rules not list", "output_rules: {id: x}\n", 1, "output_rules", "must be a list"},
		{"output rule unknown scanner", "output_rules:\n  - id: o\n    scanners: [secrets, malware]\n    decision: REDACT\n", 3, "output_rules[0].scanners[1]", `unknown scanner "malware"`},
		{"output rule missing scanners", "output_rules:\n  - id: o\n    decision: REDACT\n", 2, "output_rules[0].scanners", "missing scanners"},
		{"output rule bad decision", "output_rules:\n  - id: o\n    scanners: [pii]\n    decision: DENY\n", 4, "output_rules[0].decision", "unknown output decision"},
		{"output rule regex without patterns", "output_rules:\n  - id: o\n    scanners: [regex]\n    decision: REDACT\n", 2, "output_rules[0].patterns", "no patterns"},
		{"output rule patterns without regex", "output_rules:\n  - id: o\n    scanners: [pii]\n    patterns: [x]\n    decision: REDACT\n", 4, "output_rules[0].patterns", "only used by the regex scanner"},
		{"output rule bad regexp", "output_rules:\n  - id: o\n    scanners: [regex]\n    patterns:\n      - ok\n      - '(unclosed'\n    decision: REDACT\n", 6, "output_rules[0].patterns[1]", "does not compile"},
		{"output rule too many patterns", "output_rules:\n  - id: o\n    scanners: [regex]\n    patterns: [" + strings.Repeat("a,", 20) + "b]\n    decision: REDACT\n", 4, "output_rules[0].patterns", "limit is 20"},
		{"output rule long pattern", "output_rules:\n  - id: o\n    scanners: [regex]\n    patterns: ['" + strings.Repeat("a", 1001) + "']\n    decision: REDACT\n", 4, "output_rules[0].patterns[0]", "limit is 1000"},
		{"output rule duplicate id", "output_rules:\n  - {id: o, scanners: [pii], decision: REDACT}\n  - {id: o, scanners: [pii], decision: REDACT}\n", 3, "output_rules[1].id", "duplicate output rule id"},
		{"output rule bad action glob", "output_rules:\n  - {id: o, scanners: [pii], decision: REDACT, actions: ['[x']}\n", 2, "output_rules[0].actions[0]", "bad glob"},
		{"alias", "rules:\n  - &r\n    id: a\n" + ok + "  - *r\n", 2, "", "anchors"},
		{"alias only", "x: &a [1]\n", 1, "", "anchors"},
		{"billion laughs", "a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n", 1, "", "not allowed"},
		{"custom tag", "default: !deny x\n", 1, "", "YAML tag !deny is not allowed"},
		{"tab", "rules:\n\t- id: a\n", 2, "", "tab character"},
		{"invalid utf-8", "default: deny\nrules: []\n# \xff\xfe\n", 3, "", "invalid UTF-8"},
		{"control character", "default: deny\x00\n", 1, "", "control character"},
		{"too large", "default: deny\n#" + strings.Repeat("x", MaxBundleBytes), 0, "", "limit is 1048576 bytes"},
		{"too many rules", "rules:\n" + strings.Repeat("  - {}\n", MaxRules+1), 2, "rules", "limit is 10000"},
		{"deep nesting", "x: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n", 1, "", "nested more than 64"},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d invalid bundles", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Compile([]byte(tt.src))
			if err == nil {
				t.Fatalf("Compile succeeded: %+v", b)
			}
			var ce *cairn.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *cairn.Error", err, err)
			}
			got := struct {
				Code, Field string
				Line        int
			}{ce.Code, ce.Field, ce.Line}
			want := got
			want.Code, want.Field, want.Line = cairn.EPolicy, tt.field, tt.line
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("error %q (-want +got):\n%s", ce.Message, d)
			}
			if !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", ce.Message, tt.msg)
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	// A quadratic comprehension over a large input list must stop at the
	// cost limit (its trace says so) and must not match. How long that
	// takes is a benchmark's business, not a test's: this machine's speed
	// varies too much for a timed assertion.
	b := mustCompile(t, `rules:
  - id: slow
    when: input.xs.all(x, input.xs.all(y, x + y >= 0))
    decision: ALLOW
    reason: r
`)
	xs := make([]any, 5000)
	for i := range xs {
		xs[i] = float64(i)
	}
	ev := b.Evaluate(cairn.PolicyInput{Action: "a", Input: map[string]any{"xs": xs}})
	if ev.Decision != cairn.Deny || ev.Trace[0].Matched || !strings.Contains(ev.Trace[0].Why, "cost limit") {
		t.Errorf("got %s, trace %+v", ev.Decision, ev.Trace)
	}
}

func TestConcurrentEvaluate(t *testing.T) {
	b := mustCompile(t, testBundle)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				ev := b.Evaluate(cairn.PolicyInput{Action: "pay", Input: map[string]any{"amount": float64(i)}, Principal: cairn.Principal{Kind: "agent", Roles: []string{"finance"}}})
				want := cairn.Deny
				if i >= 100 {
					want = cairn.RequireApproval
				}
				if ev.Decision != want {
					t.Errorf("i=%d: %s", i, ev.Decision)
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

// FuzzCompile checks that Compile never panics, that every error is a 422
// policy_invalid naming a line of the text (unless it is about the whole
// bundle), and that a compiled bundle evaluates without panicking.
func FuzzCompile(f *testing.F) {
	f.Add(contractBundle)
	f.Add(testBundle)
	f.Add("default: {decision: ALLOW_WITH_CONSTRAINTS, constraints: {a: [1, {b: null}]}}\n")
	f.Add("rules:\n  - id: a\n    when: |\n      input.x.exists(y, y > 1)\n    decision: DENY\n    reason: r\n")
	f.Fuzz(func(t *testing.T, src string) {
		b, err := Compile([]byte(src))
		if err != nil {
			var ce *cairn.Error
			if !errors.As(err, &ce) || ce.Code != cairn.EPolicy || ce.Message == "" {
				t.Fatalf("bad error %#v", err)
			}
			checkErrorLine(t, src, ce)
			return
		}
		ev := b.Evaluate(cairn.PolicyInput{Action: "db.write", Input: map[string]any{"x": []any{1.0, "a"}}})
		if ev.Decision == "" || len(ev.Trace) == 0 || ev.Snapshot != b.SnapshotID() {
			t.Fatalf("bad evaluation %+v", ev)
		}
		for _, r := range b.Rules() {
			if r.Line < 1 || r.EndLine < r.Line {
				t.Fatalf("bad rule lines %+v", r)
			}
		}
	})
}

// checkErrorLine: an error names a line of src, at the start of its
// message; only errors about the whole bundle name none.
func checkErrorLine(t *testing.T, src string, ce *cairn.Error) {
	t.Helper()
	lines := yamlLines(src)
	if ce.Line < 0 || ce.Line > lines {
		t.Fatalf("%q: line %d of %d: %s", src, ce.Line, lines, ce.Message)
	}
	if ce.Line > 0 && !strings.HasPrefix(ce.Message, "line "+strconv.Itoa(ce.Line)+": ") {
		t.Fatalf("%q: message %q does not start with its line %d", src, ce.Message, ce.Line)
	}
	if ce.Line == 0 && !strings.HasPrefix(ce.Message, "bundle is ") {
		t.Fatalf("%q: no line in %q", src, ce.Message)
	}
}

// yamlLines counts lines as YAML does: CR LF, CR, LF, NEL, LS and PS
// break lines.
func yamlLines(s string) int {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}

func TestErrorMessagesNameTheLine(t *testing.T) {
	for _, src := range []string{"~\n", "rules:\n  - id: a\n    when: 'x'\n", "\t", "default: x\n", "a: [\n"} {
		_, err := Compile([]byte(src))
		var ce *cairn.Error
		if !errors.As(err, &ce) {
			t.Fatalf("%q: %v", src, err)
		}
		if ce.Line > 0 && !strings.HasPrefix(ce.Message, "line "+strconv.Itoa(ce.Line)+": ") {
			t.Errorf("%q: message %q does not start with its line %d", src, ce.Message, ce.Line)
		}
	}
}
