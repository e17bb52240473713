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
