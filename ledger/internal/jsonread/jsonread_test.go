package jsonread

import (
	"errors"
	"testing"
)

type pair struct {
	A    string
	B    uint64
	Tags []string
}

var pairFields = []Field[pair]{
	{Name: "a", Required: true, Read: func(r *Reader, p *pair) error { return r.Word(&p.A) }},
	{Name: "b", Read: func(r *Reader, p *pair) error { return r.Uint(&p.B) }},
	{Name: "tags", Read: func(r *Reader, p *pair) error { return ReadStrings(r, &p.Tags) }},
}

func decodePair(in string) (pair, error) {
	var p pair
	r, err := NewStringReader(in)
	if err != nil {
		return p, err
	}
	defer r.Release()
	r.Words = map[string]string{"x": "x"}
	if err := DecodeObject(r, &p, pairFields); err != nil {
		return p, err
	}
	return p, r.End()
}

// The table rules: members by exact name, each once, required ones
// present, unknown ones skipped; errors are ErrSyntax-wrapped shapes.
func TestDecodeObjectRules(t *testing.T) {
	p, err := decodePair(` {"z":[{"a":1}],"b":7,"a":"x","tags":["t","u"],"z":null} `)
	if err != nil || p.A != "x" || p.B != 7 || len(p.Tags) != 2 || p.Tags[1] != "u" {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, bad := range []string{
		`{"b":1}`,              // a is required
		`{"a":"x","a":"y"}`,    // repeated
		`{"a":1}`,              // a is a string
		`{"a":"x","b":-1}`,     // b is non-negative
		`{"a":"x"} {}`,         // one value only
		`{"A":"x"}`,            // names match exactly
		`{"a":"x","tags":[1]}`, // strings only
		"{\"a\":\"\xff\"}",     // UTF-8
		`{"a":"x","z":` + deep(MaxDepth+1) + `}`,
	} {
		if _, err := decodePair(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		} else if !errors.Is(err, errSyntax) {
			t.Errorf("%q: %v is not a syntax error", bad, err)
		}
	}
	if _, err := decodePair(`{"a":"x","z":` + deep(MaxDepth-1) + `}`); err != nil {
		t.Errorf("nesting within MaxDepth: %v", err)
	}
}

func deep(n int) string {
	s := ""
	for range n {
		s += "["
	}
	for range n {
		s += "]"
	}
	return s
}
