package openapigen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// OverlayHeader opens the overlay file.
const OverlayHeader = "# Prose of the OpenAPI document (ADR 0052): summaries, descriptions, examples,\n" +
	"# query parameters and constraints. internal/http/openapigen merges it with what the\n" +
	"# route table and the Go types say; run `go generate ./internal/http/` after editing.\n"

// Absorb takes the prose of a hand-edited OpenAPI document (handDoc, JSON:
// a branch's openapi.json written before the document was generated) into
// the overlay: whatever handDoc says beyond what the routes and Go types
// make is added where the overlay says nothing yet. With baseDoc, the
// document the branch started from, it is a three-way merge: where the
// branch changed a value (handDoc differs from baseDoc), the branch's
// value replaces the overlay's; a changed list (an enum, the tags) is
// joined with the overlay's, so two branches' additions both stay. Without
// baseDoc the overlay's values are kept. It returns the new overlay (YAML)
// and one line per operation or schema added, per value replaced and per
// value of handDoc that contradicts the generated document (left out).
func Absorb(routes []Route, overlayYAML, handDoc, baseDoc []byte, cfg *Config) ([]byte, []string, error) {
	ov, err := parseOverlay(overlayYAML)
	if err != nil {
		return nil, nil, err
	}
	var report []string
	extra, err := prose(routes, handDoc, cfg, &report)
	if err != nil {
		return nil, nil, err
	}
	a := absorber{report: &report}
	if baseDoc != nil {
		var ignored []string
		if a.base, err = prose(routes, baseDoc, cfg, &ignored); err != nil {
			return nil, nil, err
		}
	}
	a.add(ov, extra, "", 0)
	sort.Strings(report)
	out, err := encodeOverlay(ov)
	return out, report, err
}

// prose is what a hand-written document says beyond what the generator
// makes of the routes (with the statuses that document lists).
func prose(routes []Route, src []byte, cfg *Config, report *[]string) (object, error) {
	var doc object
	if err := json.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("openapigen: a hand-written document: %w", err)
	}
	gen, _, err := build(routes, doc, cfg)
	if err != nil {
		return nil, err
	}
	inlineToComponents(doc, doc, gen)
	return subtract(doc, gen, "", report), nil
}

// encodeOverlay writes the overlay as the committed file is written.
func encodeOverlay(ov object) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(OverlayHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(ov); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// subtract is what hand says beyond gen: values gen makes too are dropped,
// values that contradict gen are dropped and reported, a narrowing (a
// $ref, type or minimum within the generated one) is kept.
func subtract(hand, gen object, path string, report *[]string) object {
	out := object{}
	if gen["$ref"] != nil {
		for k, v := range hand {
			if annotations[k] {
				out[k] = v
			} else if k != "$ref" && !isRefCopy(v, gen["$ref"]) {
				*report = append(*report, fmt.Sprintf("left out %s/%s: beside the generated $ref %v only annotations may stand; describe the members under that schema", path, k, gen["$ref"]))
			}
		}
		return out
	}
	for k, h := range hand {
		at := path + "/" + k
		g, ok := gen[k]
		if !ok {
			out[k] = h
			continue
		}
		if v, keep := subtractValue(k, h, g, at, report); keep {
			out[k] = v
		}
	}
	if r, ok := out["$ref"].(string); ok && gen["type"] != nil {
		delete(out, "$ref") // a narrowing of a generated type: keep it as allOf
		out["allOf"] = []any{object{"$ref": r}}
	}
	if out["oneOf"] != nil && reflect.DeepEqual(clone(out["oneOf"]), clone(gen["anyOf"])) {
		delete(out, "oneOf")
	}
	return out
}

// inlineToComponents moves the members an inline object schema of hand
// describes where the generator refers to a component (a branch that
// documented the error body's members inline, before ErrorDetail was a
// schema of its own) to that component of hand, where they are absorbed
// as that schema's prose.
func inlineToComponents(root, hand, gen object) {
	ref, _ := gen["$ref"].(string)
	if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok {
		if props, ok := hand["properties"].(object); ok {
			comps := ensure(ensure(root, "components"), "schemas")
			target := ensure(ensure(comps, name), "properties")
			for k, v := range props {
				member := ensure(target, k)
				vm, _ := v.(object)
				for kk, vv := range vm {
					if member[kk] == nil {
						member[kk] = vv
					}
				}
			}
			for _, k := range []string{"properties", "type", "required", "additionalProperties"} {
				delete(hand, k) // the component's, generated
			}
		}
		return
	}
	for k, g := range gen {
		gm, ok1 := g.(object)
		hm, ok2 := hand[k].(object)
		if ok1 && ok2 {
			inlineToComponents(root, hm, gm)
		}
	}
}

// ensure returns m[k] as an object, making it when absent.
func ensure(m object, k string) object {
	v, ok := m[k].(object)
	if !ok {
		v = object{}
		m[k] = v
	}
	return v
}

// isRefCopy: v is allOf or oneOf that only repeats ref (with or without null).
func isRefCopy(v any, ref any) bool {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return false
	}
	m, ok := list[0].(object)
	return ok && m["$ref"] == ref
}

func subtractValue(k string, h, g any, at string, report *[]string) (any, bool) {
	switch g := g.(type) {
	case object:
		hm, ok := h.(object)
		if !ok {
			*report = append(*report, fmt.Sprintf("left out %s: it contradicts the generated document", at))
			return nil, false
		}
		r := subtract(hm, g, at, report)
		return r, len(r) > 0
	case []any:
		if strings.HasSuffix(at, "/parameters") {
			return subtractParams(h, g, at, report), true
		}
		if k == "type" && narrowerType(h, g) && !reflect.DeepEqual(clone(h), clone(g)) {
			return h, true
		}
	}
	if reflect.DeepEqual(clone(h), clone(g)) {
		return nil, false
	}
	if sameValue(k, h, g) {
		return h, true
	}
	*report = append(*report, fmt.Sprintf("left out %s = %s: the routes and Go types make it %s", at, short(h), short(g)))
	return nil, false
}

func subtractParams(h any, gen []any, at string, report *[]string) []any {
	list, _ := h.([]any)
	var out []any
	for _, x := range list {
		xm, ok := x.(object)
		if !ok {
			continue
		}
		keep := xm
		for _, y := range gen {
			if ym := y.(object); paramKey(ym) == paramKey(xm) {
				keep = subtract(xm, ym, at+"/"+paramKey(xm), report)
				keep["name"], keep["in"] = xm["name"], xm["in"]
			}
		}
		out = append(out, keep)
	}
	return out
}

type absorber struct {
	base   object // the branch's starting point, as prose; nil: no three-way merge
	report *[]string
}

// add adds to ov what extra says where ov says nothing; where both say
// something different, extra's value replaces ov's if the branch changed
// it (a.base), a list being joined.
func (a absorber) add(ov, extra object, path string, depth int) {
	for k, v := range extra {
		at := path + "/" + k
		cur, ok := ov[k]
		if !ok {
			ov[k] = v
			if depth <= 2 {
				*a.report = append(*a.report, "added "+at)
			}
			continue
		}
		cm, ok1 := cur.(object)
		vm, ok2 := v.(object)
		switch {
		case ok1 && ok2:
			a.add(cm, vm, at, depth+1)
		case a.changed(at, v) && !reflect.DeepEqual(clone(cur), clone(v)):
			ov[k] = join(cur, v)
			*a.report = append(*a.report, "replaced "+at)
		}
	}
}

// changed: the branch's value at (a path of keys as add builds it)
// differs from its starting point's.
func (a absorber) changed(at string, v any) bool {
	if a.base == nil {
		return false
	}
	var node any = a.base
	rest := at[1:]
	for rest != "" {
		m, ok := node.(object)
		if !ok {
			return true
		}
		key := longestKey(m, rest)
		if key == "" {
			return true
		}
		node, rest = m[key], strings.TrimPrefix(rest[len(key):], "/")
	}
	return !reflect.DeepEqual(clone(node), clone(v))
}

// longestKey is the longest key of m that path starts with (keys such as
// "/api/v1/jobs" hold slashes).
func longestKey(m object, path string) string {
	best := ""
	for k := range m {
		if (path == k || strings.HasPrefix(path, k+"/")) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

// join is the branch's value, or for two lists the overlay's items
// followed by the branch's new ones (by name for named objects).
func join(cur, v any) any {
	cl, ok1 := cur.([]any)
	vl, ok2 := v.([]any)
	if !ok1 || !ok2 {
		return v
	}
	out := append([]any{}, cl...)
	seen := map[string]bool{}
	for _, x := range cl {
		seen[itemKey(x)] = true
	}
	for _, x := range vl {
		if !seen[itemKey(x)] {
			out = append(out, x)
			seen[itemKey(x)] = true
		}
	}
	return out
}

func itemKey(x any) string {
	if m, ok := x.(object); ok && m["name"] != nil {
		return fmt.Sprint("name:", m["name"], m["in"])
	}
	b, _ := json.Marshal(x)
	return string(b)
}
