package http_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
)

// TestErrorCodesDocumented: every error code constant in the module's
// code (a constant named E… or Code… whose value is snake_case) is defined
// in the root package, has its one HTTP status in http.StatusOf, and is in
// the OpenAPI document's enum of error codes, so a client can rely on the
// list; and the enum names no code the code does not define.
func TestErrorCodesDocumented(t *testing.T) {
	defined := map[string]string{} // code -> where
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	root := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) || !(strings.HasPrefix(name.Name, "Code") || len(name.Name) > 1 && name.Name[0] == 'E' && name.Name[1] >= 'A' && name.Name[1] <= 'Z') {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					if v, err := strconv.Unquote(lit.Value); err == nil && snake.MatchString(v) {
						rel, _ := filepath.Rel(root, path)
						defined[v] = rel + ": " + name.Name
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) < 20 {
		t.Fatalf("found only %d error codes: %v", len(defined), defined)
	}
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				ErrorDetail struct { // the "error" member of the Error body
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"ErrorDetail"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	enum := map[string]bool{}
	for _, c := range doc.Components.Schemas.ErrorDetail.Properties.Code.Enum {
		enum[c] = true
	}
	for code, where := range defined {
		if !enum[code] {
			t.Errorf("error code %q (%s) is not in openapi.json's Error.code enum", code, where)
		}
		if _, ok := cairnhttp.StatusOf(code); !ok {
			t.Errorf("error code %q (%s) has no HTTP status in http.StatusOf", code, where)
		}
		if !strings.HasPrefix(where, "cairn.go:") && !strings.HasPrefix(where, "workflow.go:") {
			t.Errorf("error code %q is defined in %s; codes are defined in the root package", code, where)
		}
	}
	for code := range enum {
		if _, ok := defined[code]; !ok {
			t.Errorf("openapi.json's Error.code enum names %q, which no code defines", code)
		}
	}
}

// moduleRoot is the directory of the module's go.mod, above the test's.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
