// Package yamlcheck holds the YAML checks shared by policy bundles
// (package policy) and workflow definitions (package workflow): text checks
// run before parsing (UTF-8, control characters, tabs), node-tree checks run
// before any value is read (nesting depth, aliases, anchors, tags), and
// helpers that locate a yaml.v3 error on the line that causes it.
//
// The callers differ in their error codes and in some details of their
// messages, so functions that report a problem take an [ErrorFunc] and,
// where needed, a small set of rules; everything else returns plain values.
package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn"
)

// ErrorFunc builds the caller's error for a problem at a 1-based line (0
// when unknown) and a field path; msg is the complete, final message text.
type ErrorFunc func(line int, field, msg string) *cairn.Error

// Truncate shortens s to at most n bytes without splitting a UTF-8
// sequence, marking a cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// CheckText rejects invalid UTF-8 and control characters other than
// newline, carriage return and (unless rejectTabs) tab, naming the line.
func CheckText(text []byte, rejectTabs bool, errf ErrorFunc) error {
	line := 1
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				line++
			case c == '\t' && rejectTabs:
				return errf(line, "", "tab character; indent and separate with spaces")
			case c == '\t' || c == '\r':
			case c < 0x20 || c == 0x7f:
				return errf(line, "", fmt.Sprintf("control character 0x%02x is not allowed", c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && size == 1 {
			return errf(line, "", fmt.Sprintf("invalid UTF-8 (byte 0x%02x at offset %d)", c, i))
		}
		i += size
	}
	return nil
}

// AllowedTags are the YAML tags CheckTree accepts: the core schema's.
var AllowedTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!timestamp": true,
}

// TreeRules parameterise CheckTree.
type TreeRules struct {
	// MaxDepth is the deepest nesting allowed (the root is depth 0).
	MaxDepth int
	// Where follows "are not allowed" / "is not allowed" in messages,
	// e.g. " in a policy bundle"; it may be empty.
	Where string
	// NameLimit truncates alias, anchor and tag names in messages to this
	// many bytes; 0 leaves them whole.
	NameLimit int
	// MergeKeys reports a merge key (<<) as such; otherwise it is
	// reported as the disallowed tag !!merge.
	MergeKeys bool
	// ChildField, if not nil, gives the field path of the i-th child of
	// n (an index into n.Content); if nil children keep n's field.
	ChildField func(n *yaml.Node, field string, i int) string
}

// CheckTree rejects aliases, anchors, tags outside AllowedTags, merge keys
// and nesting deeper than r.MaxDepth, before any value is read. Aliases are
// refused outright: they are how "billion laughs" bombs are built.
func CheckTree(n *yaml.Node, field string, r TreeRules, errf ErrorFunc) error {
	return checkTree(n, field, 0, &r, errf)
}

func checkTree(n *yaml.Node, field string, depth int, r *TreeRules, errf ErrorFunc) error {
	name := func(s string) string {
		if r.NameLimit > 0 {
			return Truncate(s, r.NameLimit)
		}
		return s
	}
	if depth > r.MaxDepth {
		return errf(n.Line, field, fmt.Sprintf("YAML is nested more than %d levels deep", r.MaxDepth))
	}
	switch {
	case n.Kind == yaml.AliasNode:
		return errf(n.Line, field, fmt.Sprintf("YAML aliases (*%s) are not allowed%s; write the value out", name(n.Value), r.Where))
	case n.Anchor != "":
		return errf(n.Line, field, fmt.Sprintf("YAML anchors (&%s) are not allowed%s", name(n.Anchor), r.Where))
	case r.MergeKeys && n.Tag == "!!merge":
		return errf(n.Line, field, "YAML merge keys (<<) are not allowed"+r.Where)
	case n.Tag != "" && !AllowedTags[n.Tag]:
		return errf(n.Line, field, fmt.Sprintf("YAML tag %s is not allowed%s", name(n.Tag), r.Where))
	}
	for i, c := range n.Content {
		f := field
		if r.ChildField != nil {
			f = r.ChildField(n, field, i)
		}
		if err := checkTree(c, f, depth+1, r, errf); err != nil {
			return err
		}
	}
	return nil
}

var lineRe = regexp.MustCompile(`^line (\d+): `)

// SplitError splits a yaml.v3 error message "yaml: line N: msg" into N and
// msg. located reports whether the message named a line; if it did not,
// line is 0 and msg is the message without its "yaml: " prefix.
func SplitError(err error) (line int, msg string, located bool) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, msg[len(m[0]):], true
	}
	return 0, msg, false
}

// FirstError decodes every document in text and returns the message (as
// from SplitError) of the first error, and whether there was one. It does
// not recover from a panic in the decoder.
func FirstError(text []byte) (msg string, failed bool) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return "", false
		}
		_, msg, _ = SplitError(err)
		return msg, true
	}
}

// LineEnds returns, for each line of text, the offset just past it (past
// its newline, or len(text) for a last line without one); text[:ends[i]]
// is the prefix made of lines 1 to i+1. Empty text has one empty line.
func LineEnds(text []byte) []int {
	var ends []int
	for i, c := range text {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(text) {
		ends = append(ends, len(text))
	}
	return ends
}

// NewError builds a 422 with the given code; a known line (> 0) is also
// named at the start of the message, as "line N: msg".
func NewError(code string, line int, field, msg string) *cairn.Error {
	if line > 0 {
		msg = "line " + strconv.Itoa(line) + ": " + msg
	}
	return &cairn.Error{Code: code, Line: line, Field: field, Message: msg}
}

// Line is n's line, or 0 if n is nil.
func Line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// JoinField appends key to a dotted field path.
func JoinField(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// Bisect returns the smallest line in [lo, hi] for which fails is true,
// given that fails(hi) is true and fails is monotonic over the range.
func Bisect(lo, hi int, fails func(line int) bool) int {
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Decode decodes the one YAML document text must hold. doc is the document
// node, or nil if text holds none (only comments or white space). If text
// holds a second document, extra is that document's root node (or, for an
// empty document, its document node, which is at its "---"). err is the
// yaml.v3 error decoding either document; it takes precedence over doc and
// extra. Decode does not recover from a panic in the decoder.
func Decode(text []byte) (doc, extra *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	doc = new(yaml.Node)
	if err := dec.Decode(doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	extra = new(yaml.Node)
	if err := dec.Decode(extra); err != nil {
		if errors.Is(err, io.EOF) {
			return doc, nil, nil
		}
		return doc, nil, err
	}
	if extra.Kind == yaml.DocumentNode && len(extra.Content) > 0 {
		if r := extra.Content[0]; r.Kind != yaml.ScalarNode || r.Tag != "!!null" || r.Value != "" {
			extra = r
		}
	}
	return doc, extra, nil
}

// EditDistance is the optimal-string-alignment distance between a and b
// (insertions, deletions, substitutions and transpositions of adjacent
// runes), for "did you mean" suggestions.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
