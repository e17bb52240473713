package policy

import (
	"sort"
	"strings"
)

// ActionGlobs is a compiled list of action globs (a worker's lease request),
// with the glob semantics of bundles. Globs that do not compile never match.
type ActionGlobs struct {
	globs []*glob
}

// CompileActionGlobs compiles patterns once for repeated matching.
func CompileActionGlobs(patterns []string) *ActionGlobs {
	a := &ActionGlobs{}
	for _, p := range patterns {
		if g, err := compileGlob(p); err == nil {
			a.globs = append(a.globs, g)
		}
	}
	return a
}

// Match reports whether action matches any of the globs.
func (a *ActionGlobs) Match(action string) bool {
	for _, g := range a.globs {
		if g.match(action) {
			return true
		}
	}
	return false
}

// ScanPlan says where in the byte order of action names the matches can be:
// All when some glob matches every action; otherwise the exact actions of
// the globs without metacharacters, and the literal prefixes of the others
// (every action such a glob matches starts with its prefix; "" for a glob
// that starts with a metacharacter). Prefixes are sorted, and none starts
// with another; exact actions covered by a prefix are left out.
type ScanPlan struct {
	All      bool
	Exact    []string
	Prefixes []string
}

// Plan returns the scan plan of the globs.
func (a *ActionGlobs) Plan() ScanPlan {
	var p ScanPlan
	var pre []string
	for _, g := range a.globs {
		switch g.kind {
		case globAny:
			return ScanPlan{All: true}
		case globLiteral:
			p.Exact = append(p.Exact, g.lit)
		default:
			pre = append(pre, g.prefix())
		}
	}
	sort.Strings(pre)
	for _, s := range pre {
		if n := len(p.Prefixes); n > 0 && strings.HasPrefix(s, p.Prefixes[n-1]) {
			continue // covered by a shorter prefix (sorted: it comes first)
		}
		p.Prefixes = append(p.Prefixes, s)
	}
	exact := p.Exact[:0]
	seen := map[string]bool{}
	for _, e := range p.Exact {
		if seen[e] || hasAnyPrefix(e, p.Prefixes) {
			continue
		}
		seen[e] = true
		exact = append(exact, e)
	}
	p.Exact = exact
	return p
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// prefix is the literal text before the glob's first metacharacter.
func (g *glob) prefix() string {
	var b strings.Builder
	for _, t := range g.toks {
		if t.kind != tLit {
			break
		}
		b.WriteRune(t.r)
	}
	return b.String()
}
