package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn/internal/yamlcheck"
)

// ---------------------------------------------------------------------------
// Mapping helpers

type pair struct{ key, val *yaml.Node }

type mapNode struct {
	node  *yaml.Node
	pairs []pair
	by    map[string]pair
}

func (m *mapNode) get(k string) (pair, bool) {
	p, ok := m.by[k]
	return p, ok
}

// mapping checks n is a mapping with string keys, no duplicates and only the
// known keys; unknown keys are reported with a suggestion.
func mapping(n *yaml.Node, field, what string, known []string) (*mapNode, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, field, "%s must be a mapping, found %s", what, kindName(n))
	}
	m := &mapNode{node: n, by: make(map[string]pair, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			return nil, nodeErr(k, field, "%s has a key that is not a string", what)
		}
		kf := yamlcheck.JoinField(field, k.Value)
		if prev, dup := m.by[k.Value]; dup {
			return nil, nodeErr(k, kf, "duplicate key %q in %s (first at line %d)", k.Value, what, prev.key.Line)
		}
		if known != nil && !slices.Contains(known, k.Value) {
			msg := fmt.Sprintf("unknown key %q in %s", k.Value, what)
			if s := suggest(k.Value, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msg += "; allowed keys: " + strings.Join(known, ", ")
			return nil, nodeErr(k, kf, "%s", msg)
		}
		p := pair{k, v}
		m.by[k.Value] = p
		m.pairs = append(m.pairs, p)
	}
	return m, nil
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// suggest returns the known key closest to k within edit distance 2.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := yamlcheck.EditDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// str reads a non-empty scalar as a string (its text as written).
func str(n *yaml.Node, field, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", nodeErr(n, field, "%s must be a string, found %s", what, kindName(n))
	}
	if n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		return "", nodeErr(n, field, "%s must not be empty", what)
	}
	return n.Value, nil
}

// strList reads a non-empty list of non-empty strings. A single scalar is
// accepted as a one-item list.
func strList(n *yaml.Node, field, what string) ([]string, []*yaml.Node, error) {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil, nodeErr(n, field, "%s must be a non-empty list, found null", what)
		}
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		return nil, nil, nodeErr(n, field, "%s must be a list of strings, found %s", what, kindName(n))
	}
	if len(items) == 0 {
		return nil, nil, nodeErr(n, field, "%s must not be an empty list; omit the key to match anything", what)
	}
	if len(items) > MaxListItems {
		return nil, nil, nodeErr(n, field, "%s has %d items; the limit is %d", what, len(items), MaxListItems)
	}
	out := make([]string, len(items))
	for i, it := range items {
		f := field
		if n.Kind == yaml.SequenceNode {
			f = index(field, i)
		}
		s, err := str(it, f, what+" item")
		if err != nil {
			return nil, nil, err
		}
		out[i] = s
	}
	return out, items, nil
}

func globs(n *yaml.Node, field, what string) (*globList, error) {
	ss, items, err := strList(n, field, what)
	if err != nil {
		return nil, err
	}
	l := &globList{text: "[" + strings.Join(ss, " ") + "]"}
	for i, s := range ss {
		g, err := compileGlob(s)
		if err != nil {
			f := field
			if n.Kind == yaml.SequenceNode {
				f = index(field, i)
			}
			return nil, nodeErr(items[i], f, "bad glob %q: %v", s, err)
		}
		l.globs = append(l.globs, g)
	}
	return l, nil
}
