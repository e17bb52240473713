package policy

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestYAMLErrorsNameALine: a YAML error names the line it is on even when
// yaml.v3 gives none (it leaves the line out for a problem on line 1, and
// for some errors such as an unknown anchor), and a line of the text when
// yaml.v3 names the one after the end. Found by FuzzCompile.
func TestYAMLErrorsNameALine(t *testing.T) {
	for _, c := range []struct {
		src  string
		line int
	}{
		{`"`, 1},
		{`{`, 1},
		{"default: deny\nrules: [", 2},
		{"default: deny\nrules: *x\n", 2},
		{"default: deny\nrules: [1, *x]\n", 2},
	} {
		_, err := Compile([]byte(c.src))
		var ce *cairn.Error
		if !errors.As(err, &ce) || ce.Line != c.line || !strings.HasPrefix(ce.Message, "line "+strconv.Itoa(c.line)+": not valid YAML") {
			t.Errorf("%q: %#v, want a YAML error on line %d", c.src, err, c.line)
		}
	}
}

// TestEmptyDocumentLine: a bundle that is an empty document names no line
// (it named the line after the text for "---"), and an explicit null its
// own line. Found by FuzzParse in package workflow, which shares the rule.
func TestEmptyDocumentLine(t *testing.T) {
	for _, c := range []struct {
		src  string
		line int
	}{{"---", 0}, {"\n\n---\n", 0}, {"# c\n---\n...\n", 0}, {"---\n~\n", 2}, {"~", 1}} {
		_, err := Compile([]byte(c.src))
		var ce *cairn.Error
		if !errors.As(err, &ce) || ce.Line != c.line || !strings.Contains(ce.Message, "bundle is empty") {
			t.Errorf("%q: %#v, want bundle is empty on line %d", c.src, err, c.line)
		}
	}
}
