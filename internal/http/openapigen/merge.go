package openapigen

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// merge adds what the generator made (gen) to the overlay's document (dst)
// at path. The overlay adds prose and constraints; it never replaces what
// the generator made: a leaf both set to different values, or an object
// one side has where the other has a value, is an error. Parameter lists
// merge by (in, name); other lists must be equal.
func merge(dst, gen object, path string) error {
	if err := checkRefs(dst, gen, path); err != nil {
		return err
	}
	for k, g := range gen {
		at := path + "/" + k
		d, ok := dst[k]
		if !ok {
			dst[k] = g
			continue
		}
		switch g := g.(type) {
		case object:
			dm, ok := d.(object)
			if !ok {
				return conflict(at, d, g)
			}
			if err := merge(dm, g, at); err != nil {
				return err
			}
		case []any:
			if k == "type" && narrowerType(d, g) {
				continue // the overlay's types are among the generated ones
			}
			merged, err := mergeList(d, g, at)
			if err != nil {
				return err
			}
			dst[k] = merged
		default:
			if !sameValue(k, d, g) {
				return conflict(at, d, g)
			}
		}
	}
	return nil
}

// annotations are the keywords that may stand beside a $ref (they do not
// validate anything).
var annotations = map[string]bool{
	"description": true, "summary": true, "title": true, "example": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "default": true, "$comment": true,
}

// checkRefs: validators ignore what stands beside a $ref, so beside a
// generated $ref the overlay may put only annotations, and it may not put
// a $ref beside a generated schema (allOf narrows it instead).
func checkRefs(dst, gen object, path string) error {
	if gen["$ref"] != nil {
		for k := range dst {
			if k != "$ref" && !annotations[k] {
				return fmt.Errorf("openapigen: the overlay adds %q at %s beside the generated $ref %v; only annotations (description, examples, ...) may stand beside a $ref", k, path, gen["$ref"])
			}
		}
	}
	if dst["$ref"] != nil && gen["$ref"] == nil && len(gen) > 0 {
		return fmt.Errorf("openapigen: the overlay puts a $ref at %s, where the Go type makes a schema: validators ignore what stands beside a $ref, so narrow it with allOf: [{$ref: ...}]", path)
	}
	return nil
}

func mergeList(d any, gen []any, at string) ([]any, error) {
	dl, ok := d.([]any)
	if !ok {
		return nil, conflict(at, d, gen)
	}
	if !strings.HasSuffix(at, "/parameters") {
		if !reflect.DeepEqual(normalise(dl), normalise(gen)) {
			return nil, conflict(at, d, gen)
		}
		return dl, nil
	}
	// Generated parameters first, each merged with the overlay's entry of
	// the same (in, name); then the overlay's others in its order.
	out := make([]any, 0, len(dl)+len(gen))
	used := map[string]bool{}
	for _, g := range gen {
		gm := g.(object)
		key := paramKey(gm)
		for _, x := range dl {
			if xm, ok := x.(object); ok && paramKey(xm) == key {
				if err := merge(xm, gm, at+"/"+key); err != nil {
					return nil, err
				}
				gm = xm
				used[key] = true
			}
		}
		out = append(out, gm)
	}
	for _, x := range dl {
		xm, ok := x.(object)
		if !ok {
			return nil, fmt.Errorf("openapigen: %s: a parameter must be an object", at)
		}
		key := paramKey(xm)
		if xm["in"] == "path" && !used[key] {
			return nil, fmt.Errorf("openapigen: %s: the overlay describes path parameter %q, which the route's path does not have", at, xm["name"])
		}
		if !used[key] {
			out = append(out, xm)
		}
	}
	return out, nil
}

func paramKey(p object) string { return fmt.Sprint(p["in"], ":", p["name"]) }

func conflict(at string, overlay, gen any) error {
	return fmt.Errorf("openapigen: the overlay sets %s to %s; the routes and Go types make it %s (the overlay may add to what is generated, not replace it)", at, short(overlay), short(gen))
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// sameValue: the overlay's value d agrees with the generated g: equal as
// JSON, or a minimum the overlay raises (a narrower bound than the Go type's).
func sameValue(key string, d, g any) bool {
	dj, gj := clone(d), clone(g)
	if reflect.DeepEqual(dj, gj) {
		return true
	}
	dn, dok := dj.(float64)
	gn, gok := gj.(float64)
	return key == "minimum" && dok && gok && dn >= gn
}

// narrowerType: the overlay's type (a name or a list) allows only types
// the generated list allows.
func narrowerType(d any, gen []any) bool {
	var want []any
	switch d := d.(type) {
	case string:
		want = []any{d}
	case []any:
		want = d
	default:
		return false
	}
	for _, t := range want {
		if !slices.Contains(gen, t) {
			return false
		}
	}
	return true
}

// normalise lets lists that differ only in number representation compare
// equal.
func normalise(v []any) []any { return clone(v) }
