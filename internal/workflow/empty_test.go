package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestEmptyDocumentLine: a definition that is an empty document names no
// line (it named the line after the text for "---"), and an explicit null
// its own line. Found by FuzzParse.
func TestEmptyDocumentLine(t *testing.T) {
	for _, c := range []struct {
		src  string
		line int
	}{{"---", 0}, {"\n\n---\n", 0}, {"# c\n---\n...\n", 0}, {"---\n~\n", 2}, {"~", 1}} {
		_, err := Parse([]byte(c.src))
		var ce *cairn.Error
		if !errors.As(err, &ce) || ce.Line != c.line || !strings.Contains(ce.Message, "definition is empty") {
			t.Errorf("%q: %#v, want definition is empty on line %d", c.src, err, c.line)
		}
	}
}
