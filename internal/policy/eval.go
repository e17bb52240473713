package policy

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cairnhq/cairn"
)

// NoPolicyReason is the reason recorded when no policy is published.
const NoPolicyReason = "no policy is published; every action is denied"

// NoPolicy is the deny-all evaluation used while no bundle is published.
// RuleID and Snapshot are empty; DefaultRule is false (there is no bundle,
// so there is no default either).
func NoPolicy(in cairn.PolicyInput) cairn.Evaluation {
	return cairn.Evaluation{
		Decision:    cairn.Deny,
		RuleID:      "",
		Reason:      NoPolicyReason,
		Explanation: "no policy is published, so action " + orEmpty(in.Action) + " is denied: every action is denied until a bundle is published",
		Trace:       []cairn.RuleTrace{},
	}
}

func orEmpty(a string) string {
	if a == "" {
		return `""`
	}
	return a
}

// precompute builds the explanation fragments that do not depend on the job.
func (r *rule) precompute() {
	r.hasMatch = r.hasConditions()
	if r.actions != nil {
		r.actionsNo = " does not match " + r.actions.text
	}
	if r.resources != nil {
		r.resourcesNo = " does not match " + r.resources.text
	}
	if len(r.riskAny) > 0 {
		r.riskAnyNo = "none of risk tags [" + strings.Join(r.riskAny, " ") + "] present"
	}
	if len(r.kinds) > 0 {
		r.kindsNo = " not in [" + strings.Join(r.kinds, " ") + "]"
	}
	if len(r.roles) > 0 {
		r.rolesNo = " include none of [" + strings.Join(r.roles, " ") + "]"
	}
	if r.ids != nil {
		r.idsNo = " does not match " + r.ids.text
	}
	if r.prg != nil {
		r.whenText = "when " + r.when + " was "
	}
	r.failClosed = r.out.decision == cairn.Deny || r.out.decision == cairn.RequireApproval
}

// hasConditions reports whether r has any match condition.
func (r *rule) hasConditions() bool {
	return r.actions != nil || r.resources != nil || len(r.labels) > 0 || len(r.riskAll) > 0 ||
		len(r.riskAny) > 0 || len(r.kinds) > 0 || len(r.roles) > 0 || r.ids != nil
}

// Evaluate decides in against the bundle: rules are tried in order and the
// first whose match and when both hold decides; when none does the default
// decides (RuleID DefaultRuleID, DefaultRule true). Trace has one entry per
// rule tried, up to and including the decider (for the default, a final
// entry with RuleID "default"). Evaluate never panics and is safe for
// concurrent use.
//
// A `when` that cannot be evaluated (a runtime error, the cost limit, an
// input too large for it) fails closed: a DENY or REQUIRE_APPROVAL rule
// whose other conditions hold then decides, and its trace entry and the
// explanation name the error; any other rule does not match.
func (b *Bundle) Evaluate(in cairn.PolicyInput) cairn.Evaluation {
	return b.EvaluateContext(context.Background(), in)
}

// EvaluateContext is Evaluate under ctx: once ctx ends, every `when` still
// to run fails ("operation interrupted") and fails closed as above. A
// caller that sees ctx.Err() != nil afterwards should discard the result.
func (b *Bundle) EvaluateContext(ctx context.Context, in cairn.PolicyInput) cairn.Evaluation {
	if ctx == nil {
		ctx = context.Background()
	}
	ev := cairn.Evaluation{Snapshot: b.snapshot}
	trace := make([]cairn.RuleTrace, 0, len(b.rules)+1)
	act := activation{ctx: ctx, in: &in, now: in.Now, weight: -1}
	if act.now.IsZero() {
		act.now = cairn.Now()
	}
	t := &text{buf: make([]byte, 0, (56+len(in.Action))*len(b.rules)+128)}
	for _, r := range b.rules {
		ok, why, forced := r.try(&in, &act, t)
		trace = append(trace, cairn.RuleTrace{RuleID: r.id, Matched: ok, Why: why})
		if ok {
			ev.RuleID = r.id
			start := len(t.buf)
			if forced {
				t.w("rule ").w(r.id).w(" decided because its when could not be evaluated: ")
			} else {
				t.w("rule ").w(r.id).w(" matched: ")
			}
			ev.Explanation = t.w(why).str(start)
			ev.Trace = trace
			b.fill(&ev, &r.out)
			return ev
		}
	}
	var why string
	if b.defLine == 0 {
		why = "no rule matched; the bundle has no default, so " + b.def.decision + " applies"
	} else {
		why = "no rule matched; the bundle default " + b.def.decision + " applies"
	}
	trace = append(trace, cairn.RuleTrace{RuleID: defaultRuleID, Matched: true, Why: why})
	ev.RuleID = defaultRuleID
	ev.DefaultRule = true
	ev.Trace = trace
	n := len(b.rules)
	switch n {
	case 0:
		ev.Explanation = "the bundle has no rules, so the default decision " + b.def.decision + " applies"
	case 1:
		ev.Explanation = "no rule matched (1 rule tried), so the default decision " + b.def.decision + " applies"
	default:
		ev.Explanation = "no rule matched (" + strconv.Itoa(n) + " rules tried), so the default decision " + b.def.decision + " applies"
	}
	b.fill(&ev, &b.def)
	return ev
}

func (b *Bundle) fill(ev *cairn.Evaluation, o *outcome) {
	ev.Decision = o.decision
	ev.Reason = o.reason
	ev.ExpiresIn = o.expiresIn
	if o.constraints != nil {
		ev.Constraints = bytes.Clone(o.constraints)
	}
	if o.approval != nil {
		ev.Approval = &cairn.ApprovalSpec{
			ApproverRoles: slices.Clone(o.approval.ApproverRoles),
			ExpiresIn:     o.approval.ExpiresIn,
		}
	}
}

// text is an append-only arena for the trace's strings: every Why of one
// evaluation is a view into one growing buffer, so a 50-rule trace costs a
// handful of allocations instead of one per rule. Bytes already handed out
// as strings are never written again (append only writes past len, and a
// reallocation leaves the old array to the strings that point into it).
type text struct{ buf []byte }

func (t *text) w(s string) *text {
	t.buf = append(t.buf, s...)
	return t
}

func (t *text) str(start int) string {
	if len(t.buf) == start {
		return ""
	}
	return unsafe.String(&t.buf[start], len(t.buf)-start)
}

// ruleMatch is what satisfied a rule's conditions, for the explanation.
type ruleMatch struct {
	actG, resG, idG *glob
	anyTag, role    string
	whenErr         error
}

// try reports whether r applies to in and why (or why not). The reason for
// a miss is the first condition that failed; for a match, every condition.
// forced is true when r applies only because its `when` could not be
// evaluated and r fails closed (DENY or REQUIRE_APPROVAL).
func (r *rule) try(in *cairn.PolicyInput, act *activation, t *text) (matched bool, why string, forced bool) {
	start := len(t.buf)
	var m ruleMatch
	// Cheap checks first; CEL last.
	if why, missed := r.matchTarget(in, t, start, &m); missed {
		return false, why, false
	}
	if why, missed := r.matchRisk(in, t, start, &m); missed {
		return false, why, false
	}
	if why, missed := r.matchPrincipal(&in.Principal, t, start, &m); missed {
		return false, why, false
	}
	if why, missed := r.matchWhen(act, t, start, &m); missed {
		return false, why, false
	}
	return r.explainMatch(in, t, start, &m)
}

// matchTarget checks the action, the resource and the labels; on a miss it
// returns why.
func (r *rule) matchTarget(in *cairn.PolicyInput, t *text, start int, m *ruleMatch) (string, bool) {
	if r.actions != nil {
		g, ok := r.actions.match(in.Action)
		if !ok {
			return t.w("action ").w(orEmpty(in.Action)).w(r.actionsNo).str(start), true
		}
		m.actG = g
	}
	if r.resources != nil {
		if in.Resource == "" {
			return t.w("job has no resource; rule requires one matching ").w(r.resources.text).str(start), true
		}
		g, ok := r.resources.match(in.Resource)
		if !ok {
			return t.w("resource ").w(in.Resource).w(r.resourcesNo).str(start), true
		}
		m.resG = g
	}
	for _, l := range r.labels {
		v, ok := in.Labels[l.key]
		if !ok {
			return t.w("label ").w(l.key).w(" is absent (rule wants ").w(l.key).w("=").w(l.value).w(")").str(start), true
		}
		if v != l.value {
			return t.w("label ").w(l.key).w("=").w(v).w(" (rule wants ").w(l.key).w("=").w(l.value).w(")").str(start), true
		}
	}
	return "", false
}

// matchRisk checks the risk tags (all of riskAll, one of riskAny); on a miss
// it returns why.
func (r *rule) matchRisk(in *cairn.PolicyInput, t *text, start int, m *ruleMatch) (string, bool) {
	for _, tag := range r.riskAll {
		if !slices.Contains(in.RiskTags, tag) {
			return t.w("risk tag ").w(tag).w(" is absent").str(start), true
		}
	}
	if len(r.riskAny) == 0 {
		return "", false
	}
	for _, tag := range r.riskAny {
		if slices.Contains(in.RiskTags, tag) {
			m.anyTag = tag
			return "", false
		}
	}
	return r.riskAnyNo, true
}

// matchPrincipal checks the principal's kind, roles and id; on a miss it
// returns why.
func (r *rule) matchPrincipal(p *cairn.Principal, t *text, start int, m *ruleMatch) (string, bool) {
	if len(r.kinds) > 0 && !slices.Contains(r.kinds, p.Kind) {
		return t.w("principal kind ").w(orEmpty(p.Kind)).w(r.kindsNo).str(start), true
	}
	if len(r.roles) > 0 {
		m.role = firstShared(r.roles, p.Roles)
		if m.role == "" {
			t.w("principal roles [")
			for i, x := range p.Roles {
				if i > 0 {
					t.w(" ")
				}
				t.w(x)
			}
			return t.w("]").w(r.rolesNo).str(start), true
		}
	}
	if r.ids != nil {
		g, ok := r.ids.match(p.ID)
		if !ok {
			return t.w("principal id ").w(orEmpty(p.ID)).w(r.idsNo).str(start), true
		}
		m.idG = g
	}
	return "", false
}

// firstShared returns the first of want that have holds, or "".
func firstShared(want, have []string) string {
	for _, x := range want {
		if slices.Contains(have, x) {
			return x
		}
	}
	return ""
}

// matchWhen runs the rule's `when`, if any; on a miss it returns why. An
// error that the rule fails closed on is kept in m.whenErr and is no miss.
func (r *rule) matchWhen(act *activation, t *text, start int, m *ruleMatch) (string, bool) {
	if r.prg == nil {
		return "", false
	}
	var ok bool
	if err := act.ctx.Err(); err != nil {
		m.whenErr = fmt.Errorf("operation interrupted: %w", err)
	} else if r.readsInput && act.inputTooHeavy() {
		m.whenErr = errInputTooHeavy
	} else {
		ok, m.whenErr = evalWhen(r.prg, act)
	}
	switch {
	case m.whenErr != nil && !r.failClosed:
		return t.w("when: ").w(m.whenErr.Error()).str(start), true
	case m.whenErr == nil && !ok:
		return t.w(r.whenText).w("false").str(start), true
	}
	return "", false
}

// sep writes "; " unless nothing has been written since start.
func (t *text) sep(start int) *text {
	if len(t.buf) > start {
		t.w("; ")
	}
	return t
}

// explainMatch says why r matched, every condition.
func (r *rule) explainMatch(in *cairn.PolicyInput, t *text, start int, m *ruleMatch) (matched bool, why string, forced bool) {
	if !r.hasMatch && r.prg == nil {
		return true, "rule has no match or when conditions, so it applies to every job", false
	}
	r.explainTarget(in, t, start, m)
	r.explainPrincipal(&in.Principal, t, start, m)
	if m.whenErr != nil {
		t.sep(start).w("when ").w(r.when).w(" could not be evaluated (").w(m.whenErr.Error()).w("), so this ").w(r.out.decision).
			w(" rule applies: a DENY or REQUIRE_APPROVAL rule fails closed")
		return true, t.str(start), true
	}
	if r.prg != nil {
		t.sep(start).w(r.whenText).w("true")
	}
	return true, t.str(start), false
}

// explainTarget writes the matched action, resource, labels and risk tags.
func (r *rule) explainTarget(in *cairn.PolicyInput, t *text, start int, m *ruleMatch) {
	if m.actG != nil {
		t.w("action ").w(in.Action).w(" matches ").w(m.actG.src)
	}
	if m.resG != nil {
		t.sep(start).w("resource ").w(in.Resource).w(" matches ").w(m.resG.src)
	}
	for _, l := range r.labels {
		t.sep(start).w("label ").w(l.key).w("=").w(l.value)
	}
	if len(r.riskAll) == 1 {
		t.sep(start).w("risk tag ").w(r.riskAll[0])
	} else if len(r.riskAll) > 1 {
		t.sep(start).w("risk tags ").w(strings.Join(r.riskAll, ", "))
	}
	if m.anyTag != "" {
		t.sep(start).w("risk tag ").w(m.anyTag).w(" (any of [").w(strings.Join(r.riskAny, " ")).w("])")
	}
}

// explainPrincipal writes the matched principal kind, role and id.
func (r *rule) explainPrincipal(p *cairn.Principal, t *text, start int, m *ruleMatch) {
	if len(r.kinds) > 0 {
		t.sep(start).w("principal kind ").w(p.Kind)
	}
	if m.role != "" {
		t.sep(start).w("principal role ").w(m.role)
	}
	if m.idG != nil {
		t.sep(start).w("principal id ").w(p.ID).w(" matches ").w(m.idG.src)
	}
}
