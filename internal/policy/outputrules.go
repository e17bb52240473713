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
		field := index("output_rules", i)
		m, err := mapping(rn, field, "output rule", outputKeys)
		if err != nil {
			return nil, err
		}
		var or cairn.OutputRule
		p, ok := m.get("id")
		if !ok {
			return nil, nodeErr(rn, field+".id", "output rule is missing id")
		}
		if or.ID, err = str(p.val, field+".id", "id"); err != nil {
			return nil, err
		}
		if !ruleIDRe.MatchString(or.ID) {
			return nil, nodeErr(p.val, field+".id", "output rule id %q must be 1-128 characters of A-Z a-z 0-9 . _ : -", truncate(or.ID, 60))
		}
		if l, dup := seen[or.ID]; dup {
			return nil, nodeErr(p.val, field+".id", "duplicate output rule id %q (first at line %d)", or.ID, l)
		}
		seen[or.ID] = p.val.Line
		if p, ok := m.get("description"); ok && p.val.Kind != yaml.ScalarNode {
			return nil, nodeErr(p.val, field+".description", "description must be a string, found %s", kindName(p.val))
		}

		p, ok = m.get("scanners")
		if !ok {
			return nil, nodeErr(rn, field+".scanners", "output rule %q is missing scanners (%s)", or.ID, strings.Join(scannerNames, ", "))
		}
		sc, items, err := strList(p.val, field+".scanners", "scanners")
		if err != nil {
			return nil, err
		}
		for j, s := range sc {
			s = strings.ToLower(strings.TrimSpace(s))
			if !slices.Contains(scannerNames, s) {
				f := field + ".scanners"
				if p.val.Kind == yaml.SequenceNode {
					f = index(f, j)
				}
				return nil, nodeErr(items[j], f, "unknown scanner %q; scanners are %s", truncate(sc[j], 60), strings.Join(scannerNames, ", "))
			}
			sc[j] = s
		}
		or.Scanners = dedupe(sc)
		hasRegex := slices.Contains(or.Scanners, "regex")

		pp, hasPatterns := m.get("patterns")
		switch {
		case hasRegex && !hasPatterns:
			return nil, nodeErr(rn, field+".patterns", "output rule %q uses the regex scanner but has no patterns", or.ID)
		case !hasRegex && hasPatterns:
			return nil, nodeErr(pp.key, field+".patterns", "patterns are only used by the regex scanner; add regex to scanners or remove patterns")
		case hasPatterns:
			pats, items, err := strList(pp.val, field+".patterns", "patterns")
			if err != nil {
				return nil, err
			}
			if len(pats) > MaxPatterns {
				return nil, nodeErr(pp.val, field+".patterns", "%d patterns; the limit is %d per output rule", len(pats), MaxPatterns)
			}
			for j, pat := range pats {
				f := field + ".patterns"
				if pp.val.Kind == yaml.SequenceNode {
					f = index(f, j)
				}
				if len(pat) > MaxPatternBytes {
					return nil, nodeErr(items[j], f, "pattern is %d bytes; the limit is %d", len(pat), MaxPatternBytes)
				}
				if _, err := regexp.Compile(pat); err != nil {
					return nil, nodeErr(items[j], f, "pattern does not compile: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				}
			}
			or.Patterns = pats
		}

		if p, ok := m.get("actions"); ok {
			gl, err := globs(p.val, field+".actions", "actions")
			if err != nil {
				return nil, err
			}
			for _, g := range gl.globs {
				or.Actions = append(or.Actions, g.src)
			}
		}

		p, ok = m.get("decision")
		if !ok {
			return nil, nodeErr(rn, field+".decision", "output rule %q is missing decision (ALLOW, REDACT or QUARANTINE)", or.ID)
		}
		d, err := str(p.val, field+".decision", "decision")
		if err != nil {
			return nil, err
		}
		or.Decision = strings.ToUpper(strings.TrimSpace(d))
		if !slices.Contains(outputDecision, or.Decision) {
			return nil, nodeErr(p.val, field+".decision", "unknown output decision %q; use ALLOW, REDACT or QUARANTINE", truncate(d, 60))
		}
		out = append(out, or)
	}
	return out, nil
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
