package scan

import (
	"math"
	"regexp"
	"strings"
	"sync"
)

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isUpper(c byte) bool      { return 'A' <= c && c <= 'Z' }
func isLowerC(c byte) bool     { return 'a' <= c && c <= 'z' }
func isAlnum(c byte) bool      { return isDigit(c) || isUpper(c) || isLowerC(c) }
func isUpperAlnum(c byte) bool { return isDigit(c) || isUpper(c) }
func isWord(c byte) bool       { return isAlnum(c) || c == '_' }
func isB64URL(c byte) bool     { return isAlnum(c) || c == '-' || c == '_' }
func isB64Std(c byte) bool     { return isAlnum(c) || c == '+' || c == '/' || c == '=' }

// shannonEntropy is the Shannon entropy of s in bits per byte.
func shannonEntropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// luhn reports whether the ASCII digits pass the Luhn check.
func luhn(digits []byte) bool {
	if len(digits) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// globMatch matches s against pat where '*' matches any run of bytes
// (including none) and every other byte matches itself.
func globMatch(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// patternCache holds compiled rule patterns keyed by their source text.
var patternCache sync.Map // string -> *regexp.Regexp

func compilePattern(p string) (*regexp.Regexp, error) {
	if v, ok := patternCache.Load(p); ok {
		return v.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	v, _ := patternCache.LoadOrStore(p, re)
	return v.(*regexp.Regexp), nil
}

// regexHits returns the non-empty matches of re in t, typed "regex".
func regexHits(re *regexp.Regexp, t string, out []hit) []hit {
	for _, m := range re.FindAllStringIndex(t, -1) {
		if m[1] > m[0] {
			out = append(out, hit{m[0], m[1], TypeRegex})
		}
	}
	return out
}

// commonness ranks bytes by how often they occur in JSON results and prose
// (higher is more common). Literal searches anchor on their rarest byte, so
// strings.Index's first-byte scan skips far instead of stopping at every 'e'.
var commonness = func() (r [256]uint8) {
	for c := range r {
		r[c] = 10
	}
	const letters = "etaoinshrdlcumwfgypbvkjxqz" // English frequency order
	for i := 0; i < len(letters); i++ {
		r[letters[i]] = uint8(120 - 4*i)
	}
	for c := '0'; c <= '9'; c++ {
		r[c] = 40
	}
	for c := 'A'; c <= 'Z'; c++ {
		r[c] = 8
	}
	for _, c := range []byte(" \"\n") {
		r[c] = 200
	}
	for _, c := range []byte(":,_-./") {
		r[c] = 30
	}
	for _, c := range []byte("|#<>[]") {
		r[c] = 4
	}
	return
}()

// anchor returns the index of lit's rarest byte.
func anchor(lit string) int {
	k := 0
	for i := 1; i < len(lit); i++ {
		if commonness[lit[i]] < commonness[lit[k]] {
			k = i
		}
	}
	return k
}

// indexFrom returns the first occurrence of lit in t at or after from, or -1.
func indexFrom(t, lit string, from int) int {
	if from >= len(t) {
		return -1
	}
	if len(t)-from <= 64 { // short: strings.Index brute-forces with SIMD
		if q := strings.Index(t[from:], lit); q >= 0 {
			return from + q
		}
		return -1
	}
	k := anchor(lit)
	head, tail := lit[:k], lit[k:]
	for i := from + k; i <= len(t)-len(tail); {
		q := strings.Index(t[i:], tail)
		if q < 0 {
			return -1
		}
		q += i
		if t[q-k:q] == head {
			return q - k
		}
		i = q + 1
	}
	return -1
}

// forEach calls fn for every occurrence of lit in t, left to right; fn
// returns where to resume (anything <= p resumes at p+1).
func forEach(t, lit string, fn func(p int) int) {
	for from := 0; ; {
		p := indexFrom(t, lit, from)
		if p < 0 {
			return
		}
		next := fn(p)
		if next <= p {
			next = p + 1
		}
		from = next
	}
}
