package workflow

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn/internal/yamlcheck"
)

// ---------------------------------------------------------------------------
// Scalars

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// explicitLine is the line of a null written as such (~, null); 0 for an
// empty document, whose implicit null yaml.v3 places after the text.
func explicitLine(n *yaml.Node) int {
	if n.Value == "" {
		return 0
	}
	return n.Line
}

// scalar reads a non-null, non-empty scalar as written.
func scalar(n *yaml.Node, field, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", nodeErr(n, field, "%s must be a string, found %s", what, kindName(n))
	}
	if n.Value == "" {
		return "", nodeErr(n, field, "%s must not be empty", what)
	}
	return n.Value, nil
}

// freeText reads a bounded text without control characters (newlines and
// tabs only where multiline).
func freeText(n *yaml.Node, field string, limit int, multiline bool) (string, error) {
	what := field[strings.LastIndexByte(field, '.')+1:]
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", nodeErr(n, field, "%s must be a string, found %s", what, kindName(n))
	}
	s := n.Value
	if len(s) > limit {
		return "", nodeErr(n, field, "%s is %d bytes; the limit is %d", what, len(s), limit)
	}
	for _, r := range s {
		if (r == '\n' || r == '\t') && multiline {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') {
			return "", nodeErr(n, field, "%s contains the control character U+%04X", what, r)
		}
	}
	return s, nil
}

// action checks an action name as the job API does: letters, digits and
// . _ : - /, no "..", not starting with '/'.
func action(n *yaml.Node, field string) (string, error) {
	s, err := scalar(n, field, "action")
	if err != nil {
		return "", err
	}
	if len(s) > maxActionBytes {
		return "", nodeErr(n, field, "action is %d bytes; the limit is %d", len(s), maxActionBytes)
	}
	if strings.Contains(s, "..") || s[0] == '/' {
		return "", nodeErr(n, field, "action %q must not contain '..' or start with '/'", truncate(s, 80))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isActionByte(c) {
			return "", nodeErr(n, field, "action %q contains %q; allowed are letters, digits and . _ : - /", truncate(s, 80), rune(c))
		}
	}
	return s, nil
}

// isActionByte reports whether c may appear in an action name.
func isActionByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-' || c == '/'
}

// labelKey checks a label key or risk tag: 1 to 63 of letters, digits and . _ - /.
func labelKey(n *yaml.Node, field, what, k string) error {
	if k == "" || len(k) > 63 {
		return nodeErr(n, field, "%s %q must be 1 to 63 bytes", what, truncate(k, 80))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/' {
			continue
		}
		return nodeErr(n, field, "%s %q contains %q; allowed are letters, digits and . _ - /", what, truncate(k, 80), rune(c))
	}
	return nil
}

func labels(n *yaml.Node, field string) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, field, "labels must be a mapping of strings, found %s", kindName(n))
	}
	m, err := mapOf(n, field, "labels", nil)
	if err != nil {
		return nil, err
	}
	if len(m.list) > maxLabels {
		return nil, nodeErr(n, field, "%d labels; the limit is %d", len(m.list), maxLabels)
	}
	if len(m.list) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m.list))
	for _, p := range m.list {
		f := dataField(field, p.key.Value)
		if err := labelKey(p.key, f, "label key", p.key.Value); err != nil {
			return nil, err
		}
		if p.val.Kind != yaml.ScalarNode || isNull(p.val) {
			return nil, nodeErr(p.val, f, "label %q must be a string, found %s", p.key.Value, kindName(p.val))
		}
		v, err := freeText(p.val, f, maxLabelValue, false)
		if err != nil {
			return nil, err
		}
		out[p.key.Value] = v
	}
	return out, nil
}

func riskTags(n *yaml.Node, field string) ([]string, error) {
	items, err := list(n, field, "risk_tags")
	if err != nil {
		return nil, err
	}
	if len(items) > maxRiskTags {
		return nil, nodeErr(n, field, "%d risk tags; the limit is %d", len(items), maxRiskTags)
	}
	var out []string
	for j, item := range items {
		f := field
		if n.Kind == yaml.SequenceNode {
			f += "[" + strconv.Itoa(j) + "]"
		}
		t, err := scalar(item, f, "a risk tag")
		if err != nil {
			return nil, err
		}
		if err := labelKey(item, f, "risk tag", t); err != nil {
			return nil, err
		}
		if slices.Contains(out, t) {
			return nil, nodeErr(item, f, "risk tag %q is listed twice", t)
		}
		out = append(out, t)
	}
	return out, nil
}

// list reads a list; a single scalar is a list of one.
func list(n *yaml.Node, field, what string) ([]*yaml.Node, error) {
	switch {
	case n.Kind == yaml.SequenceNode:
		return n.Content, nil
	case n.Kind == yaml.ScalarNode && !isNull(n):
		return []*yaml.Node{n}, nil
	}
	return nil, nodeErr(n, field, "%s must be a list of strings, found %s", what, kindName(n))
}

// integer reads an integer in [lo, hi].
func integer(n *yaml.Node, field string, lo, hi int) (int, error) {
	what := field[strings.LastIndexByte(field, '.')+1:]
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, nodeErr(n, field, "%s must be an integer from %d to %d, found %s", what, lo, hi, kindName(n))
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < int64(lo) || v > int64(hi) {
		return 0, nodeErr(n, field, "%s must be an integer from %d to %d, found %s", what, lo, hi, truncate(n.Value, 40))
	}
	return int(v), nil
}

// duration reads a Go duration string in (0, limit].
func duration(n *yaml.Node, field string, limit time.Duration) (time.Duration, error) {
	what := field[strings.LastIndexByte(field, '.')+1:]
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return 0, nodeErr(n, field, "%s must be a duration such as 30s, 5m or 24h; found %s", what, kindName(n))
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		hint := ""
		if n.Tag == "!!int" || n.Tag == "!!float" {
			hint = " (a bare number has no unit; write e.g. " + n.Value + "s)"
		} else if strings.HasSuffix(n.Value, "d") {
			hint = " (days are not a unit; write e.g. 72h)"
		}
		return 0, nodeErr(n, field, "%s %q is not a duration such as 30s, 5m or 24h%s", what, truncate(n.Value, 40), hint)
	}
	if d <= 0 {
		return 0, nodeErr(n, field, "%s must be positive, found %s", what, truncate(n.Value, 40))
	}
	if d > limit {
		return 0, nodeErr(n, field, "%s %s is longer than the limit of %s", what, truncate(n.Value, 40), fmtLimit(limit))
	}
	return d, nil
}

func fmtLimit(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d > 24*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

// ---------------------------------------------------------------------------
// Mappings

type pair struct{ key, val *yaml.Node }

type mapNode struct {
	list []pair
	by   map[string]pair
}

// mapOf checks n is a mapping with scalar keys, no duplicates and, when
// known is not nil, only known keys; an unknown key is named with the
// nearest known one.
func mapOf(n *yaml.Node, field, what string, known []string) (*mapNode, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, field, "%s must be a mapping, found %s", what, kindName(n))
	}
	m := &mapNode{by: make(map[string]pair, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			return nil, nodeErr(k, field, "%s has a key that is not a string (%s)", what, kindName(k))
		}
		kf := dataField(field, k.Value)
		if known != nil {
			kf = yamlcheck.JoinField(field, k.Value)
		}
		if prev, dup := m.by[k.Value]; dup {
			return nil, nodeErr(k, kf, "duplicate key %q in %s (first at line %d)", truncate(k.Value, 80), what, prev.key.Line)
		}
		if known != nil && !slices.Contains(known, k.Value) {
			msg := fmt.Sprintf("unknown key %q in %s; did you mean %q? Known keys: %s",
				truncate(k.Value, 80), what, closest(k.Value, known), strings.Join(known, ", "))
			return nil, nodeErr(k, kf, "%s", msg)
		}
		p := pair{k, v}
		m.by[k.Value] = p
		m.list = append(m.list, p)
	}
	return m, nil
}

// dataField appends a data key (a label or an input key) to a field path,
// quoting it when it is not a plain identifier.
func dataField(field, key string) string {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-')
	}
	if plain {
		return yamlcheck.JoinField(field, key)
	}
	return field + "[" + strconv.Quote(truncate(key, 80)) + "]"
}

// nearest returns the candidate closest to k if it is close enough to be a
// likely typo, or "".
func nearest(k string, candidates []string) string {
	best, d := closestDist(k, candidates)
	if best == "" || d > max(2, utf8.RuneCountInString(k)/3) || d >= utf8.RuneCountInString(best) {
		return ""
	}
	return best
}

// closest returns the candidate closest to k.
func closest(k string, candidates []string) string {
	best, _ := closestDist(k, candidates)
	return best
}

// closestDist compares case-insensitively, with '-' and ' ' read as '_';
// a candidate containing k (or contained in it) counts as distance 1.
func closestDist(k string, candidates []string) (string, int) {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == ' ' {
				return '_'
			}
			return unicode.ToLower(r)
		}, s)
	}
	nk := norm(truncate(k, 100))
	best, bestD := "", -1
	for _, c := range candidates {
		nc := norm(c)
		d := yamlcheck.EditDistance(nk, nc)
		if d > 1 && len(nk) >= 3 && (strings.Contains(nc, nk) || strings.Contains(nk, nc)) {
			d = 1
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		switch n.Tag {
		case "!!int", "!!float":
			return "the number " + truncate(n.Value, 40)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("the string %q", truncate(n.Value, 40))
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func truncate(s string, n int) string { return yamlcheck.Truncate(s, n) }
