package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// failClosedBundle allows by default; its DENY and REQUIRE_APPROVAL rules
// are the only thing between an agent and an ALLOW.
const failClosedBundle = `default: allow
rules:
  - id: no-flagged
    when: input.items.exists(i, i == "flagged")
    decision: DENY
    reason: flagged items
  - id: big-amount
    when: input.amount > 10000
    decision: REQUIRE_APPROVAL
    reason: big amounts need approval
    approval: {approver_roles: [approver]}
  - id: odd-allow
    when: input.amount > 0 && input.nope == 1
    decision: ALLOW
    reason: never
  - id: small-is-fine
    decision: ALLOW
    reason: small
`

func items(n int) []any {
	xs := make([]any, n)
	for i := range xs {
		xs[i] = "ok"
	}
	return xs
}

// TestWhenErrorFailsClosed: a `when` that cannot be evaluated in a DENY or
// REQUIRE_APPROVAL rule makes that rule decide (issue 11, finding 1); in
// an ALLOW rule it does not match.
func TestWhenErrorFailsClosed(t *testing.T) {
	b := mustCompile(t, failClosedBundle)
	heavy := make([]any, maxInputWeight+10)
	for i := range heavy {
		heavy[i] = 0.0
	}
	tests := []struct {
		name     string
		input    any
		decision string
		rule     string
		why      string // in the deciding trace entry
	}{
		{"cost overrun in DENY", map[string]any{"items": items(20000), "amount": 5.0}, cairn.Deny, "no-flagged", "cost limit"},
		{"type error in REQUIRE_APPROVAL", map[string]any{"items": []any{}, "amount": "20000"}, cairn.RequireApproval, "big-amount", "no such overload"},
		{"missing key in REQUIRE_APPROVAL", map[string]any{"items": []any{}}, cairn.RequireApproval, "big-amount", "no such key: amount"},
		{"input too heavy for the budget", map[string]any{"items": []any{}, "amount": 5.0, "pad": heavy}, cairn.Deny, "no-flagged", "too large"},
		{"error in ALLOW does not match", map[string]any{"items": []any{}, "amount": 5.0}, cairn.Allow, "small-is-fine", "applies to every job"},
		{"all fine", map[string]any{"items": items(10), "amount": 20000.0}, cairn.RequireApproval, "big-amount", "was true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := b.Evaluate(cairn.PolicyInput{Action: "pay", Input: tt.input})
			last := ev.Trace[len(ev.Trace)-1]
			if ev.Decision != tt.decision || ev.RuleID != tt.rule || !last.Matched || !strings.Contains(last.Why, tt.why) {
				t.Fatalf("got %s by %q, want %s by %q (why containing %q); trace %+v", ev.Decision, ev.RuleID, tt.decision, tt.rule, tt.why, ev.Trace)
			}
			forced := strings.Contains(last.Why, "could not be evaluated")
			if forced != (tt.decision != cairn.Allow && tt.why != "was true") {
				t.Errorf("trace %q: fail-closed wording %v", last.Why, forced)
			}
			if forced && !strings.Contains(ev.Explanation, "could not be evaluated: ") {
				t.Errorf("explanation %q does not say the when could not be evaluated", ev.Explanation)
			}
		})
	}
	// The ALLOW rule's error is in its (unmatched) trace entry.
	ev := b.Evaluate(cairn.PolicyInput{Action: "pay", Input: map[string]any{"items": []any{}, "amount": 5.0}})
	if tr := ev.Trace[2]; tr.RuleID != "odd-allow" || tr.Matched || tr.Why != "when: no such key: nope" {
		t.Errorf("ALLOW error trace = %+v", tr)
	}
}

// TestCheapExpressionsAreCostLimited: every `when` runs under the cost
// limit, also one built only from "cheap" functions (finding 2).
func TestCheapExpressionsAreCostLimited(t *testing.T) {
	b := mustCompile(t, `default: allow
rules:
  - id: needle
    when: input.hay.contains(input.needle)
    decision: DENY
    reason: found
`)
	in := map[string]any{"hay": strings.Repeat("a", 200_000), "needle": strings.Repeat("a", 2000) + "b"}
	ev := b.Evaluate(cairn.PolicyInput{Action: "a", Input: in})
	if ev.Decision != cairn.Deny || !strings.Contains(ev.Trace[0].Why, "cost limit") {
		t.Fatalf("got %s; trace %+v", ev.Decision, ev.Trace)
	}
}

// TestEvaluateContext: once the context ends, `when`s stop (they fail as
// interrupted, and fail closed).
func TestEvaluateContext(t *testing.T) {
	b := mustCompile(t, failClosedBundle)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := b.EvaluateContext(ctx, cairn.PolicyInput{Action: "pay", Input: map[string]any{"items": items(10), "amount": 1.0}})
	if ev.Decision != cairn.Deny || ev.RuleID != "no-flagged" || !strings.Contains(ev.Trace[0].Why, "interrupted") {
		t.Fatalf("got %s by %q; trace %+v", ev.Decision, ev.RuleID, ev.Trace)
	}
	// Inside a comprehension: the interrupt is seen while it runs.
	c := mustCompile(t, "rules:\n  - id: slow\n    when: input.xs.all(x, input.xs.all(y, x != 'z'))\n    decision: DENY\n    reason: r\n")
	ctx, cancel = context.WithCancel(context.Background())
	act := activation{ctx: ctx, in: &cairn.PolicyInput{Input: map[string]any{"xs": items(3000)}}, weight: -1}
	cancel()
	if _, err := evalWhen(c.rules[0].prg, &act); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("evalWhen after cancel: %v", err)
	}
}

func TestInputWeight(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want int
	}{
		{nil, 1},
		{1.0, 1},
		{"0123456789", 2},
		{[]any{1.0, "x"}, 3},
		{map[string]any{"abcdefghij": []any{}}, 4},
	} {
		if got := inputWeight(tt.v, 1000); got != tt.want {
			t.Errorf("inputWeight(%v) = %d, want %d", tt.v, got, tt.want)
		}
	}
	if got := inputWeight(items(5000), 100); got != 101 {
		t.Errorf("capped weight = %d, want 101", got)
	}
}
