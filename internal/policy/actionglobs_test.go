package policy

import (
	"fmt"
	"testing"
)

// A lease's globs tell where in the order of action names their matches
// are: everything, exact names, or literal prefixes (shortest kept).
func TestActionGlobsPlan(t *testing.T) {
	for _, c := range []struct {
		globs []string
		want  string
	}{
		{[]string{"*"}, `true [] []`},
		{[]string{"db.read", "*"}, `true [] []`},
		{[]string{"db.read", "db.read", "mail.send"}, `false ["db.read" "mail.send"] []`},
		{[]string{"db.*", "db.read", "db.wr?te", "mail.send"}, `false ["mail.send"] ["db."]`},
		{[]string{"*.read", "db.*", "q"}, `false [] [""]`},
		{[]string{`a\*b*`, "a*", "zz[", "q"}, `false ["q"] ["a"]`},
		{[]string{`a\*b*`, "a?", "b[xy]"}, `false [] ["a" "b"]`},
	} {
		p := CompileActionGlobs(c.globs).Plan()
		if got := fmt.Sprintf("%v %q %q", p.All, p.Exact, p.Prefixes); got != c.want {
			t.Errorf("Plan(%q) = %s, want %s", c.globs, got, c.want)
		}
	}
	g := CompileActionGlobs([]string{"db.*", "zz[", "*.send"})
	for a, want := range map[string]bool{"db.read": true, "mail.send": true, "zz[": false, "mail.read": false} {
		if g.Match(a) != want {
			t.Errorf("Match(%q) = %v", a, !want)
		}
	}
}
