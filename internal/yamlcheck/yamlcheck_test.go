package yamlcheck

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn"
)

func errf(line int, field, msg string) *cairn.Error {
	return NewError("test_invalid", line, field, msg)
}

func asErr(t *testing.T, err error) *cairn.Error {
	t.Helper()
	var ce *cairn.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *cairn.Error", err, err)
	}
	return ce
}

func TestNewError(t *testing.T) {
	e := NewError("c", 3, "a.b", "bad")
	if e.Code != "c" || e.Line != 3 || e.Field != "a.b" || e.Message != "line 3: bad" {
		t.Fatalf("NewError = %+v", e)
	}
	if e := NewError("c", 0, "", "bad"); e.Message != "bad" || e.Line != 0 {
		t.Fatalf("NewError without line = %+v", e)
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"aé", 2, "a…"}, // é is 2 bytes: never split it
		{"éé", 3, "é…"},
		{"", 0, ""},
	} {
		if got := Truncate(c.s, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, c := range []struct {
		text       string
		rejectTabs bool
		line       int
		msg        string
	}{
		{"a: 1\r\nb: 2\n", true, 0, ""},
		{"a:\n\tb: 1\n", false, 0, ""},
		{"a:\n\tb: 1\n", true, 2, "line 2: tab character; indent and separate with spaces"},
		{"a: 1\nb: \x01\n", false, 2, "line 2: control character 0x01 is not allowed"},
		{"a: \x7f", true, 1, "line 1: control character 0x7f is not allowed"},
		{"a: 1\n\nb: \xff\n", false, 3, "line 3: invalid UTF-8 (byte 0xff at offset 9)"},
		{"a: é\n", true, 0, ""},
	} {
		err := CheckText([]byte(c.text), c.rejectTabs, errf)
		if c.msg == "" {
			if err != nil {
				t.Errorf("CheckText(%q, %v) = %v, want nil", c.text, c.rejectTabs, err)
			}
			continue
		}
		e := asErr(t, err)
		if e.Line != c.line || e.Message != c.msg || e.Field != "" {
			t.Errorf("CheckText(%q, %v) = line %d %q, want line %d %q", c.text, c.rejectTabs, e.Line, e.Message, c.line, c.msg)
		}
	}
}

func parseNode(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestCheckTree(t *testing.T) {
	indexed := func(n *yaml.Node, field string, i int) string {
		switch n.Kind {
		case yaml.MappingNode:
			if i%2 == 1 {
				return JoinField(field, n.Content[i-1].Value)
			}
		case yaml.SequenceNode:
			return field + "[" + string(rune('0'+i)) + "]"
		}
		return field
	}
	plain := TreeRules{MaxDepth: 64, Where: " in a bundle"}
	strict := TreeRules{MaxDepth: 64, NameLimit: 3, MergeKeys: true, ChildField: indexed}
	for _, c := range []struct {
		name  string
		text  string
		rules TreeRules
		line  int
		field string
		msg   string
	}{
		{"ok", "a: [1, 2.5, true, null, x]\nb: {c: 2001-02-03}\n", plain, 0, "", ""},
		{"alias", "a: &anchor 1\n", plain, 1, "", "line 1: YAML anchors (&anchor) are not allowed in a bundle"},
		{"anchor truncated", "a:\n  - b: &anchor 1\n", strict, 2, "a[0].b", "line 2: YAML anchors (&anc…) are not allowed"},
		{"custom tag", "a: !foo 1\n", plain, 1, "", "line 1: YAML tag !foo is not allowed in a bundle"},
		{"merge as tag", "a: {x: 1}\nb:\n  <<: {y: 2}\n", plain, 3, "", "line 3: YAML tag !!merge is not allowed in a bundle"},
		{"merge key", "a: {x: 1}\nb:\n  <<: {y: 2}\n", strict, 3, "b", "line 3: YAML merge keys (<<) are not allowed"},
		{"depth", "a: [[[1]]]\n", TreeRules{MaxDepth: 3}, 1, "", "line 1: YAML is nested more than 3 levels deep"},
		{"depth at limit", "a: [[1]]\n", TreeRules{MaxDepth: 3}, 0, "", ""},
	} {
		err := CheckTree(parseNode(t, c.text), "", c.rules, errf)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: CheckTree = %v, want nil", c.name, err)
			}
			continue
		}
		e := asErr(t, err)
		if e.Line != c.line || e.Field != c.field || e.Message != c.msg {
			t.Errorf("%s: CheckTree = line %d field %q %q; want line %d field %q %q", c.name, e.Line, e.Field, e.Message, c.line, c.field, c.msg)
		}
	}
}

func TestCheckTreeAlias(t *testing.T) {
	// An alias needs its anchor, which CheckTree would report first.
	n := parseNode(t, "a: &xyzzy_long 1\nb: *xyzzy_long\n")
	n.Content[1].Anchor = ""
	e := asErr(t, CheckTree(n, "", TreeRules{MaxDepth: 64, Where: " in a bundle"}, errf))
	if e.Line != 2 || e.Message != "line 2: YAML aliases (*xyzzy_long) are not allowed in a bundle; write the value out" {
		t.Fatalf("alias: %+v", e)
	}
	e = asErr(t, CheckTree(n, "", TreeRules{MaxDepth: 64, NameLimit: 5}, errf))
	if e.Message != "line 2: YAML aliases (*xyzzy…) are not allowed; write the value out" {
		t.Fatalf("alias truncated: %+v", e)
	}
}

func TestSplitError(t *testing.T) {
	line, msg, located := SplitError(errors.New("yaml: line 12: did not find expected key"))
	if line != 12 || msg != "did not find expected key" || !located {
		t.Errorf("SplitError = %d %q %v", line, msg, located)
	}
	line, msg, located = SplitError(errors.New("yaml: unknown anchor 'x' referenced"))
	if line != 0 || msg != "unknown anchor 'x' referenced" || located {
		t.Errorf("SplitError without line = %d %q %v", line, msg, located)
	}
}

func TestFirstError(t *testing.T) {
	if msg, failed := FirstError([]byte("a: 1\n---\nb: 2\n")); failed || msg != "" {
		t.Errorf("FirstError(valid) = %q %v", msg, failed)
	}
	msg, failed := FirstError([]byte("a: 1\n---\nb: [\n"))
	if !failed || msg == "" || strings.HasPrefix(msg, "yaml:") || strings.HasPrefix(msg, "line ") {
		t.Errorf("FirstError(invalid) = %q %v", msg, failed)
	}
}

func TestLineEnds(t *testing.T) {
	for _, c := range []struct {
		text string
		want []int
	}{
		{"", []int{0}},
		{"a", []int{1}},
		{"a\n", []int{2}},
		{"a\nbc", []int{2, 4}},
		{"a\n\nb\n", []int{2, 3, 5}},
	} {
		if got := LineEnds([]byte(c.text)); !slices.Equal(got, c.want) {
			t.Errorf("LineEnds(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestBisect(t *testing.T) {
	for first := 1; first <= 10; first++ {
		calls := 0
		got := Bisect(1, 10, func(l int) bool { calls++; return l >= first })
		if got != first || calls > 4 {
			t.Errorf("Bisect with first failing %d = %d after %d calls", first, got, calls)
		}
	}
	if got := Bisect(5, 5, func(int) bool { t.Fatal("called"); return true }); got != 5 {
		t.Errorf("Bisect(5, 5) = %d", got)
	}
}

func TestDecode(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "  \n"} {
		doc, extra, err := Decode([]byte(text))
		if doc != nil || extra != nil || err != nil {
			t.Errorf("Decode(%q) = %v %v %v, want nothing", text, doc, extra, err)
		}
	}
	doc, extra, err := Decode([]byte("a: 1\n"))
	if err != nil || extra != nil || doc == nil || doc.Kind != yaml.DocumentNode || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("Decode(one) = %v %v %v", doc, extra, err)
	}
	doc, extra, err = Decode([]byte("a: 1\n---\nb: 2\n"))
	if err != nil || doc == nil || extra == nil || extra.Kind != yaml.MappingNode || extra.Line != 3 {
		t.Fatalf("Decode(two) = %v %+v %v", doc, extra, err)
	}
	doc, extra, err = Decode([]byte("a: 1\n---\n"))
	if err != nil || doc == nil || extra == nil || extra.Kind != yaml.DocumentNode || extra.Line != 2 {
		t.Fatalf("Decode(empty second) = %v %+v %v", doc, extra, err)
	}
	if _, _, err := Decode([]byte("a: [\n")); err == nil {
		t.Fatal("Decode(invalid first) = nil error")
	}
	if doc, _, err := Decode([]byte("a: 1\n---\nb: [\n")); err == nil || doc == nil {
		t.Fatalf("Decode(invalid second) = %v %v", doc, err)
	}
}

func TestLineAndJoinField(t *testing.T) {
	if Line(nil) != 0 || Line(&yaml.Node{Line: 7}) != 7 {
		t.Error("Line")
	}
	if JoinField("", "a") != "a" || JoinField("a", "b") != "a.b" {
		t.Error("JoinField")
	}
}

// TestDecodeExtraLine: a second document is named at its own line: its
// root, or its "---" when it is empty (yaml.v3 places an empty document's
// null after the text). Found by FuzzParse in package workflow.
func TestDecodeExtraLine(t *testing.T) {
	for _, c := range []struct {
		text string
		line int
	}{{"0\r---", 2}, {"a: 1\n---\n", 2}, {"a: 1\n\n\n---", 4}, {"a: 1\n---\nb: 2\n", 3}, {"a: 1\n--- ~\n", 2}} {
		_, extra, err := Decode([]byte(c.text))
		if err != nil || Line(extra) != c.line {
			t.Errorf("%q: extra at line %d (%v), want %d", c.text, Line(extra), err, c.line)
		}
	}
}
