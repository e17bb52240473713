package http_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/http/openapigen"
)

// TestOpenAPIGenerated: the committed openapi.json is exactly what the
// route table, the Go types and openapi.overlay.yaml make.
func TestOpenAPIGenerated(t *testing.T) {
	overlay, err := os.ReadFile("openapi.overlay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := openapigen.Generate(cairnhttp.APIRoutes(), overlay, cairnhttp.OpenAPIConfig())
	if err != nil {
		t.Fatalf("generating the OpenAPI document: %v", err)
	}
	got, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		line, g, w := firstDifference(got, want)
		t.Fatalf("internal/http/openapi.json is stale: it is not what routes.go, the Go types and openapi.overlay.yaml make.\n"+
			"Run `go generate ./internal/http/` and commit the result.\nFirst difference at line %d:\n  committed: %s\n  generated: %s", line, g, w)
	}
}

func firstDifference(a, b []byte) (int, string, string) {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}

// TestOpenAPIValid: the generated document is valid OpenAPI 3.1 for an
// independent implementation (kin-openapi), with every $ref resolving.
func TestOpenAPIValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("openapi.json")
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableSchemaPatternValidation(), openapi3.SetRegexCompiler(ecmaRegexp), openapi3.EnableExamplesValidation(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI: %v", err)
	}
}
