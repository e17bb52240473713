package http_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPICoversEveryRoute reads the routes registered in http.go,
// ledger.go, workflows.go and tlog.go and checks that the embedded OpenAPI document
// describes each one.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	var src []byte
	for _, f := range []string{"http.go", "ledger.go", "workflows.go", "tlog.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q", spec.OpenAPI)
	}
	re := regexp.MustCompile(`(?:Handle|HandleFunc|HandlePublic)\("(GET|POST|DELETE) (/[^"]*)"`)
	routes := re.FindAllStringSubmatch(string(src), -1)
	if len(routes) < 25 {
		t.Fatalf("found only %d routes in http.go", len(routes))
	}
	for _, r := range routes {
		method, path := strings.ToLower(r[1]), r[2]
		ops, ok := spec.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json", r[1], path)
			continue
		}
		if _, ok := ops[method]; !ok {
			t.Errorf("route %s %s: openapi.json has no %s operation", r[1], path, method)
		}
	}
}
