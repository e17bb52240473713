package openapigen_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/http/openapigen"
)

// TestAbsorb: the prose of a hand-edited document (a branch's openapi.json
// with a new operation) moves into the overlay; the overlay's own values
// stay, contradictions of the Go types are left out and reported, and the
// result generates.
func TestAbsorb(t *testing.T) {
	cfg := &openapigen.Config{}
	withNew, handJSON := branchDocument(t, cfg)
	ov, report, err := openapigen.Absorb(withNew, []byte(overlay), handJSON, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(report, "\n")
	for _, want := range []string{"added /paths//new", "left out /components/schemas/Sample/properties/size/type"} {
		if !strings.Contains(joined, want) {
			t.Errorf("report lacks %q:\n%s", want, joined)
		}
	}
	out, err := openapigen.Generate(withNew, ov, cfg)
	if err != nil {
		t.Fatalf("the absorbed overlay does not generate: %v\n%s", err, ov)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"paths|/new|get|summary":                                       `"A new route"`,
		"components|schemas|Sample|description":                        `"A sample."`,
		"components|schemas|Sample|properties|opt":                     `{"description":"Optional.","type":"string"}`,
		"components|schemas|Sample|properties|size|type":               `"integer"`,
		"paths|/new|get|responses|200|content|application/json|schema": `{"$ref":"#/components/schemas/Sample"}`,
	}
	for path, want := range checks {
		if got := asJSON(at(t, doc, path)); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	// Absorbing the generated document itself changes nothing.
	again, report, err := openapigen.Absorb(withNew, ov, out, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(ov) || len(report) != 0 {
		t.Errorf("absorbing the generated document changed the overlay; report %v", report)
	}
}

// TestAbsorbThreeWay: given the document the branch started from, what
// the branch changed replaces the overlay's value, what it did not change
// leaves the overlay's (newer) value alone, and a changed list is joined
// with the overlay's, so another branch's additions stay.
func TestAbsorbThreeWay(t *testing.T) {
	cfg := &openapigen.Config{}
	base, err := openapigen.Generate(routes, []byte(overlay), cfg)
	if err != nil {
		t.Fatal(err)
	}
	withNew, handJSON := branchDocument(t, cfg)
	var hand map[string]any
	if err := json.Unmarshal(handJSON, &hand); err != nil {
		t.Fatal(err)
	}
	hand["tags"] = []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}
	handJSON, _ = json.Marshal(hand)
	var baseDoc map[string]any
	if err := json.Unmarshal(base, &baseDoc); err != nil {
		t.Fatal(err)
	}
	baseDoc["tags"] = []any{map[string]any{"name": "a"}}
	base, _ = json.Marshal(baseDoc)
	// Since the branch started, the overlay got a newer name description
	// and another branch's tag.
	ov := withOverlay(t, "tags: [{name: a}, {name: c}]\ncomponents: {schemas: {Sample: {properties: {name: {description: Newer.}}}}}")

	merged, report, err := openapigen.Absorb(withNew, ov, handJSON, base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(report, "\n")
	for _, want := range []string{"replaced /components/schemas/Sample/description", "replaced /tags", "added /paths//new"} {
		if !strings.Contains(joined, want) {
			t.Errorf("report lacks %q:\n%s", want, joined)
		}
	}
	out, err := openapigen.Generate(withNew, merged, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"components|schemas|Sample|description":                 `"Overwritten?"`,
		"components|schemas|Sample|properties|name|description": `"Newer."`,
		"components|schemas|Sample|properties|opt|description":  `"Optional."`,
		"tags": `[{"name":"a"},{"name":"c"},{"name":"b"}]`,
	}
	for path, want := range checks {
		if got := asJSON(at(t, doc, path)); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
}

// branchDocument is a hand-edited document as a branch would have it: the
// generated one with a new route documented by hand, the sample
// re-described and a member's type got wrong; and the routes with the new
// one.
func branchDocument(t *testing.T, cfg *openapigen.Config) ([]openapigen.Route, []byte) {
	t.Helper()
	gen, err := openapigen.Generate(routes, []byte(overlay), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hand map[string]any
	if err := json.Unmarshal(gen, &hand); err != nil {
		t.Fatal(err)
	}
	// The branch documented a new route by hand, re-described the sample
	// and got a member's type wrong.
	hand["paths"].(map[string]any)["/new"] = map[string]any{"get": map[string]any{
		"summary": "A new route", "operationId": "newRoute",
		"responses": map[string]any{"200": map[string]any{"description": "New.",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Sample"}}}}},
	}}
	sample := hand["components"].(map[string]any)["schemas"].(map[string]any)["Sample"].(map[string]any)
	sample["description"] = "Overwritten?"
	props := sample["properties"].(map[string]any)
	props["opt"].(map[string]any)["description"] = "Optional."
	props["size"].(map[string]any)["type"] = "string"
	handJSON, _ := json.Marshal(hand)
	withNew := append(append([]openapigen.Route{}, routes...), openapigen.Route{Method: "GET", Path: "/new"})
	return withNew, handJSON
}

// TestAbsorbInline: members a branch described inline where the generator
// refers to a component become that component's prose.
func TestAbsorbInline(t *testing.T) {
	cfg := &openapigen.Config{}
	gen, err := openapigen.Generate(routes, []byte(overlay), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hand map[string]any
	if err := json.Unmarshal(gen, &hand); err != nil {
		t.Fatal(err)
	}
	props := hand["components"].(map[string]any)["schemas"].(map[string]any)["Sample"].(map[string]any)["properties"].(map[string]any)
	props["ptr_opt"] = map[string]any{"type": "object", "required": []any{"n"},
		"properties": map[string]any{"n": map[string]any{"type": "integer", "description": "N."}}}
	handJSON, _ := json.Marshal(hand)
	ov, report, err := openapigen.Absorb(routes, []byte(overlay), handJSON, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(report) != 1 || report[0] != "added /components/schemas/Inner" {
		t.Errorf("report %v", report)
	}
	out, err := openapigen.Generate(routes, ov, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if got := asJSON(at(t, doc, "components|schemas|Inner|properties|n")); got != `{"description":"N.","type":"integer"}` {
		t.Errorf("Inner.n %s", got)
	}
}
