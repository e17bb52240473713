package http

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestRoutesMatchOpenAPI: the route table and the OpenAPI document
// describe the same operations, and where a route names its Go types, the
// document's request and success schemas name exactly their JSON members.
func TestRoutesMatchOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI    string                                       `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage        `json:"paths"`
		Components struct{ Schemas map[string]json.RawMessage } `json:"components"`
	}
	if err := json.Unmarshal(openapiSpec, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	s := &Server{}
	table := s.table()
	inTable := map[string]bool{}
	for _, r := range table {
		key := strings.ToLower(r.method) + " " + r.path
		inTable[key] = true
		raw, ok := doc.Paths[r.path][strings.ToLower(r.method)]
		if !ok {
			t.Errorf("route %s %s is not an operation in openapi.json", r.method, r.path)
			continue
		}
		var op struct {
			RequestBody struct {
				Content map[string]struct{ Schema json.RawMessage }
			} `json:"requestBody"`
			Responses map[string]struct {
				Content map[string]struct{ Schema json.RawMessage }
			}
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if r.req != nil {
			compare(t, key+" request", doc.Components.Schemas, op.RequestBody.Content["application/json"].Schema, r.req)
		}
		if r.resp != nil {
			ok := op.Responses["200"]
			if _, created := op.Responses["201"]; created {
				ok = op.Responses["201"]
			}
			compare(t, key+" answer", doc.Components.Schemas, ok.Content["application/json"].Schema, r.resp)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !slices.Contains([]string{"get", "post", "put", "delete", "patch"}, method) {
				continue
			}
			if !inTable[method+" "+path] {
				t.Errorf("openapi.json has %s %s, which no route serves", strings.ToUpper(method), path)
			}
		}
	}
}

// compare checks that schema (after $ref and allOf) names exactly the JSON
// members of v's type.
func compare(t *testing.T, what string, schemas map[string]json.RawMessage, schema json.RawMessage, v any) {
	t.Helper()
	if schema == nil {
		t.Errorf("%s: openapi.json has no application/json schema", what)
		return
	}
	got := schemaMembers(t, schemas, schema)
	want := jsonMembers(reflect.TypeOf(v))
	if !slices.Equal(got, want) {
		t.Errorf("%s: openapi.json names %v; the Go type %T has %v", what, got, v, want)
	}
}

func schemaMembers(t *testing.T, schemas map[string]json.RawMessage, raw json.RawMessage) []string {
	var s struct {
		Ref        string                     `json:"$ref"`
		AllOf      []json.RawMessage          `json:"allOf"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		for _, m := range schemaMembers(t, schemas, schemas[name]) {
			set[m] = true
		}
	}
	for _, part := range s.AllOf {
		for _, m := range schemaMembers(t, schemas, part) {
			set[m] = true
		}
	}
	for m := range s.Properties {
		set[m] = true
	}
	return sortedKeys(set)
}

// jsonMembers are the member names encoding/json gives a struct type.
func jsonMembers(typ reflect.Type) []string {
	set := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			switch {
			case name == "-" || !f.IsExported() && !f.Anonymous:
			case f.Anonymous && name == "":
				walk(f.Type)
			case name == "":
				set[f.Name] = true
			default:
				set[name] = true
			}
		}
	}
	walk(typ)
	return sortedKeys(set)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
