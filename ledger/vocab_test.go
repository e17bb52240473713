package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// EventTypes lists each Event* constant of vocab.go once, and the
// constants are distinct.
func TestEventTypesListsTheVocabulary(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "vocab.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, v := range s.(*ast.ValueSpec).Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					t.Fatalf("constant %v is not a string literal", v)
				}
				name, _ := strconv.Unquote(lit.Value)
				if declared[name] {
					t.Errorf("event type %q declared twice", name)
				}
				declared[name] = true
			}
		}
	}
	if len(declared) < 30 {
		t.Fatalf("found only %d event types in vocab.go", len(declared))
	}
	listed := map[string]bool{}
	for _, typ := range EventTypes {
		if listed[typ] {
			t.Errorf("EventTypes lists %q twice", typ)
		}
		listed[typ] = true
		if !declared[typ] {
			t.Errorf("EventTypes lists %q, which vocab.go does not declare", typ)
		}
	}
	for typ := range declared {
		if !listed[typ] {
			t.Errorf("EventTypes lacks %q", typ)
		}
	}
}
