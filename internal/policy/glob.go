package policy

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// maxGlobLen bounds a single glob pattern.
const maxGlobLen = 1024

// glob is a compiled glob pattern. Semantics (documented in the package doc):
//
//   - '*' matches any run of characters, including none, '.' and '/';
//   - '?' matches exactly one character (one UTF-8 code point);
//   - '[abc]', '[a-z]', '[^a-z]' / '[!a-z]' match one character of (or not of) a class;
//   - '\x' matches x literally;
//   - everything else matches itself, case-sensitively.
//
// A pattern matches the whole string, not a substring.
type glob struct {
	src  string
	kind globKind
	lit  string // for literal / prefix / suffix / contains kinds
	toks []gtok
}

type globKind uint8

const (
	globLiteral  globKind = iota // no metacharacters
	globAny                      // "*"
	globPrefix                   // "lit*"
	globSuffix                   // "*lit"
	globContains                 // "*lit*"
	globGeneral
)

type gtokKind uint8

const (
	tLit   gtokKind = iota
	tAny            // ?
	tStar           // *
	tClass          // [...]
)

type gtok struct {
	kind   gtokKind
	r      rune
	negate bool
	ranges []rune // pairs lo,hi
}

var errEmptyGlob = errors.New("glob is empty")

// compileGlob parses pattern; the error explains what is wrong with it.
func compileGlob(pattern string) (*glob, error) {
	if pattern == "" {
		return nil, errEmptyGlob
	}
	if len(pattern) > maxGlobLen {
		return nil, errors.New("glob is longer than 1024 bytes")
	}
	g := &glob{src: pattern}
	var toks []gtok
	for i := 0; i < len(pattern); {
		r, n := utf8.DecodeRuneInString(pattern[i:])
		switch r {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != tStar { // "**" == "*"
				toks = append(toks, gtok{kind: tStar})
			}
			i += n
		case '?':
			toks = append(toks, gtok{kind: tAny})
			i += n
		case '\\':
			if i+n >= len(pattern) {
				return nil, errors.New(`glob ends with an unescaped '\'`)
			}
			r2, n2 := utf8.DecodeRuneInString(pattern[i+n:])
			toks = append(toks, gtok{kind: tLit, r: r2})
			i += n + n2
		case '[':
			t, used, err := parseClass(pattern[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += used
		case ']':
			return nil, errors.New("glob has ']' without a matching '['")
		default:
			toks = append(toks, gtok{kind: tLit, r: r})
			i += n
		}
	}
	g.toks = toks
	g.classify()
	return g, nil
}

func parseClass(s string) (gtok, int, error) {
	// s starts with '['.
	t := gtok{kind: tClass}
	i := 1
	if i < len(s) && (s[i] == '^' || s[i] == '!') {
		t.negate = true
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return t, 0, errors.New("glob has '[' without a matching ']'")
		}
		if s[i] == ']' && !first {
			i++
			break
		}
		if s[i] == ']' && first {
			return t, 0, errors.New("glob has an empty character class '[]'")
		}
		first = false
		lo, hi, n, err := classRange(s, i)
		if err != nil {
			return t, 0, err
		}
		i += n
		t.ranges = append(t.ranges, lo, hi)
	}
	return t, i, nil
}

// classRange reads one member of a character class at i: a rune or a range
// lo-hi; n is its length in bytes.
func classRange(s string, i int) (lo, hi rune, n int, err error) {
	lo, n, err = classRune(s, i)
	if err != nil {
		return 0, 0, 0, err
	}
	j := i + n
	if j+1 >= len(s) || s[j] != '-' || s[j+1] == ']' {
		return lo, lo, n, nil
	}
	hi, m, err := classRune(s, j+1)
	if err != nil {
		return 0, 0, 0, err
	}
	if hi < lo {
		return 0, 0, 0, errors.New("glob has a character range whose end is before its start")
	}
	return lo, hi, n + 1 + m, nil
}

func classRune(s string, i int) (rune, int, error) {
	if s[i] == '\\' {
		if i+1 >= len(s) {
			return 0, 0, errors.New("glob has '[' without a matching ']'")
		}
		r, n := utf8.DecodeRuneInString(s[i+1:])
		return r, n + 1, nil
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, nil
}

// classify picks a fast path for the common shapes.
func (g *glob) classify() {
	toks := g.toks
	litRun := func(ts []gtok) (string, bool) {
		var b strings.Builder
		for _, t := range ts {
			if t.kind != tLit {
				return "", false
			}
			b.WriteRune(t.r)
		}
		return b.String(), true
	}
	if s, ok := litRun(toks); ok {
		g.kind, g.lit = globLiteral, s
		return
	}
	n := len(toks)
	if n == 1 && toks[0].kind == tStar {
		g.kind = globAny
		return
	}
	if toks[n-1].kind == tStar {
		if s, ok := litRun(toks[:n-1]); ok {
			g.kind, g.lit = globPrefix, s
			return
		}
	}
	if toks[0].kind == tStar {
		if s, ok := litRun(toks[1:]); ok {
			g.kind, g.lit = globSuffix, s
			return
		}
		if n > 2 && toks[n-1].kind == tStar {
			if s, ok := litRun(toks[1 : n-1]); ok {
				g.kind, g.lit = globContains, s
				return
			}
		}
	}
	g.kind = globGeneral
}

// match reports whether s matches the whole pattern.
func (g *glob) match(s string) bool {
	switch g.kind {
	case globLiteral:
		return s == g.lit
	case globAny:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	case globContains:
		return strings.Contains(s, g.lit)
	}
	return matchToks(g.toks, s)
}

// matchToks is the classic iterative wildcard matcher: it remembers the last
// star and retries from one character further on mismatch. O(len(p)*len(s))
// in the worst case, no recursion, no allocation.
func matchToks(p []gtok, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			t := &p[pi]
			if t.kind == tStar {
				starP, starS = pi, si
				pi++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[si:])
			if t.one(r) {
				pi++
				si += n
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Backtrack: let the last star swallow one more character.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		si = starS
		pi = starP + 1
	}
	for pi < len(p) && p[pi].kind == tStar {
		pi++
	}
	return pi == len(p)
}

func (t *gtok) one(r rune) bool {
	switch t.kind {
	case tLit:
		return r == t.r
	case tAny:
		return true
	case tClass:
		in := false
		for i := 0; i+1 < len(t.ranges); i += 2 {
			if r >= t.ranges[i] && r <= t.ranges[i+1] {
				in = true
				break
			}
		}
		return in != t.negate
	}
	return false
}

// globList is a compiled list of globs; it matches when any glob does.
type globList struct {
	globs []*glob
	text  string // "[a b c]" for explanations
}

func (l *globList) match(s string) (*glob, bool) {
	for _, g := range l.globs {
		if g.match(s) {
			return g, true
		}
	}
	return nil, false
}
