package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"cel.dev/cel-go/cel"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/yamlcheck"
)

// Limits on a bundle.
const (
	MaxBundleBytes    = 1 << 20 // 1 MiB
	MaxRules          = 10_000
	MaxOutputRules    = 1_000
	MaxPatterns       = 20   // per output rule
	MaxPatternBytes   = 1000 // per pattern
	MaxListItems      = 1000 // globs, roles, tags … in one list
	maxYAMLDepth      = 64
	maxExpiresIn      = 365 * 24 * time.Hour
	maxExactJSONInt   = 1 << 53
	defaultRuleID     = "default"
	defaultApprovRole = cairn.RoleApprover
)

// DefaultRuleID is the RuleID of an Evaluation decided by the bundle's
// default (no rule matched). No rule may use this id.
const DefaultRuleID = defaultRuleID

var ruleIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Bundle is a compiled, immutable policy bundle. It is safe for concurrent use.
type Bundle struct {
	text     []byte
	snapshot string
	rules    []*rule
	byID     map[string]int
	def      outcome
	defLine  int
	outputs  []cairn.OutputRule
}

// RuleInfo locates a rule in the bundle text, for UIs that highlight it.
type RuleInfo struct {
	ID          string `json:"id"`
	Line        int    `json:"line"`     // 1-based line where the rule starts
	EndLine     int    `json:"end_line"` // 1-based last line of the rule
	Decision    string `json:"decision"`
	Reason      string `json:"reason"`
	Description string `json:"description,omitempty"`
}

// outcome is what a rule (or the default) decides when it applies.
type outcome struct {
	decision    string
	reason      string
	approval    *cairn.ApprovalSpec
	expiresIn   time.Duration
	constraints json.RawMessage
}

type labelEq struct{ key, value string }

type rule struct {
	id, description string
	line, endLine   int
	out             outcome

	hasMatch  bool
	actions   *globList
	resources *globList
	labels    []labelEq
	riskAll   []string
	riskAny   []string
	kinds     []string
	roles     []string
	ids       *globList

	when       string // one-line form for explanations
	prg        cel.Program
	readsInput bool   // the `when` names input (see maxInputWeight)
	whenText   string // "when <expr> was " prefix
	// failClosed: the rule's decision is DENY or REQUIRE_APPROVAL, so a
	// `when` that cannot be evaluated makes the rule decide (see try).
	failClosed bool

	// precomputed fragments for explanations
	actionsNo, resourcesNo, riskAnyNo, kindsNo, rolesNo, idsNo string
}

// SnapshotID is cairn.SnapshotPrefix + the hex SHA-256 of the exact bytes.
func (b *Bundle) SnapshotID() string { return b.snapshot }

// Text returns a copy of the exact bytes the bundle was compiled from.
func (b *Bundle) Text() []byte { return bytes.Clone(b.text) }

// OutputRules returns a copy of the bundle's output rules, in order.
func (b *Bundle) OutputRules() []cairn.OutputRule {
	out := make([]cairn.OutputRule, len(b.outputs))
	for i, r := range b.outputs {
		r.Scanners = slices.Clone(r.Scanners)
		r.Patterns = slices.Clone(r.Patterns)
		r.Actions = slices.Clone(r.Actions)
		out[i] = r
	}
	return out
}

// Rule returns where rule id is in the bundle text. Rule(DefaultRuleID)
// describes the default (Line is the line of the `default:` key, 0 when the
// bundle omits it).
func (b *Bundle) Rule(id string) (RuleInfo, bool) {
	if id == defaultRuleID {
		return RuleInfo{ID: defaultRuleID, Line: b.defLine, EndLine: b.defLine, Decision: b.def.decision, Reason: b.def.reason}, true
	}
	i, ok := b.byID[id]
	if !ok {
		return RuleInfo{}, false
	}
	return b.rules[i].info(), true
}

// Rules lists every rule in bundle order (the default is not included).
func (b *Bundle) Rules() []RuleInfo {
	out := make([]RuleInfo, len(b.rules))
	for i, r := range b.rules {
		out[i] = r.info()
	}
	return out
}

func (r *rule) info() RuleInfo {
	return RuleInfo{ID: r.id, Line: r.line, EndLine: r.endLine, Decision: r.out.decision, Reason: r.out.reason, Description: r.description}
}

// ---------------------------------------------------------------------------
// Errors

// perr builds a 422; a known line is also named at the start of Message.
func perr(line int, field, format string, args ...any) *cairn.Error {
	return yamlcheck.NewError(cairn.EPolicy, line, field, fmt.Sprintf(format, args...))
}

func nodeErr(n *yaml.Node, field, format string, args ...any) *cairn.Error {
	return perr(yamlcheck.Line(n), field, format, args...)
}

// perrMsg is perr as a yamlcheck.ErrorFunc.
func perrMsg(line int, field, msg string) *cairn.Error {
	return yamlcheck.NewError(cairn.EPolicy, line, field, msg)
}

// ---------------------------------------------------------------------------
// Compile

// Compile parses and type-checks a YAML bundle. Every error is a *cairn.Error with
// Status 422, Code cairn.EPolicy, Line set to the 1-based line of the offending YAML node
// (when known), Field set to a path like "rules[2].when", and a clear Message.
func Compile(text []byte) (*Bundle, error) {
	root, err := bundleRoot(text)
	if err != nil {
		return nil, err
	}
	c := &compiler{text: text}
	b := &Bundle{text: bytes.Clone(text), byID: map[string]int{}}
	sum := sha256.Sum256(text)
	b.snapshot = cairn.SnapshotPrefix + hex.EncodeToString(sum[:])
	b.def = outcome{decision: cairn.Deny, reason: "no rule matched; the bundle has no default, so the action is denied"}

	top, err := mapping(root, "", "bundle", []string{"version", "default", "rules", "output_rules"})
	if err != nil {
		return nil, err
	}
	if err := c.topLevel(b, top); err != nil {
		return nil, err
	}
	return b, nil
}

// bundleRoot checks the bundle's size and YAML and returns its root node,
// a mapping.
func bundleRoot(text []byte) (*yaml.Node, error) {
	if len(text) > MaxBundleBytes {
		return nil, perr(0, "", "bundle is %d bytes; the limit is %d bytes (1 MiB)", len(text), MaxBundleBytes)
	}
	if err := yamlcheck.CheckText(text, true, perrMsg); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, perr(0, "", "bundle is empty")
	}

	doc, extra, err := yamlcheck.Decode(text)
	switch {
	case err != nil:
		return nil, yamlErr(text, err)
	case doc == nil:
		return nil, perr(0, "", "bundle is empty (only comments or white space)")
	case extra != nil:
		return nil, nodeErr(extra, "", "bundle has more than one YAML document; publish exactly one")
	}
	return documentRoot(doc)
}

// documentRoot returns the root of the decoded document doc when it is a
// mapping without aliases and within the depth limit.
func documentRoot(doc *yaml.Node) (*yaml.Node, error) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, perr(0, "", "bundle is empty")
		}
		root = root.Content[0]
	}
	// Aliases are rejected outright: nothing in a bundle needs them.
	if err := yamlcheck.CheckTree(root, "", yamlcheck.TreeRules{MaxDepth: maxYAMLDepth, Where: " in a policy bundle"}, perrMsg); err != nil {
		return nil, err
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		line := root.Line
		if root.Value == "" { // an empty document: yaml.v3 places its null after the text
			line = 0
		}
		return nil, perr(line, "", "bundle is empty")
	}
	if root.Kind != yaml.MappingNode {
		return nil, nodeErr(root, "", "bundle must be a YAML mapping with keys version, default, rules, output_rules; found %s", kindName(root))
	}
	return root, nil
}

// topLevel compiles the bundle's top-level keys into b.
func (c *compiler) topLevel(b *Bundle, top *mapNode) error {
	for i, kv := range top.pairs {
		var err error
		switch kv.key.Value {
		case "version":
			if kv.val.Kind != yaml.ScalarNode || kv.val.Value != "1" {
				return nodeErr(kv.val, "version", "unsupported version %q; the only version is 1", scalarOr(kv.val))
			}
		case "default":
			b.defLine = kv.key.Line
			b.def, err = c.defaultOutcome(kv.val)
		case "rules":
			nextTopLine := 0
			if i+1 < len(top.pairs) {
				nextTopLine = top.pairs[i+1].key.Line
			}
			err = c.rules(b, kv.val, nextTopLine)
		case "output_rules":
			b.outputs, err = c.outputRules(kv.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func yamlErr(text []byte, err error) *cairn.Error {
	line, msg, located := yamlcheck.SplitError(err)
	// yaml.v3 reports parser (as opposed to scanner) errors with a
	// 0-based line: the line where the enclosing block or flow
	// collection starts. Make it 1-based.
	switch {
	case located && isYAMLParserError(msg):
		line = refineYAMLLine(text, msg, line+1)
	case !located:
		// yaml.v3 names no line for a problem on line 1, nor for some
		// errors (an unknown anchor): find the first prefix that fails.
		line = refineYAMLLine(text, msg, 1)
	}
	return perr(line, "", "not valid YAML: %s", msg)
}

// refineYAMLLine finds the line that makes a parser error happen. libyaml
// reports such errors at the start of the enclosing collection, which for a
// mis-indented key is often far from the culprit. Parsing a prefix of a
// block document succeeds until the prefix includes the offending line, so
// a binary search over prefixes finds it in O(log lines) parses.
func refineYAMLLine(text []byte, msg string, from int) int {
	ends := yamlcheck.LineEnds(text)
	fails := func(line int) bool {
		m, failed := yamlcheck.FirstError(text[:ends[line-1]])
		return failed && m == msg
	}
	lo, hi := max(from, 1), len(ends)
	if lo > hi {
		return hi // past the end of the text: the error is on its last line
	}
	if !fails(hi) {
		return from
	}
	return yamlcheck.Bisect(lo, hi, fails)
}

// isYAMLParserError reports whether msg is one of libyaml's parser errors
// (see parserc.go), which yaml.v3 reports with a 0-based line.
func isYAMLParserError(msg string) bool {
	for _, p := range []string{"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("the scalar %q", truncate(n.Value, 40))
	}
	return "something else"
}

func scalarOr(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return kindName(n)
}

func truncate(s string, n int) string { return yamlcheck.Truncate(s, n) }

// ---------------------------------------------------------------------------
// Rules

type compiler struct {
	text  []byte
	lines [][]byte
	progs map[string]compiledWhen // dedupe identical `when`s
}

var ruleKeys = []string{"id", "description", "match", "when", "decision", "reason", "approval", "constraints"}

func (c *compiler) rules(b *Bundle, n *yaml.Node, nextTopLine int) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "rules:" with nothing: no rules
	}
	if n.Kind != yaml.SequenceNode {
		return nodeErr(n, "rules", "rules must be a list, found %s", kindName(n))
	}
	if len(n.Content) > MaxRules {
		return nodeErr(n, "rules", "bundle has %d rules; the limit is %d", len(n.Content), MaxRules)
	}
	for i, rn := range n.Content {
		field := index("rules", i)
		r, err := c.rule(rn, field)
		if err != nil {
			return err
		}
		if r.id == defaultRuleID {
			idn, _ := mustGet(rn, "id")
			return nodeErr(idn, field+".id", "rule id %q is reserved for the bundle default", defaultRuleID)
		}
		if j, dup := b.byID[r.id]; dup {
			idn, _ := mustGet(rn, "id")
			return nodeErr(idn, field+".id", "duplicate rule id %q (also rules[%d] at line %d)", r.id, j, b.rules[j].line)
		}
		upper := 0
		if i+1 < len(n.Content) {
			upper = n.Content[i+1].Line - 1
		} else if nextTopLine > 0 {
			upper = nextTopLine - 1
		} else {
			upper = bytes.Count(c.text, []byte{'\n'}) + 1
		}
		r.endLine = c.endLine(rn, upper)
		b.byID[r.id] = len(b.rules)
		b.rules = append(b.rules, r)
	}
	return nil
}

func mustGet(n *yaml.Node, key string) (*yaml.Node, bool) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], true
		}
	}
	return n, false
}

// endLine is the last line belonging to rule node n: the line before the
// next rule (or next top-level key), less trailing blank and comment lines,
// and never before the last line any of its nodes starts on.
func (c *compiler) endLine(n *yaml.Node, upper int) int {
	last := maxLine(n)
	if c.lines == nil {
		c.lines = bytes.Split(c.text, []byte{'\n'})
	}
	for upper > last {
		if upper-1 < len(c.lines) {
			t := bytes.TrimSpace(c.lines[upper-1])
			if len(t) != 0 && t[0] != '#' {
				break
			}
		}
		upper--
	}
	return max(upper, last)
}

func maxLine(n *yaml.Node) int {
	m := n.Line
	for _, c := range n.Content {
		m = max(m, maxLine(c))
	}
	return m
}

func (c *compiler) rule(n *yaml.Node, field string) (*rule, error) {
	m, err := mapping(n, field, "rule", ruleKeys)
	if err != nil {
		return nil, err
	}
	r := &rule{line: n.Line}
	p, ok := m.get("id")
	if !ok {
		return nil, nodeErr(n, field+".id", "rule is missing id")
	}
	if r.id, err = str(p.val, field+".id", "id"); err != nil {
		return nil, err
	}
	if !ruleIDRe.MatchString(r.id) {
		return nil, nodeErr(p.val, field+".id", "rule id %q must be 1-128 characters of A-Z a-z 0-9 . _ : -", truncate(r.id, 60))
	}
	named := fmt.Sprintf("rule %q", r.id)
	if p, ok := m.get("description"); ok && !(p.val.Kind == yaml.ScalarNode && p.val.Tag == "!!null") {
		if p.val.Kind != yaml.ScalarNode {
			return nil, nodeErr(p.val, field+".description", "description must be a string, found %s", kindName(p.val))
		}
		r.description = p.val.Value
	}

	// decision, reason, approval, constraints
	o, err := c.outcomeOf(m, n, field, named, false)
	if err != nil {
		return nil, err
	}
	r.out = o

	if p, ok := m.get("match"); ok {
		if err := c.match(r, p.val, field+".match"); err != nil {
			return nil, err
		}
	}
	if p, ok := m.get("when"); ok {
		if err := c.when(r, p.val, field+".when"); err != nil {
			return nil, err
		}
	}
	r.precompute()
	return r, nil
}

var decisionNames = strings.Join(cairn.AllDecisions, ", ")

func parseDecision(n *yaml.Node, field string) (string, error) {
	s, err := str(n, field, "decision")
	if err != nil {
		return "", err
	}
	d := strings.ToUpper(strings.TrimSpace(s))
	if !slices.Contains(cairn.AllDecisions, d) {
		return "", nodeErr(n, field, "unknown decision %q; use one of %s", truncate(s, 60), decisionNames)
	}
	return d, nil
}

// outcomeOf reads decision, reason, approval and constraints of a rule (or
// of the default in object form, where reason is optional).
func (c *compiler) outcomeOf(m *mapNode, n *yaml.Node, field, named string, isDefault bool) (outcome, error) {
	var o outcome
	p, ok := m.get("decision")
	if !ok {
		return o, nodeErr(n, field+".decision", "%s is missing decision (one of %s)", named, decisionNames)
	}
	d, err := parseDecision(p.val, field+".decision")
	if err != nil {
		return o, err
	}
	o.decision = d
	if p, ok := m.get("reason"); ok {
		if o.reason, err = str(p.val, field+".reason", "reason"); err != nil {
			return o, err
		}
	} else if !isDefault {
		return o, nodeErr(n, field+".reason", "%s is missing reason (a sentence recorded with every decision it makes)", named)
	} else {
		o.reason = "no rule matched; the default is " + d
	}

	ap, hasAp := m.get("approval")
	if d == cairn.RequireApproval {
		if !hasAp {
			return o, nodeErr(n, field+".approval", "%s decides REQUIRE_APPROVAL but has no approval block ({approver_roles: [...], expires_in: ...})", named)
		}
		spec, dur, err := approval(ap.val, field+".approval")
		if err != nil {
			return o, err
		}
		o.approval, o.expiresIn = spec, dur
	} else if hasAp {
		return o, nodeErr(ap.key, field+".approval", "approval is only allowed when decision is REQUIRE_APPROVAL (decision is %s)", d)
	}

	cp, hasC := m.get("constraints")
	if d == cairn.AllowWithConstraints {
		if !hasC {
			return o, nodeErr(n, field+".constraints", "%s decides ALLOW_WITH_CONSTRAINTS but has no constraints object", named)
		}
		raw, err := constraints(cp.val, field+".constraints")
		if err != nil {
			return o, err
		}
		o.constraints = raw
	} else if hasC {
		return o, nodeErr(cp.key, field+".constraints", "constraints are only allowed when decision is ALLOW_WITH_CONSTRAINTS (decision is %s)", d)
	}
	return o, nil
}

func (c *compiler) defaultOutcome(n *yaml.Node) (outcome, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return outcome{}, nodeErr(n, "default", "default must be deny, allow or require_approval (or a mapping with decision/reason), found null")
		}
		d := strings.ToUpper(strings.TrimSpace(n.Value))
		o := outcome{decision: d, reason: "no rule matched; the default is " + d}
		switch d {
		case cairn.Deny, cairn.Allow:
		case cairn.RequireApproval:
			o.approval = &cairn.ApprovalSpec{ApproverRoles: []string{defaultApprovRole}}
		case cairn.AllowWithConstraints:
			return outcome{}, nodeErr(n, "default", "default ALLOW_WITH_CONSTRAINTS needs constraints; use the mapping form {decision: ALLOW_WITH_CONSTRAINTS, constraints: {...}}")
		default:
			return outcome{}, nodeErr(n, "default", "unknown default %q; use deny, allow or require_approval", truncate(n.Value, 60))
		}
		return o, nil
	}
	m, err := mapping(n, "default", "default", []string{"decision", "reason", "approval", "constraints"})
	if err != nil {
		return outcome{}, err
	}
	return c.outcomeOf(m, n, "default", "default", true)
}

var matchKeys = []string{"actions", "resources", "labels", "risk_tags", "any_risk_tags", "principal"}

func (c *compiler) match(r *rule, n *yaml.Node, field string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	m, err := mapping(n, field, "match", matchKeys)
	if err != nil {
		return err
	}
	for _, p := range m.pairs {
		f := yamlcheck.JoinField(field, p.key.Value)
		switch p.key.Value {
		case "actions":
			r.actions, err = globs(p.val, f, "actions")
		case "resources":
			r.resources, err = globs(p.val, f, "resources")
		case "labels":
			r.labels, err = matchLabels(p.val, f)
		case "risk_tags":
			r.riskAll, _, err = strList(p.val, f, "risk_tags")
		case "any_risk_tags":
			r.riskAny, _, err = strList(p.val, f, "any_risk_tags")
		case "principal":
			err = c.principalMatch(r, p.val, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// matchLabels reads match.labels: a non-empty mapping of label names to
// string values.
func matchLabels(n *yaml.Node, field string) ([]labelEq, error) {
	lm, err := mapping(n, field, "labels", nil)
	if err != nil {
		return nil, err
	}
	if len(lm.pairs) == 0 {
		return nil, nodeErr(n, field, "labels must not be empty; omit the key to match any labels")
	}
	var labels []labelEq
	for _, lp := range lm.pairs {
		lf := yamlcheck.JoinField(field, lp.key.Value)
		if lp.val.Kind != yaml.ScalarNode || lp.val.Tag == "!!null" {
			return nil, nodeErr(lp.val, lf, "label %q must be compared with a string value, found %s", lp.key.Value, kindName(lp.val))
		}
		labels = append(labels, labelEq{lp.key.Value, lp.val.Value})
	}
	return labels, nil
}

var kinds = []string{cairn.KindHuman, cairn.KindAgent, cairn.KindService}

func (c *compiler) principalMatch(r *rule, n *yaml.Node, field string) error {
	m, err := mapping(n, field, "principal", []string{"kinds", "roles", "ids"})
	if err != nil {
		return err
	}
	if len(m.pairs) == 0 {
		return nodeErr(n, field, "principal must name kinds, roles or ids; omit it to match any principal")
	}
	for _, p := range m.pairs {
		f := yamlcheck.JoinField(field, p.key.Value)
		switch p.key.Value {
		case "kinds":
			r.kinds, err = principalKinds(p.val, f)
		case "roles":
			r.roles, err = principalRoles(p.val, f)
		case "ids":
			r.ids, err = globs(p.val, f, "ids")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// principalKinds reads match.principal.kinds: known kinds, deduplicated.
func principalKinds(n *yaml.Node, field string) ([]string, error) {
	ks, items, err := strList(n, field, "kinds")
	if err != nil {
		return nil, err
	}
	for i, k := range ks {
		if !slices.Contains(kinds, k) {
			return nil, nodeErr(items[i], listItemField(n, field, i), "unknown principal kind %q; kinds are human, agent, service", truncate(k, 60))
		}
	}
	return dedupe(ks), nil
}

// principalRoles reads match.principal.roles: known roles, deduplicated.
func principalRoles(n *yaml.Node, field string) ([]string, error) {
	rs, items, err := strList(n, field, "roles")
	if err != nil {
		return nil, err
	}
	for i, x := range rs {
		if !slices.Contains(cairn.AllRoles, x) {
			return nil, nodeErr(items[i], listItemField(n, field, i), "unknown role %q; roles are %s", truncate(x, 60), strings.Join(cairn.AllRoles, ", "))
		}
	}
	return dedupe(rs), nil
}

func (c *compiler) when(r *rule, n *yaml.Node, field string) error {
	expr, err := str(n, field, "when")
	if err != nil {
		return err
	}
	if len(expr) > maxExprBytes {
		return nodeErr(n, field, "when is %d bytes; the limit is %d", len(expr), maxExprBytes)
	}
	cw, ok := c.progs[expr]
	if !ok {
		var iss *celIssue
		cw, iss = compileWhen(expr)
		if iss != nil {
			line := n.Line
			if t := strings.TrimRight(expr, "\n"); iss.line > strings.Count(t, "\n")+1 {
				// An error at the end of input (after a trailing newline)
				// belongs to the end of the last line of the expression.
				iss.line = strings.Count(t, "\n") + 1
				iss.column = utf8.RuneCountInString(t[strings.LastIndexByte(t, '\n')+1:]) + 1
			}
			if iss.line > 0 {
				if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
					line += iss.line // block scalar content starts on the next line
				} else {
					line += iss.line - 1
				}
			}
			where := ""
			if iss.column > 0 {
				where = fmt.Sprintf(" at column %d of the expression", iss.column)
				if iss.line > 1 {
					where = fmt.Sprintf(" at line %d, column %d of the expression", iss.line, iss.column)
				}
			}
			var msg string
			switch iss.kind {
			case issueResult:
				line = n.Line
				msg = "when " + iss.message
			case issueSyntax:
				msg = "when: CEL syntax error" + where + ": " + iss.message
			default:
				msg = "when: CEL type error" + where + ": " + iss.message
			}
			return perr(line, field, "%s", msg)
		}
		if c.progs == nil {
			c.progs = map[string]compiledWhen{}
		}
		c.progs[expr] = cw
	}
	r.prg = cw.prg
	r.readsInput = cw.readsInput
	r.when = oneLine(expr)
	return nil
}
