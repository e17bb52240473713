package workflow

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// FuzzParse: Parse never panics; every error is a 422 workflow_invalid
// naming a line of the text (unless it is about the whole definition); a
// parsed definition orders every step, and its inputs and conditions
// evaluate without panicking to valid JSON.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		full,
		"",
		"name: a\nsteps:\n  - {id: a, action: x}\n",
		"name: a\nsteps:\n  - {id: a, action: x, depends_on: [b]}\n  - {id: b, action: x, depends_on: [a]}\n",
		"name: a\nsteps:\n  - id: a\n    action: x\n    input: {k: \"${{ input.k }} and ${{ {'a': '}}'} }}\"}\n    condition: input.k == 1\n",
		"{\"name\": \"j\", \"steps\": [{\"id\": \"a\", \"action\": \"x\", \"gate\": {\"quorum\": 2}}]}",
		"a: &a [x, x]\nb: &b [*a, *a]\n",
		"name: a\nsteps:\n\t- id: x\n",
		"name: a\nsteps:\n  - id: b\n    action: x\n    on_failure: {compensate: {action: y, input: '${{ steps.b.error }}'}}\n    retry: {max_attempts: 3, backoff: 1s, max_backoff: 2s}\n",
		"name: a\nsteps: [{id: a, action: x, input: [[[[[[[[[[1]]]]]]]]]]}]\n",
		"<<: {name: a}\n",
		"name: a\nsteps:\n  - id: a\n    action: x\n    condition: |\n      steps.?a.hasValue()\n",
		"${{",
		"name: '${{ }}'\n",
		"name: a\nsteps:\n  - id: a\n    action: x\n    condition: |", // an empty block at the end: its error is on line 5
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		d, err := Parse(text)
		if err != nil {
			checkParseError(t, text, err)
			return
		}
		if len(d.Order) != len(d.Steps) {
			t.Fatalf("order %v for %d steps", d.Order, len(d.Steps))
		}
		sc := Scope{Input: map[string]any{"k": 1.0}, Steps: map[string]StepView{}}
		for _, s := range d.Steps {
			_, _ = s.Condition(sc)
			if in, err := s.Input(sc); err == nil && !json.Valid(in) {
				t.Fatalf("step %s: invalid JSON input %q", s.ID, in)
			}
			if in, err := s.CompensationInput(sc); err == nil && !json.Valid(in) {
				t.Fatalf("step %s: invalid JSON compensation input %q", s.ID, in)
			}
			sc.Steps[s.ID] = StepView{Status: "succeeded", Result: map[string]any{"k": []any{1.0, "x"}}}
		}
	})
}

func checkParseError(t *testing.T, text []byte, err error) {
	t.Helper()
	var ce *cairn.Error
	if !errors.As(err, &ce) || ce.Code != cairn.CodeWorkflowInvalid || ce.Message == "" {
		t.Fatalf("%q: bad error %#v", text, err)
	}
	if lines := yamlLines(string(text)); ce.Line < 0 || ce.Line > lines {
		t.Fatalf("%q: line %d of %d: %s", text, ce.Line, lines, ce.Message)
	}
	if ce.Line > 0 && !strings.HasPrefix(ce.Message, "line "+strconv.Itoa(ce.Line)+": ") {
		t.Fatalf("%q: message %q does not start with its line %d", text, ce.Message, ce.Line)
	}
	if ce.Line == 0 && !strings.HasPrefix(ce.Message, "definition ") {
		t.Fatalf("%q: no line in %q", text, ce.Message)
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

func BenchmarkInput(b *testing.B) {
	d := mustParse(b, `name: bench
steps:
  - {id: lookup, action: db.read}
  - id: refund
    action: payments.transfer
    depends_on: [lookup]
    input:
      order_id: "${{ input.order_id }}"
      amount: "${{ steps.lookup.result.amount }}"
      memo: "refund for ${{ input.order_id }} (run ${{ run.run_id }})"
`)
	s := d.Step("refund")
	sc := Scope{
		Input: map[string]any{"order_id": "o-123", "customer": "c-9"},
		Steps: map[string]StepView{"lookup": {Status: "succeeded", Result: map[string]any{"amount": 12.5, "currency": "EUR"}, Attempts: 1, JobID: "j1"}},
		Run:   RunView{RunID: "r-1", WorkflowID: "wf:t:bench#sha256:00", StartedBy: "alice"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Input(sc); err != nil {
			b.Fatal(err)
		}
	}
}
