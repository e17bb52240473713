package http

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestRoutesMatchOpenAPI: the route table and the served OpenAPI document
// describe the same operations. (The document is generated from the table
// and the Go types, TestOpenAPIGenerated keeps it current; this checks the
// embedded bytes the server serves.)
func TestRoutesMatchOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiSpec, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	inTable := map[string]bool{}
	for _, r := range (&Server{}).table() {
		inTable[strings.ToLower(r.method)+" "+r.path] = true
		if _, ok := doc.Paths[r.path][strings.ToLower(r.method)]; !ok {
			t.Errorf("route %s %s is not an operation in openapi.json", r.method, r.path)
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
