package policy

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/yamlcheck"
)

// ---------------------------------------------------------------------------
// Outcome fields: the approval block, durations and constraints

func approval(n *yaml.Node, field string) (*cairn.ApprovalSpec, time.Duration, error) {
	m, err := mapping(n, field, "approval", []string{"approver_roles", "expires_in"})
	if err != nil {
		return nil, 0, err
	}
	p, ok := m.get("approver_roles")
	if !ok {
		return nil, 0, nodeErr(n, field+".approver_roles", "approval is missing approver_roles (e.g. [approver])")
	}
	roles, items, err := strList(p.val, field+".approver_roles", "approver_roles")
	if err != nil {
		return nil, 0, err
	}
	for i, r := range roles {
		if !slices.Contains(cairn.AllRoles, r) {
			f := field + ".approver_roles"
			if p.val.Kind == yaml.SequenceNode {
				f = index(f, i)
			}
			return nil, 0, nodeErr(items[i], f, "unknown role %q; roles are %s", truncate(r, 60), strings.Join(cairn.AllRoles, ", "))
		}
	}
	spec := &cairn.ApprovalSpec{ApproverRoles: dedupe(roles)}
	var dur time.Duration
	if p, ok := m.get("expires_in"); ok {
		s, err := str(p.val, field+".expires_in", "expires_in")
		if err != nil {
			return nil, 0, err
		}
		dur, err = parseDuration(s)
		if err != nil {
			return nil, 0, nodeErr(p.val, field+".expires_in", "expires_in %q: %v", truncate(s, 60), err)
		}
		spec.ExpiresIn = s
	}
	return spec, dur, nil
}

func dedupe(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// parseDuration accepts Go durations (90m, 24h, 1h30m) and a leading whole
// number of days (7d, 1d12h). The result must be > 0 and <= 365d.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil || i == 0 {
			return 0, errors.New("not a duration; write e.g. 30m, 24h or 7d")
		}
		if n > 365 {
			return 0, errors.New("must be at most 365d")
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, errors.New("not a duration; write e.g. 30m, 24h or 7d")
		}
		if d < 0 {
			return 0, errors.New("must be positive")
		}
	}
	d += days
	switch {
	case d <= 0:
		return 0, errors.New("must be positive")
	case d > maxExpiresIn:
		return 0, errors.New("must be at most 365d")
	}
	return d, nil
}

// constraints converts a YAML mapping to RFC 8785 canonical JSON.
func constraints(n *yaml.Node, field string) (json.RawMessage, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, field, "constraints must be a mapping (a JSON object for the worker), found %s", kindName(n))
	}
	if len(n.Content) == 0 {
		return nil, nodeErr(n, field, "constraints must not be empty; use ALLOW for an unconstrained allow")
	}
	v, err := toJSON(n, field, 0)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, nodeErr(n, field, "constraints cannot be encoded as JSON: %v", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return nil, nodeErr(n, field, "constraints cannot be canonicalised: %v", err)
	}
	return canon, nil
}

func toJSON(n *yaml.Node, field string, depth int) (any, error) {
	if depth > 32 {
		return nil, nodeErr(n, field, "constraints are nested more than 32 levels deep")
	}
	switch n.Kind {
	case yaml.MappingNode:
		return mappingToJSON(n, field, depth)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			x, err := toJSON(e, index(field, i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarToJSON(n, field)
	}
	return nil, nodeErr(n, field, "unsupported YAML node")
}

// mappingToJSON converts a constraints mapping: string keys, no duplicates.
func mappingToJSON(n *yaml.Node, field string, depth int) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			return nil, nodeErr(k, field, "constraint keys must be strings")
		}
		kf := yamlcheck.JoinField(field, k.Value)
		if l, dup := lines[k.Value]; dup {
			return nil, nodeErr(k, kf, "duplicate key %q (first at line %d)", k.Value, l)
		}
		lines[k.Value] = k.Line
		x, err := toJSON(v, kf, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = x
	}
	return out, nil
}

// scalarToJSON converts a constraints scalar by its tag; numbers must be
// ones JSON holds exactly.
func scalarToJSON(n *yaml.Node, field string) (any, error) {
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, nodeErr(n, field, "bad boolean %q", n.Value)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil || i > maxExactJSONInt || i < -maxExactJSONInt {
			return nil, nodeErr(n, field, "integer %s is outside ±2^53, which JSON numbers cannot hold exactly; quote it", truncate(n.Value, 40))
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, nodeErr(n, field, "number %s cannot be represented in JSON", truncate(n.Value, 40))
		}
		return f, nil
	}
	return n.Value, nil
}
