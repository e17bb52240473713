package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// bench50 is a 50-rule bundle: most rules miss on action, resource or labels;
// six have `when`s that run (and are false) for the benchmarked job; rule 48
// decides.
func bench50() string {
	var sb strings.Builder
	sb.WriteString("default: deny\nrules:\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&sb, "  - id: rule-%02d\n", i)
		switch {
		case i == 48:
			sb.WriteString("    match: {actions: [\"payments.*\"], labels: {env: prod}, principal: {kinds: [agent]}}\n")
			sb.WriteString("    when: input.amount > 100 && input.currency == 'EUR'\n")
			sb.WriteString("    decision: REQUIRE_APPROVAL\n    reason: big payment\n    approval: {approver_roles: [approver], expires_in: 24h}\n")
			continue
		case i%8 == 3: // CEL rules that run and are false
			sb.WriteString("    match: {actions: [\"payments.transfer\", \"payments.refund\"]}\n")
			fmt.Fprintf(&sb, "    when: input.amount > %d.0 && 'blocked' in job.risk_tags || principal.id == 'nobody-%d'\n", 1000+i, i)
		case i%8 == 5:
			fmt.Fprintf(&sb, "    match: {actions: [\"svc%d.*\"], resources: [\"prod/*\"]}\n", i)
		case i%8 == 6:
			fmt.Fprintf(&sb, "    match: {actions: [\"*\"], labels: {team: t%d}}\n", i)
		default:
			fmt.Fprintf(&sb, "    match: {actions: [\"db%d.write\", \"db%d.delete\"]}\n", i, i)
		}
		sb.WriteString("    decision: DENY\n    reason: no\n")
	}
	return sb.String()
}

func BenchmarkEvaluate50Rules(b *testing.B) {
	bundle := mustCompile(b, bench50())
	in := cairn.PolicyInput{
		Tenant: "default", JobID: "j1", Action: "payments.transfer", Resource: "acct/42",
		Labels:    map[string]string{"env": "prod", "team": "pay"},
		RiskTags:  []string{"money"},
		Input:     map[string]any{"amount": 5000.0, "currency": "EUR", "to": "DE00"},
		Principal: cairn.Principal{ID: "bot-7", Kind: cairn.KindAgent, Roles: []string{"agent"}},
	}
	ev := bundle.Evaluate(in)
	if ev.RuleID != "rule-48" || len(ev.Trace) != 49 {
		b.Fatalf("decided by %q after %d rules: %+v", ev.RuleID, len(ev.Trace), ev.Trace)
	}
	ran := 0
	for _, tr := range ev.Trace {
		if strings.HasPrefix(tr.Why, "when ") {
			ran++
		}
	}
	if ran < 6 {
		b.Fatalf("only %d whens ran", ran)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ev = bundle.Evaluate(in)
	}
	_ = ev
}

func BenchmarkCompile50Rules(b *testing.B) {
	src := []byte(bench50())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}
