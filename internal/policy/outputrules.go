package policy

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn"
)

// ---------------------------------------------------------------------------
// Output rules

var (
	scannerNames   = []string{"secrets", "pii", "prompt_injection", "regex"}
	outputDecision = []string{cairn.OutputAllow, cairn.OutputRedact, cairn.OutputQuarantine}
	outputKeys     = []string{"id", "description", "scanners", "patterns", "actions", "decision"}
)

func (c *compiler) outputRules(n *yaml.Node) ([]cairn.OutputRule, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, nodeErr(n, "output_rules", "output_rules must be a list, found %s", kindName(n))
	}
	if len(n.Content) > MaxOutputRules {
		return nil, nodeErr(n, "output_rules", "bundle has %d output rules; the limit is %d", len(n.Content), MaxOutputRules)
	}
	seen := map[string]int{}
	var out []cairn.OutputRule
	for i, rn := range n.Content {
		or, err := outputRule(rn, index("output_rules", i), seen)
		if err != nil {
			return nil, err
		}
		out = append(out, or)
	}
	return out, nil
}

// outputRule compiles the output rule rn at field; seen holds the ids (and
// their lines) of the rules before it.
func outputRule(rn *yaml.Node, field string, seen map[string]int) (cairn.OutputRule, error) {
	var or cairn.OutputRule
	m, err := mapping(rn, field, "output rule", outputKeys)
	if err != nil {
		return or, err
	}
	if or.ID, err = outputRuleID(rn, m, field, seen); err != nil {
		return or, err
	}
	if p, ok := m.get("description"); ok && p.val.Kind != yaml.ScalarNode {
		return or, nodeErr(p.val, field+".description", "description must be a string, found %s", kindName(p.val))
	}
	if or.Scanners, err = outputScanners(rn, m, field, or.ID); err != nil {
		return or, err
	}
	if or.Patterns, err = outputPatterns(rn, m, field, or.ID, slices.Contains(or.Scanners, "regex")); err != nil {
		return or, err
	}
	if p, ok := m.get("actions"); ok {
		gl, err := globs(p.val, field+".actions", "actions")
		if err != nil {
			return or, err
		}
		for _, g := range gl.globs {
			or.Actions = append(or.Actions, g.src)
		}
	}
	or.Decision, err = outputRuleDecision(rn, m, field, or.ID)
	return or, err
}

// outputRuleID reads the rule's id: well-formed and not seen before.
func outputRuleID(rn *yaml.Node, m *mapNode, field string, seen map[string]int) (string, error) {
	p, ok := m.get("id")
	if !ok {
		return "", nodeErr(rn, field+".id", "output rule is missing id")
	}
	id, err := str(p.val, field+".id", "id")
	if err != nil {
		return "", err
	}
	if !ruleIDRe.MatchString(id) {
		return "", nodeErr(p.val, field+".id", "output rule id %q must be 1-128 characters of A-Z a-z 0-9 . _ : -", truncate(id, 60))
	}
	if l, dup := seen[id]; dup {
		return "", nodeErr(p.val, field+".id", "duplicate output rule id %q (first at line %d)", id, l)
	}
	seen[id] = p.val.Line
	return id, nil
}

// outputScanners reads the rule's scanners, lower-cased and deduplicated.
func outputScanners(rn *yaml.Node, m *mapNode, field, id string) ([]string, error) {
	p, ok := m.get("scanners")
	if !ok {
		return nil, nodeErr(rn, field+".scanners", "output rule %q is missing scanners (%s)", id, strings.Join(scannerNames, ", "))
	}
	sc, items, err := strList(p.val, field+".scanners", "scanners")
	if err != nil {
		return nil, err
	}
	for j, s := range sc {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(scannerNames, s) {
			return nil, nodeErr(items[j], listItemField(p.val, field+".scanners", j), "unknown scanner %q; scanners are %s", truncate(sc[j], 60), strings.Join(scannerNames, ", "))
		}
		sc[j] = s
	}
	return dedupe(sc), nil
}

// listItemField names item j of the list n at field (field itself when n is
// a single scalar).
func listItemField(n *yaml.Node, field string, j int) string {
	if n.Kind == yaml.SequenceNode {
		return index(field, j)
	}
	return field
}

// outputPatterns reads the rule's patterns: present exactly when the regex
// scanner is used, within the limits, and compiling.
func outputPatterns(rn *yaml.Node, m *mapNode, field, id string, hasRegex bool) ([]string, error) {
	pp, hasPatterns := m.get("patterns")
	switch {
	case hasRegex && !hasPatterns:
		return nil, nodeErr(rn, field+".patterns", "output rule %q uses the regex scanner but has no patterns", id)
	case !hasRegex && hasPatterns:
		return nil, nodeErr(pp.key, field+".patterns", "patterns are only used by the regex scanner; add regex to scanners or remove patterns")
	case !hasPatterns:
		return nil, nil
	}
	pats, items, err := strList(pp.val, field+".patterns", "patterns")
	if err != nil {
		return nil, err
	}
	if len(pats) > MaxPatterns {
		return nil, nodeErr(pp.val, field+".patterns", "%d patterns; the limit is %d per output rule", len(pats), MaxPatterns)
	}
	for j, pat := range pats {
		f := listItemField(pp.val, field+".patterns", j)
		if len(pat) > MaxPatternBytes {
			return nil, nodeErr(items[j], f, "pattern is %d bytes; the limit is %d", len(pat), MaxPatternBytes)
		}
		if _, err := regexp.Compile(pat); err != nil {
			return nil, nodeErr(items[j], f, "pattern does not compile: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	}
	return pats, nil
}

// outputRuleDecision reads the rule's decision, upper-cased.
func outputRuleDecision(rn *yaml.Node, m *mapNode, field, id string) (string, error) {
	p, ok := m.get("decision")
	if !ok {
		return "", nodeErr(rn, field+".decision", "output rule %q is missing decision (ALLOW, REDACT or QUARANTINE)", id)
	}
	d, err := str(p.val, field+".decision", "decision")
	if err != nil {
		return "", err
	}
	dec := strings.ToUpper(strings.TrimSpace(d))
	if !slices.Contains(outputDecision, dec) {
		return "", nodeErr(p.val, field+".decision", "unknown output decision %q; use ALLOW, REDACT or QUARANTINE", truncate(d, 60))
	}
	return dec, nil
}

// MatchAction reports whether action matches any of the globs, with the
// glob semantics of bundles. Globs that do not compile never match. It is
// exported for the output scanner, which filters OutputRule.Actions.
func MatchAction(globs []string, action string) bool {
	for _, s := range globs {
		if g, err := compileGlob(s); err == nil && g.match(action) {
			return true
		}
	}
	return false
}
