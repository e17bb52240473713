package workflow

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cairnhq/cairn"
)

// full uses every feature of the format.
const full = `name: refund-order
description: Refund a customer order
timeout: 1h
steps:
  - id: lookup
    action: db.read
    resource: orders
    labels: {env: prod, tier: 1}
    risk_tags: [pii, money]
    input: {order_id: "${{ input.order_id }}"}
  - id: refund
    description: Move the money
    action: payments.transfer
    depends_on: [lookup]
    condition: 'steps.lookup.result.amount > 0'
    gate: {approver_roles: [approver, policy_admin], quorum: 2, expires_in: 24h}
    input:
      amount: "${{ steps.lookup.result.amount }}"
      memo: "refund for ${{ input.order_id }} (attempt of ${{ run.run_id }})"
    retry: {max_attempts: 3, backoff: 2s, max_backoff: 30s}
    timeout: 5m
    on_failure: continue
  - id: notify
    action: email.send
    depends_on: refund
    gate: {}
    on_failure:
      compensate: {action: payments.reverse, resource: ledger, input: {amount: "${{ steps.refund.result.amount }}", failed: "${{ steps.notify.error }}"}}
  - id: audit
    action: log/write
    on_failure: fail
`

func TestParseFull(t *testing.T) {
	d, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := &Definition{
		Name:        "refund-order",
		Description: "Refund a customer order",
		Timeout:     time.Hour,
		Order:       []string{"lookup", "refund", "notify", "audit"},
		Steps: []*Step{
			{
				ID: "lookup", Action: "db.read", Resource: "orders",
				Labels: map[string]string{"env": "prod", "tier": "1"}, RiskTags: []string{"pii", "money"},
				Retry: Retry{MaxAttempts: 1}, OnFailure: OnFailure{Mode: FailRun}, Line: 5,
			},
			{
				ID: "refund", Description: "Move the money", Action: "payments.transfer", DependsOn: []string{"lookup"},
				Gate:      &Gate{ApproverRoles: []string{"approver", "policy_admin"}, Quorum: 2, ExpiresIn: 24 * time.Hour},
				Retry:     Retry{MaxAttempts: 3, Backoff: 2 * time.Second, MaxBackoff: 30 * time.Second},
				Timeout:   5 * time.Minute,
				OnFailure: OnFailure{Mode: Continue}, Line: 11,
			},
			{
				ID: "notify", Action: "email.send", DependsOn: []string{"refund"},
				Gate:      &Gate{ApproverRoles: []string{"approver"}, Quorum: 1},
				Retry:     Retry{MaxAttempts: 1},
				OnFailure: OnFailure{Mode: Compensate, Action: "payments.reverse", Resource: "ledger"}, Line: 23,
			},
			{ID: "audit", Action: "log/write", Retry: Retry{MaxAttempts: 1}, OnFailure: OnFailure{Mode: FailRun}, Line: 29},
		},
	}
	if diff := cmp.Diff(want, d, cmpopts.IgnoreUnexported(Definition{}, Step{})); diff != "" {
		t.Errorf("definition (-want +got):\n%s", diff)
	}
	if !d.Step("refund").HasCondition() || d.Step("lookup").HasCondition() {
		t.Error("HasCondition")
	}
	if d.Step("nope") != nil || d.Step("audit") != d.Steps[3] {
		t.Error("Step")
	}
	if got := d.Step("notify").Ancestors(); !cmp.Equal(got, []string{"lookup", "refund"}) {
		t.Errorf("Ancestors = %v", got)
	}
	if got := d.Step("lookup").Ancestors(); len(got) != 0 {
		t.Errorf("Ancestors = %v", got)
	}
}

func TestParseJSON(t *testing.T) {
	text := "{\n\t\"name\": \"j\",\n\t\"steps\": [\n\t\t{\"id\": \"a\", \"action\": \"x\", \"input\": {\"n\": 1, \"f\": 1.5, \"s\": \"${{ input }}\", \"l\": [true, null]}},\n\t\t{\"id\": \"b\", \"action\": \"y\", \"depends_on\": [\"a\"], \"condition\": \"${{ steps.a.status == 'succeeded' }}\"}\n\t]\n}\n"
	d, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "j" || len(d.Steps) != 2 || d.Steps[1].Line != 5 || !d.Steps[1].HasCondition() {
		t.Fatalf("%+v", d)
	}
	in, err := d.Steps[0].Input(Scope{Input: "x"})
	if err != nil || string(in) != `{"f":1.5,"l":[true,null],"n":1,"s":"x"}` {
		t.Fatalf("%s %v", in, err)
	}
	ok, err := d.Steps[1].Condition(Scope{Steps: map[string]StepView{"a": {Status: cairn.StepSucceeded}}})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
}

func TestParseDefaults(t *testing.T) {
	d, err := Parse([]byte("name: a\nsteps:\n  - {id: s, action: x, gate: {quorum: 3}, retry: {backoff: 1s}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Steps[0]
	if s.Gate.Quorum != 3 || !cmp.Equal(s.Gate.ApproverRoles, []string{cairn.RoleApprover}) || s.Gate.ExpiresIn != 0 {
		t.Errorf("gate %+v", s.Gate)
	}
	if s.Retry != (Retry{MaxAttempts: 1, Backoff: time.Second}) || s.OnFailure.Mode != FailRun || s.Timeout != 0 || d.Timeout != 0 {
		t.Errorf("%+v", s)
	}
	if in, err := s.Input(Scope{}); err != nil || string(in) != "null" {
		t.Errorf("input %s %v", in, err)
	}
	if in, err := s.CompensationInput(Scope{}); err != nil || string(in) != "null" {
		t.Errorf("compensation input %s %v", in, err)
	}
	if ok, err := s.Condition(Scope{}); !ok || err != nil {
		t.Errorf("condition %v %v", ok, err)
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		steps string
		want  []string
	}{
		{"[{id: a, action: x}]", []string{"a"}},
		{"[{id: a, action: x}, {id: b, action: x}, {id: c, action: x}]", []string{"a", "b", "c"}},
		{"[{id: a, action: x, depends_on: [b]}, {id: b, action: x}]", []string{"b", "a"}},
		{"[{id: a, action: x, depends_on: [c]}, {id: b, action: x, depends_on: [c]}, {id: c, action: x}]", []string{"c", "a", "b"}},
		// diamond: tie-break by declaration order once both branches are ready
		{"[{id: d, action: x, depends_on: [b, c]}, {id: c, action: x, depends_on: [a]}, {id: b, action: x, depends_on: [a]}, {id: a, action: x}]", []string{"a", "c", "b", "d"}},
		// a step freed later is still taken before a later-declared ready step
		{"[{id: z, action: x}, {id: y, action: x, depends_on: [w]}, {id: x, action: x}, {id: w, action: x}]", []string{"z", "x", "w", "y"}},
		{"[{id: e, action: x, depends_on: [d]}, {id: d, action: x, depends_on: [c]}, {id: c, action: x, depends_on: [b]}, {id: b, action: x, depends_on: [a]}, {id: a, action: x}]", []string{"a", "b", "c", "d", "e"}},
	}
	for _, tt := range tests {
		d, err := Parse([]byte("name: o\nsteps: " + tt.steps + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.steps, err)
		}
		if !cmp.Equal(d.Order, tt.want) {
			t.Errorf("%s: order %v, want %v", tt.steps, d.Order, tt.want)
		}
	}
}

func TestAncestorsTransitive(t *testing.T) {
	d, err := Parse([]byte(`name: t
steps:
  - {id: d, action: x, depends_on: [c], condition: "steps.a.status == 'succeeded' && steps.b.attempts > 0"}
  - {id: c, action: x, depends_on: [b]}
  - {id: b, action: x, depends_on: [a]}
  - {id: a, action: x}
  - {id: e, action: x, depends_on: [a]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Step("d").Ancestors(); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("d: %v", got)
	}
	if got := d.Step("e").Ancestors(); !cmp.Equal(got, []string{"a"}) {
		t.Errorf("e: %v", got)
	}
}

// steps builds a definition with a name and the given steps block.
func steps(block string) string { return "name: t\nsteps:\n" + block }

func TestParseInvalid(t *testing.T) {
	deep := "name: t\nsteps:\n  - id: a\n    action: x\n    input: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n"
	var many strings.Builder
	many.WriteString("name: t\nsteps:\n")
	for i := range MaxSteps + 1 {
		many.WriteString("  - {id: s" + strings.Repeat("x", i%3) + itoa(i) + ", action: x}\n")
	}
	var exprs strings.Builder
	exprs.WriteString("name: t\nsteps:\n  - id: a\n    action: x\n    input:\n")
	for range maxExprs + 1 {
		exprs.WriteString("      - '${{ 1 }}'\n")
	}
	var nodes strings.Builder
	nodes.WriteString("name: t\nsteps:\n  - id: a\n    action: x\n    input:\n")
	for range 60 {
		nodes.WriteString("      - '${{ " + strings.Repeat("input.a == 1 || ", 90) + "true }}'\n")
	}
	tests := []struct {
		name  string
		text  string
		field string
		line  int
		msg   string
	}{
		// text and YAML
		{"too big", "name: t\n#" + strings.Repeat("x", MaxBytes), "", 0, "the limit is 262144 bytes"},
		{"invalid utf8", "name: t\ndescription: \xff\n", "", 2, "invalid UTF-8"},
		{"control char", "name: t\n\x01\n", "", 2, "control character 0x01"},
		{"empty", "", "", 0, "empty"},
		{"only comments", "# nothing\n\n", "", 0, "empty"},
		{"null document", "~\n", "", 1, "empty"},
		{"top list", "- a\n- b\n", "", 1, "must be a mapping"},
		{"top scalar", "hello\n", "", 1, "must be a mapping"},
		{"tab indent", "name: t\nsteps:\n\t- id: x\n", "", 3, "indent with spaces"},
		{"tab before key", "name: t\nsteps:\n  - id: x\n\taction: y\n", "", 4, "tab character"},
		{"bad json", "{\"name\": \"a\",\n \"steps\": [\n  {\"id\": \"x\" \"action\": \"y\"}\n ]\n}\n", "", 3, "did not find expected ',' or '}'"},
		{"bad indent", "name: t\nsteps:\n  - id: x\n    action: y\n   bad: z\n", "", 5, "not valid YAML"},
		{"unclosed quote", "name: t\ndescription: 'abc\n", "", 2, "not valid YAML"},
		{"two documents", "name: t\n---\nname: u\n", "", 3, "more than one YAML document"},
		{"anchor bomb", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "a", 1, "anchors"},
		{"unknown alias", "name: t\nb: *nope\n", "", 2, "unknown anchor"},
		{"custom tag", "name: !thing t\n", "name", 1, "tag !thing"},
		{"merge key", "<<: {name: t}\n", "", 1, "merge keys"},
		{"too deep", deep, "steps[0].input" + strings.Repeat("[0]", 62), 5, "more than 64 levels"},
		// top level
		{"duplicate key", "name: t\nname: u\n", "name", 2, `duplicate key "name"`},
		{"unknown top key", "nmae: t\n", "nmae", 1, `did you mean "name"`},
		{"no name", "steps: []\n", "name", 1, "name is required"},
		{"bad name", "name: Refund\nsteps: []\n", "name", 1, "invalid"},
		{"name list", "name: [a]\n", "name", 1, "must be a string"},
		{"no steps", "name: t\n", "steps", 1, "steps is required"},
		{"null steps", "name: t\nsteps:\n", "steps", 2, "steps is required"},
		{"empty steps", "name: t\nsteps: []\n", "steps", 2, "must not be empty"},
		{"steps mapping", "name: t\nsteps: {a: b}\n", "steps", 2, "must be a list"},
		{"too many steps", many.String(), "steps", 3, "the limit is 200"},
		{"description control", "name: t\ndescription: \"a\\x01b\"\n", "description", 2, "control character"},
		{"run timeout negative", "name: t\ntimeout: -1m\n", "timeout", 2, "must be positive"},
		{"run timeout too long", "name: t\ntimeout: 721h\n", "timeout", 2, "limit of 30 days"},
		// steps
		{"step scalar", steps("  - lookup\n"), "steps[0]", 3, "must be a mapping"},
		{"no id", steps("  - action: x\n"), "steps[0].id", 3, "step id is required"},
		{"bad id", steps("  - id: a b\n    action: x\n"), "steps[0].id", 3, "invalid"},
		{"id leading dash", steps("  - id: -a\n    action: x\n"), "steps[0].id", 3, "invalid"},
		{"duplicate id", steps("  - {id: a, action: x}\n  - {id: a, action: y}\n"), "steps[1].id", 4, `duplicate step id "a"`},
		{"no action", steps("  - id: a\n    resource: r\n"), "steps[0].action", 3, "action is required"},
		{"bad action", steps("  - id: a\n    action: pay money\n"), "steps[0].action", 4, "allowed are letters"},
		{"action dotdot", steps("  - id: a\n    action: a/../b\n"), "steps[0].action", 4, "'..'"},
		{"unknown step key", steps("  - id: a\n    action: x\n    dependson: [b]\n"), "steps[0].dependson", 5, `did you mean "depends_on"`},
		{"dash key", steps("  - id: a\n    action: x\n    risk-tags: [b]\n"), "steps[0].risk-tags", 5, `did you mean "risk_tags"`},
		{"duplicate step key", steps("  - id: a\n    action: x\n    action: y\n"), "steps[0].action", 5, "duplicate key"},
		{"labels list", steps("  - id: a\n    action: x\n    labels: [a]\n"), "steps[0].labels", 5, "must be a mapping"},
		{"label key", steps("  - id: a\n    action: x\n    labels: {\"a b\": c}\n"), `steps[0].labels["a b"]`, 5, "label key"},
		{"label value list", steps("  - id: a\n    action: x\n    labels: {a: [b]}\n"), "steps[0].labels.a", 5, "must be a string"},
		{"risk tag duplicate", steps("  - id: a\n    action: x\n    risk_tags: [pii, pii]\n"), "steps[0].risk_tags[1]", 5, "listed twice"},
		{"step timeout number", steps("  - id: a\n    action: x\n    timeout: 5\n"), "steps[0].timeout", 5, "no unit"},
		{"step timeout days", steps("  - id: a\n    action: x\n    timeout: 2d\n"), "steps[0].timeout", 5, "days are not a unit"},
		{"step timeout zero", steps("  - id: a\n    action: x\n    timeout: 0s\n"), "steps[0].timeout", 5, "must be positive"},
		// depends_on
		{"unknown dependency", steps("  - {id: lookup, action: x}\n  - id: b\n    action: x\n    depends_on: [lokup]\n"), "steps[1].depends_on[0]", 6, `did you mean "lookup"`},
		{"self dependency", steps("  - id: a\n    action: x\n    depends_on: [a]\n"), "steps[0].depends_on[0]", 5, "depends_on forms a cycle: a -> a"},
		{"duplicate dependency", steps("  - {id: a, action: x}\n  - {id: b, action: x, depends_on: [a, a]}\n"), "steps[1].depends_on[1]", 4, "twice"},
		{"dependency list item", steps("  - {id: a, action: x}\n  - {id: b, action: x, depends_on: [[a]]}\n"), "steps[1].depends_on[0]", 4, "must be a string"},
		{"two-cycle", steps("  - {id: a, action: x, depends_on: [b]}\n  - {id: b, action: x, depends_on: [a]}\n"), "steps[0].depends_on", 3, "depends_on forms a cycle: a -> b -> a"},
		{"three-cycle", steps("  - {id: s, action: x}\n  - {id: c, action: x, depends_on: [s, a]}\n  - {id: a, action: x, depends_on: [b]}\n  - {id: b, action: x, depends_on: [c]}\n"), "steps[1].depends_on", 4, "depends_on forms a cycle: c -> a -> b -> c"},
		{"cycle behind a step", steps("  - {id: z, action: x, depends_on: [a]}\n  - {id: a, action: x, depends_on: [b]}\n  - {id: b, action: x, depends_on: [a]}\n"), "steps[1].depends_on", 4, "cycle: a -> b -> a"},
		// conditions
		{"condition syntax", steps("  - id: a\n    action: x\n    condition: 'input.x >'\n"), "steps[0].condition", 5, "Syntax error"},
		{"condition not bool", steps("  - id: a\n    action: x\n    condition: '1 + 2'\n"), "steps[0].condition", 5, "must be boolean"},
		{"condition string", steps("  - id: a\n    action: x\n    condition: \"'yes'\"\n"), "steps[0].condition", 5, "has type string"},
		{"condition list", steps("  - id: a\n    action: x\n    condition: [true]\n"), "steps[0].condition", 5, "must be a CEL expression"},
		{"condition empty", steps("  - id: a\n    action: x\n    condition: ''\n"), "steps[0].condition", 5, "empty"},
		{"condition empty block at the end", steps("  - id: a\n    action: x\n    condition: |"), "steps[0].condition", 5, "empty"},
		{"condition empty block", steps("  - id: a\n    action: x\n    condition: |\n  - id: b\n    action: x\n"), "steps[0].condition", 5, "empty"},
		{"condition undeclared", steps("  - id: a\n    action: x\n    condition: 'foo == 1'\n"), "steps[0].condition", 5, "undeclared reference"},
		{"condition not dependency", steps("  - {id: a, action: x}\n  - id: b\n    action: x\n    condition: steps.a.status == 'succeeded'\n"), "steps[1].condition", 6, `add "a" to its depends_on`},
		{"condition index not dependency", steps("  - {id: a, action: x}\n  - id: b\n    action: x\n    condition: has(steps['a'].result)\n"), "steps[1].condition", 6, "not among the dependencies"},
		{"condition optional not dependency", steps("  - {id: a, action: x}\n  - id: b\n    action: x\n    condition: steps.?a.hasValue()\n"), "steps[1].condition", 6, "not among the dependencies"},
		{"condition unknown step", steps("  - id: a\n    action: x\n    condition: steps.zzz.status == 'failed'\n"), "steps[0].condition", 5, "names no step"},
		{"condition self", steps("  - id: a\n    action: x\n    condition: steps.a.status == 'failed'\n"), "steps[0].condition", 5, "itself"},
		{"condition view field", steps("  - {id: a, action: x}\n  - id: b\n    action: x\n    depends_on: [a]\n    condition: steps.a.reslt.ok\n"), "steps[1].condition", 7, `has no field "reslt"`},
		{"condition run field", steps("  - id: a\n    action: x\n    condition: run.user == 'bob'\n"), "steps[0].condition", 5, `run has no field "user"`},
		{"condition two templates", steps("  - id: a\n    action: x\n    condition: ${{ true }} && ${{ false }}\n"), "steps[0].condition", 5, "one CEL expression"},
		{"condition too long", steps("  - id: a\n    action: x\n    condition: '" + strings.Repeat("1 == 1 && ", 410) + "true'\n"), "steps[0].condition", 5, "limit is 4096"},
		{"condition literal block line", steps("  - {id: a, action: x}\n  - id: b\n    action: x\n    depends_on: [a]\n    condition: |\n      steps.a.status == 'succeeded' &&\n      steps.c.status == 'x'\n"), "steps[1].condition", 9, "names no step"},
		{"comprehensions too deep", steps("  - id: a\n    action: x\n    condition: '[1].all(a, [1].all(b, [1].all(c, [1].all(d, [1].all(e, true)))))'\n"), "steps[0].condition", 5, "nested more than 4 deep"},
		{"literals too deep", steps("  - id: a\n    action: x\n    input: '${{ [[[[[[[[[1]]]]]]]]] }}'\n"), "steps[0].input", 5, "nested more than 8 deep"},
		{"expression too complex", steps("  - id: a\n    action: x\n    condition: '" + strings.Repeat("input.a == 1 || ", 100) + "true'\n"), "steps[0].condition", 5, "too complex"},
		{"too many expressions", exprs.String(), "steps[0].input[1000]", 1006, "more than 1000 CEL expressions"},
		{"definition too complex", nodes.String(), "steps[0].input[55]", 61, "more than 25000 parsed nodes"},
		{"parser recursion", steps("  - id: a\n    action: x\n    condition: '" + strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40) + "'\n"), "steps[0].condition", 5, "recursion"},
		// gates
		{"gate null", steps("  - id: a\n    action: x\n    gate:\n"), "steps[0].gate", 5, "gate must be a mapping"},
		{"gate unknown key", steps("  - id: a\n    action: x\n    gate: {quorom: 2}\n"), "steps[0].gate.quorom", 5, `did you mean "quorum"`},
		{"quorum zero", steps("  - id: a\n    action: x\n    gate: {quorum: 0}\n"), "steps[0].gate.quorum", 5, "from 1 to 20"},
		{"quorum 21", steps("  - id: a\n    action: x\n    gate:\n      quorum: 21\n"), "steps[0].gate.quorum", 6, "from 1 to 20"},
		{"quorum string", steps("  - id: a\n    action: x\n    gate: {quorum: two}\n"), "steps[0].gate.quorum", 5, "must be an integer"},
		{"unknown role", steps("  - id: a\n    action: x\n    gate: {approver_roles: [approver, aprover2]}\n"), "steps[0].gate.approver_roles[1]", 5, `unknown role "aprover2"`},
		{"role typo", steps("  - id: a\n    action: x\n    gate: {approver_roles: [aprover]}\n"), "steps[0].gate.approver_roles[0]", 5, `did you mean "approver"`},
		{"no roles", steps("  - id: a\n    action: x\n    gate: {approver_roles: []}\n"), "steps[0].gate.approver_roles", 5, "at least one role"},
		{"expires zero", steps("  - id: a\n    action: x\n    gate: {expires_in: 0h}\n"), "steps[0].gate.expires_in", 5, "must be positive"},
		{"expires too long", steps("  - id: a\n    action: x\n    gate: {expires_in: 721h}\n"), "steps[0].gate.expires_in", 5, "limit of 30 days"},
		{"expires garbage", steps("  - id: a\n    action: x\n    gate: {expires_in: soon}\n"), "steps[0].gate.expires_in", 5, "not a duration"},
		// retries
		{"retry scalar", steps("  - id: a\n    action: x\n    retry: 3\n"), "steps[0].retry", 5, "must be a mapping"},
		{"attempts zero", steps("  - id: a\n    action: x\n    retry: {max_attempts: 0}\n"), "steps[0].retry.max_attempts", 5, "from 1 to 100"},
		{"attempts 101", steps("  - id: a\n    action: x\n    retry: {max_attempts: 101}\n"), "steps[0].retry.max_attempts", 5, "from 1 to 100"},
		{"attempts float", steps("  - id: a\n    action: x\n    retry: {max_attempts: 2.5}\n"), "steps[0].retry.max_attempts", 5, "must be an integer"},
		{"backoff too long", steps("  - id: a\n    action: x\n    retry: {backoff: 25h}\n"), "steps[0].retry.backoff", 5, "limit of 24h0m0s"},
		{"max below backoff", steps("  - id: a\n    action: x\n    retry:\n      backoff: 10s\n      max_backoff: 5s\n"), "steps[0].retry.max_backoff", 7, "less than backoff"},
		{"retry unknown key", steps("  - id: a\n    action: x\n    retry: {attempts: 3}\n"), "steps[0].retry.attempts", 5, `did you mean "max_attempts"`},
		// on_failure
		{"on_failure mode", steps("  - id: a\n    action: x\n    on_failure: explode\n"), "steps[0].on_failure", 5, "must be fail, continue or a compensate block"},
		{"on_failure compensate scalar", steps("  - id: a\n    action: x\n    on_failure: compensate\n"), "steps[0].on_failure", 5, "needs the compensating action"},
		{"on_failure list", steps("  - id: a\n    action: x\n    on_failure: [fail]\n"), "steps[0].on_failure", 5, "found a list"},
		{"on_failure unknown key", steps("  - id: a\n    action: x\n    on_failure: {compensat: {action: y}}\n"), "steps[0].on_failure.compensat", 5, `did you mean "compensate"`},
		{"on_failure extra key", steps("  - id: a\n    action: x\n    on_failure:\n      compensate: {action: y}\n      mode: fail\n"), "steps[0].on_failure.mode", 7, "unknown key"},
		{"on_failure empty", steps("  - id: a\n    action: x\n    on_failure: {}\n"), "steps[0].on_failure.compensate", 5, "compensate block"},
		{"compensate no action", steps("  - id: a\n    action: x\n    on_failure:\n      compensate:\n        resource: r\n"), "steps[0].on_failure.compensate.action", 7, "needs an action"},
		{"compensate bad action", steps("  - id: a\n    action: x\n    on_failure: {compensate: {action: 'a b'}}\n"), "steps[0].on_failure.compensate.action", 5, "allowed are letters"},
		{"compensate unknown key", steps("  - id: a\n    action: x\n    on_failure: {compensate: {action: y, labels: {}}}\n"), "steps[0].on_failure.compensate.labels", 5, "unknown key"},
		{"compensate input not dependency", steps("  - {id: b, action: x}\n  - id: a\n    action: x\n    on_failure:\n      compensate:\n        action: y\n        input: {r: '${{ steps.b.result }}'}\n"), "steps[1].on_failure.compensate.input.r", 9, "not among the dependencies"},
		// input templates
		{"template unterminated", steps("  - id: a\n    action: x\n    input: {x: '${{ input.x '}\n"), "steps[0].input.x", 5, "unterminated ${{"},
		{"template empty", steps("  - id: a\n    action: x\n    input:\n      x: '${{  }}'\n"), "steps[0].input.x", 6, "empty ${{ }}"},
		{"template syntax", steps("  - id: a\n    action: x\n    input:\n      list:\n        - ok\n        - 'n=${{ input. }}'\n"), "steps[0].input.list[1]", 8, "Syntax error"},
		{"template not dependency", steps("  - {id: b, action: x}\n  - id: a\n    action: x\n    input: {\"the key\": '${{ steps[\"b\"].result }}'}\n"), `steps[1].input["the key"]`, 6, "not among the dependencies"},
		{"template unknown step", steps("  - id: a\n    action: x\n    input: ['${{ steps.q.result }}']\n"), "steps[0].input[0]", 5, "names no step"},
		{"template self", steps("  - id: a\n    action: x\n    input: ['${{ steps.a.result }}']\n"), "steps[0].input[0]", 5, "itself"},
		{"template unterminated string", steps("  - id: a\n    action: x\n    input: \"${{ 'abc }}\"\n"), "steps[0].input", 5, "unterminated string"},
		{"input duplicate key", steps("  - id: a\n    action: x\n    input:\n      k: 1\n      k: 2\n"), "steps[0].input.k", 7, "duplicate key"},
		{"input infinity", steps("  - id: a\n    action: x\n    input: {n: .inf}\n"), "steps[0].input.n", 5, "cannot be represented in JSON"},
		{"input huge int", steps("  - id: a\n    action: x\n    input: {n: !!int 99999999999999999999999}\n"), "steps[0].input.n", 5, "out of range"},
		{"input complex key", steps("  - id: a\n    action: x\n    input: {? [a] : b}\n"), "steps[0].input", 5, "not a string"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate test name %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.text))
			if err == nil {
				t.Fatalf("parsed: %+v", d)
			}
			var ce *cairn.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v, want *cairn.Error", err, err)
			}
			if ce.Code != cairn.CodeWorkflowInvalid {
				t.Errorf("code %q", ce.Code)
			}
			if ce.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", ce.Field, tt.field, err)
			}
			if ce.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", ce.Line, tt.line, err)
			}
			if !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", ce.Message, tt.msg)
			}
		})
	}
	if len(tests) < 40 {
		t.Errorf("only %d invalid definitions", len(tests))
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
