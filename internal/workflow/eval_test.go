package workflow

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

func mustParse(t testing.TB, text string) *Definition {
	t.Helper()
	d, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// decode is what the engine does with a stored result.
func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCondition(t *testing.T) {
	scope := func(result string) Scope {
		var res any
		if result != "" {
			res = decode(t, result)
		}
		return Scope{
			Input: decode(t, `{"order_id": "o-1", "limit": 100, "tags": ["a", "b"]}`),
			Steps: map[string]StepView{"a": {Status: cairn.StepSucceeded, Result: res, Attempts: 2, JobID: "job-1"}},
			Run:   RunView{RunID: "r1", WorkflowID: "wf:t:c#sha256:00", StartedBy: "alice"},
		}
	}
	tests := []struct {
		cond   string
		result string // steps.a.result as JSON; "" for nil
		want   bool
		err    string // substring of the evaluation error
	}{
		{"steps.a.result.amount > 0", `{"amount": 12.5}`, true, ""},
		{"steps.a.result.amount > 0", `{"amount": 12}`, true, ""},
		{"steps.a.result.amount > 0", `{"amount": 0}`, false, ""},
		{"steps.a.result.amount > 0", `{"amount": -0.5}`, false, ""},
		{"steps.a.result.amount == 12", `{"amount": 12}`, true, ""},
		{"steps.a.result.amount >= 12.0", `{"amount": 12}`, true, ""},
		{"steps.a.result.amount < input.limit", `{"amount": 99.99}`, true, ""},
		{"steps.a.result.amount > 0", `{}`, false, "no such key: amount"},
		{"steps.a.result.amount > 0", "", false, ""}, // nil result: null has no fields
		{"steps.a.result == null", "", true, ""},
		{"has(steps.a.result.amount)", `{}`, false, ""},
		{"has(steps.a.result.amount) && steps.a.result.amount > 0", `{"amount": 3}`, true, ""},
		{"steps.a.result.?amount.orValue(0) > 0", `{}`, false, ""},
		{"steps.a.status == 'succeeded' && steps.a.attempts == 2 && steps.a.job_id == 'job-1' && steps.a.error == ''", `{}`, true, ""},
		{"run.started_by == 'alice' && run.run_id == 'r1' && run.workflow_id.startsWith('wf:')", `{}`, true, ""},
		{"'b' in input.tags && input.order_id.startsWith('o-')", `{}`, true, ""},
		{"input.missing == 1", `{}`, false, "no such key: missing"},
		{"steps.a.result.ok", `{"ok": true}`, true, ""}, // dyn output checked at run time
		{"steps.a.result.ok", `{"ok": "yes"}`, false, "not a bool"},
		{"steps.a.result.n + 1 > 0", `{"n": 1}`, false, "no such overload"}, // JSON numbers are doubles
		{"steps.a.result.n + 1.0 > 1.5 && int(steps.a.result.n) + 1 == 2", `{"n": 1}`, true, ""},
		{"steps.a.result.items.all(i, i.qty > 0)", `{"items": [{"qty": 1}, {"qty": 2.5}]}`, true, ""},
		{"steps.a.result.items.exists(i, i.qty > 2)", `{"items": [{"qty": 1}, {"qty": 2.5}]}`, true, ""},
		{"${{ steps.a.result.amount > 1 }}", `{"amount": 2}`, true, ""},
	}
	for _, tt := range tests {
		text := "name: c\nsteps:\n  - {id: a, action: x}\n  - id: b\n    action: x\n    depends_on: [a]\n    condition: " + quote(tt.cond) + "\n"
		d := mustParse(t, text)
		s := d.Step("b")
		got, err := s.Condition(scope(tt.result))
		if tt.result == "" && tt.cond == "steps.a.result.amount > 0" {
			if err == nil {
				t.Errorf("%s on a nil result: no error", tt.cond)
			}
			continue
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s with %s: err %v, want %q", tt.cond, tt.result, err, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), "steps[1].condition") {
				t.Errorf("error %q does not name the field", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s with %s: %v, %v; want %v", tt.cond, tt.result, got, err, tt.want)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestScopeValues: numbers however the engine decoded them, raw JSON and
// missing views.
func TestScopeValues(t *testing.T) {
	d := mustParse(t, `name: v
steps:
  - {id: a, action: x}
  - id: b
    action: x
    depends_on: [a]
    condition: steps.a.result.n > 10 && input.n > 10
    input: {r: "${{ steps.a.result }}", i: "${{ input }}"}
`)
	s := d.Step("b")
	for _, v := range []any{
		12.0, 12.5, int(12), int64(12), json.Number("12"), json.Number("12.5"),
	} {
		sc := Scope{Input: map[string]any{"n": v}, Steps: map[string]StepView{"a": {Result: map[string]any{"n": v}}}}
		if ok, err := s.Condition(sc); !ok || err != nil {
			t.Errorf("%T %v: %v %v", v, v, ok, err)
		}
	}
	raw := Scope{Input: json.RawMessage(`{"n": 11}`), Steps: map[string]StepView{"a": {Result: json.RawMessage(`{"n": 11, "x": [1, "y"]}`)}}}
	if ok, err := s.Condition(raw); !ok || err != nil {
		t.Errorf("raw: %v %v", ok, err)
	}
	in, err := s.Input(raw)
	if err != nil || string(in) != `{"i":{"n":11},"r":{"n":11,"x":[1,"y"]}}` {
		t.Errorf("raw input: %s %v", in, err)
	}
	big := Scope{Input: map[string]any{"n": json.Number("9007199254740993")}, Steps: map[string]StepView{"a": {Result: map[string]any{"n": json.Number("12")}}}}
	if in, err := s.Input(big); err != nil || string(in) != `{"i":{"n":9007199254740993},"r":{"n":12}}` {
		t.Errorf("big: %s %v", in, err)
	}
	if _, err := s.Condition(Scope{Input: json.RawMessage(`{bad`)}); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("bad raw input: %v", err)
	}
	// The engine omits a view: a missing key, an error, no panic.
	if _, err := s.Condition(Scope{Input: map[string]any{"n": 11.0}}); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("missing view: %v", err)
	}
	if _, err := s.Condition(Scope{}); err == nil {
		t.Error("nil input: no error")
	}
}

func TestInput(t *testing.T) {
	d := mustParse(t, `name: tpl
steps:
  - {id: lookup, action: db.read}
  - {id: other, action: x, depends_on: [lookup]}
  - id: refund
    action: payments.transfer
    depends_on: [other]
    input:
      amount: "${{ steps.lookup.result.amount }}"
      whole: "${{steps.lookup.result}}"
      memo: "refund for ${{ input.order_id }} (run ${{ run.run_id }}, by ${{ run.started_by }})"
      count: "${{ size(steps.lookup.result.items) }}"
      n: "n=${{ steps.lookup.result.amount }} ok=${{ true }} nil=${{ null }} list=${{ [1, 'a'] }} map=${{ {'b': 1, 'a': [2.5]} }}"
      typed:
        int: "${{ 1 + 2 }}"
        double: "${{ 1.5 * 2.0 }}"
        bool: "${{ steps.other.status == 'succeeded' }}"
        str: "${{ 'x' + 'y' }}"
        "null": "${{ steps.other.result }}"
        bytes: "${{ b'hi' }}"
        uint: "${{ 7u }}"
        ts: "${{ timestamp('2024-01-02T03:04:05Z') }}"
        dur: "${{ duration('90s') }}"
        opt: "${{ steps.lookup.result.?nope }}"
        optv: "${{ steps.lookup.result.?amount }}"
        type: "${{ type(1) }}"
      nested:
        - plain
        - 3
        - [true, null, 1.25, "${{ steps.lookup.result.items[0].sku }}"]
        - {deep: {x: "${{ input.order_id }}", y: literal}}
      literal: {a: [1, 2], b: "no template here", "c d": "}}"}
      braces: "${{ {'k': {'v': '}}'}}.k.v }}"
      dollar: "${{ '${{' }} is how to write it"
      escapes: "${{ 'quote \" tab \t <html> & é' }}"
      attempts: "${{ steps.lookup.attempts }}"
`)
	sc := Scope{
		Input: decode(t, `{"order_id": "o-1"}`),
		Steps: map[string]StepView{
			"lookup": {Status: cairn.StepSucceeded, Result: decode(t, `{"amount": 12, "items": [{"sku": "s1"}, {"sku": "s2"}]}`), Attempts: 1, JobID: "j1"},
			"other":  {Status: cairn.StepSucceeded},
		},
		Run: RunView{RunID: "r-9", WorkflowID: "wf", StartedBy: "alice"},
	}
	in, err := d.Step("refund").Input(sc)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(in) {
		t.Fatalf("not JSON: %s", in)
	}
	want := `{"amount":12,"attempts":1,"braces":"}}","count":2,"dollar":"${{ is how to write it",` +
		`"escapes":"quote \" tab \t <html> & é","literal":{"a":[1,2],"b":"no template here","c d":"}}"},` +
		`"memo":"refund for o-1 (run r-9, by alice)",` +
		`"n":"n=12 ok=true nil=null list=[1,\"a\"] map={\"a\":[2.5],\"b\":1}",` +
		`"nested":["plain",3,[true,null,1.25,"s1"],{"deep":{"x":"o-1","y":"literal"}}],` +
		`"typed":{"bool":true,"bytes":"aGk=","double":3,"dur":"90s","int":3,"null":null,"opt":null,"optv":12,"str":"xy","ts":"2024-01-02T03:04:05Z","type":"int","uint":7},` +
		`"whole":{"amount":12,"items":[{"sku":"s1"},{"sku":"s2"}]}}`
	if string(in) != want {
		t.Errorf("input\n got %s\nwant %s", in, want)
	}
	// A redacted or missing result.
	sc.Steps["lookup"] = StepView{Status: cairn.StepSucceeded}
	if _, err := d.Step("refund").Input(sc); err == nil || !strings.Contains(err.Error(), "steps[2].input.amount") {
		t.Errorf("nil result: %v", err)
	}
	sc.Steps["lookup"] = StepView{Status: cairn.StepSucceeded, Result: map[string]any{"redacted": true}}
	if _, err := d.Step("refund").Input(sc); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("redacted result: %v", err)
	}
}

func TestInputScalars(t *testing.T) {
	tests := []struct{ input, want string }{
		{`"${{ input }}"`, `{"a":[1,{"b":null}]}`},
		{`"${{ input.a[0] }}"`, `1`},
		{`"${{ input.a[1].b }}"`, `null`},
		{`"x${{ input.a[1].b }}y"`, `"xnully"`},
		{`"${{ input.a }}!"`, `"[1,{\"b\":null}]!"`},
		{`" ${{ input.a[0] }}"`, `" 1"`},
		{`plain`, `"plain"`},
		{`42`, `42`},
		{`0x1F`, `31`},
		{`-1.5e-7`, `-1.5e-7`},
		{`1e21`, `1e+21`},
		{`true`, `true`},
		{`~`, `null`},
		{`2024-01-02`, `"2024-01-02"`},
		{`"<&>"`, `"<&>"`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`"${{ 1.0 / 3.0 }}"`, `0.3333333333333333`},
		{`"${{ 1e300 * 1e300 }}"`, `error:cannot be represented in JSON`},
		{`"${{ {1: 'a', '1': 'b'} }}"`, `error:twice`},
		{`"${{ 'x' + input.nope }}"`, `error:no such key`},
		{`"${{ input.a[5] }}"`, `error:index out of bounds`},
	}
	for _, tt := range tests {
		d := mustParse(t, "name: s\nsteps:\n  - id: a\n    action: x\n    input: "+tt.input+"\n")
		got, err := d.Steps[0].Input(Scope{Input: decode(t, `{"a": [1, {"b": null}]}`)})
		if e, ok := strings.CutPrefix(tt.want, "error:"); ok {
			if err == nil || !strings.Contains(err.Error(), e) {
				t.Errorf("%s: %s %v, want error %q", tt.input, got, err, e)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: %s %v, want %s", tt.input, got, err, tt.want)
		}
	}
}

func TestCostLimit(t *testing.T) {
	d := mustParse(t, `name: cost
steps:
  - id: a
    action: x
    input: "${{ input.l.map(x, input.l.map(y, input.l.map(z, x + y + z))) }}"
`)
	l := make([]any, 200)
	for i := range l {
		l[i] = float64(i)
	}
	_, err := d.Steps[0].Input(Scope{Input: map[string]any{"l": l}})
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("err = %v, want the cost limit", err)
	}
}

func TestCompensationInput(t *testing.T) {
	d := mustParse(t, `name: comp
steps:
  - {id: pay, action: payments.transfer}
  - id: notify
    action: email.send
    depends_on: [pay]
    input: {to: "${{ input.email }}"}
    on_failure:
      compensate:
        action: payments.reverse
        resource: ledger
        input:
          amount: "${{ steps.pay.result.amount }}"
          reason: "notify failed after ${{ steps.notify.attempts }} attempts: ${{ steps.notify.error }}"
          job: "${{ steps.notify.job_id }}"
          status: "${{ steps.notify.status }}"
`)
	s := d.Step("notify")
	if s.OnFailure != (OnFailure{Mode: Compensate, Action: "payments.reverse", Resource: "ledger"}) {
		t.Errorf("%+v", s.OnFailure)
	}
	sc := Scope{
		Input: map[string]any{"email": "a@example.com"},
		Steps: map[string]StepView{
			"pay":    {Status: cairn.StepSucceeded, Result: map[string]any{"amount": 12.5}, Attempts: 1, JobID: "j1"},
			"notify": {Status: cairn.StepFailed, Attempts: 3, JobID: "j4", Error: "smtp: 550"},
		},
	}
	got, err := s.CompensationInput(sc)
	want := `{"amount":12.5,"job":"j4","reason":"notify failed after 3 attempts: smtp: 550","status":"failed"}`
	if err != nil || string(got) != want {
		t.Errorf("compensation input %s %v\nwant %s", got, err, want)
	}
	if in, err := s.Input(sc); err != nil || string(in) != `{"to":"a@example.com"}` {
		t.Errorf("input %s %v", in, err)
	}
	// The failed step's own view is required at evaluation.
	delete(sc.Steps, "notify")
	if _, err := s.CompensationInput(sc); err == nil || !strings.Contains(err.Error(), "on_failure.compensate.input") {
		t.Errorf("without the step's view: %v", err)
	}
}

func TestLiteralInputIsCopied(t *testing.T) {
	d := mustParse(t, "name: l\nsteps:\n  - {id: a, action: x, input: {k: v}}\n")
	a, _ := d.Steps[0].Input(Scope{})
	a[1] = 'X'
	b, _ := d.Steps[0].Input(Scope{})
	if string(b) != `{"k":"v"}` {
		t.Errorf("literal input changed: %s", b)
	}
}

func TestConcurrentEvaluation(t *testing.T) {
	d := mustParse(t, full)
	s := d.Step("refund")
	done := make(chan error)
	for i := range 8 {
		go func() {
			sc := Scope{
				Input: map[string]any{"order_id": "o"},
				Steps: map[string]StepView{"lookup": {Result: map[string]any{"amount": float64(i + 1)}}},
				Run:   RunView{RunID: "r"},
			}
			for range 50 {
				if ok, err := s.Condition(sc); !ok || err != nil {
					done <- err
					return
				}
				if _, err := s.Input(sc); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestDelay(t *testing.T) {
	s := time.Second
	tests := []struct {
		r    Retry
		n    int
		want time.Duration
	}{
		{Retry{Backoff: 2 * s}, -1, 0},
		{Retry{Backoff: 2 * s}, 0, 0},
		{Retry{Backoff: 2 * s}, 1, 0},
		{Retry{Backoff: 2 * s}, 2, 2 * s},
		{Retry{Backoff: 2 * s}, 3, 4 * s},
		{Retry{Backoff: 2 * s}, 4, 8 * s},
		{Retry{Backoff: 2 * s}, 10, 512 * s},
		{Retry{Backoff: 2 * s, MaxBackoff: 30 * s}, 4, 8 * s},
		{Retry{Backoff: 2 * s, MaxBackoff: 30 * s}, 5, 16 * s},
		{Retry{Backoff: 2 * s, MaxBackoff: 30 * s}, 6, 30 * s},
		{Retry{Backoff: 2 * s, MaxBackoff: 30 * s}, 100, 30 * s},
		{Retry{Backoff: 2 * s, MaxBackoff: 30 * s}, math.MaxInt, 30 * s},
		{Retry{Backoff: 24 * time.Hour, MaxBackoff: 24 * time.Hour}, 100, 24 * time.Hour},
		{Retry{Backoff: 2 * s}, 64, math.MaxInt64},
		{Retry{Backoff: 2 * s}, math.MaxInt, math.MaxInt64},
		{Retry{Backoff: 24 * time.Hour}, 40, math.MaxInt64},
		{Retry{Backoff: 24 * time.Hour}, 18, 24 * time.Hour << 16},
		{Retry{}, 5, 0},
		{Retry{MaxBackoff: 30 * s}, 5, 0},
		{Retry{Backoff: -s}, 5, 0},
	}
	for _, tt := range tests {
		if got := tt.r.Delay(tt.n); got != tt.want {
			t.Errorf("%+v.Delay(%d) = %v, want %v", tt.r, tt.n, got, tt.want)
		}
		if got := tt.r.Delay(tt.n); got < 0 {
			t.Errorf("negative delay %v", got)
		}
	}
}

func TestZeroValues(t *testing.T) {
	var s Step
	if ok, err := s.Condition(Scope{}); !ok || err != nil || s.HasCondition() {
		t.Error("zero step condition")
	}
	if in, err := s.Input(Scope{}); err != nil || string(in) != "null" {
		t.Error("zero step input")
	}
	if s.Ancestors() != nil {
		t.Error("zero step ancestors")
	}
	var d *Definition
	if d.Step("a") != nil {
		t.Error("nil definition")
	}
	if (&Definition{Steps: []*Step{{ID: "a"}}}).Step("a") == nil {
		t.Error("definition without index")
	}
}
