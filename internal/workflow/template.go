package workflow

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"go.yaml.in/yaml/v3"
)

// maxRenderedBytes bounds a rendered input, as the job API bounds a job's input.
const maxRenderedBytes = 1 << 20

// tmpl is a compiled input template: a JSON value some of whose strings
// are, or contain, ${{ expr }}. Subtrees without expressions are kept as
// their JSON text.
type tmpl struct {
	kind  tmplKind
	raw   []byte   // tLit: the value's JSON
	expr  *program // tExpr
	parts []part   // tInterp
	keys  [][]byte // tObject: the JSON of the keys, sorted
	elems []*tmpl  // tObject: the values, by keys; tArray: the elements
}

type tmplKind uint8

const (
	tLit    tmplKind = iota
	tExpr            // a string that is exactly ${{ expr }}: the value
	tInterp          // a string with ${{ expr }} parts: a string
	tObject
	tArray
)

// part is literal text or an expression of an interpolated string.
type part struct {
	lit  string
	expr *program
}

// compileStep compiles a step's condition and templates; they may read the
// step's transitive dependencies (the compensation input also the step).
func compileStep(r *rawStep, index map[string]int, b *budget) error {
	s := r.s
	sc := &refScope{self: s.ID, allowed: s.ancestorSet, all: index, budget: b, used: &s.reads}
	if r.cond != nil {
		f := r.field + ".condition"
		if r.cond.Kind != yaml.ScalarNode || isNull(r.cond) {
			return nodeErr(r.cond, f, "condition must be a CEL expression (a string), found %s", kindName(r.cond))
		}
		src, off := r.cond.Value, 0
		if segs, err := splitTemplate(src); err == nil && len(segs) > 0 && segs[0].expr {
			if len(segs) == 1 {
				src, off = segs[0].text, segs[0].off // ${{ expr }}: the expression
			} else {
				return nodeErr(r.cond, f, "a condition is one CEL expression; write it without ${{ }}")
			}
		}
		prg, e := compileExpr(src, f, sc, true)
		if e != nil {
			return exprErr(r.cond, f, "condition", src, off, e)
		}
		s.cond = prg
	}
	var err error
	if r.input != nil {
		if s.in, err = compileTemplate(r.input, r.field+".input", sc); err != nil {
			return err
		}
	}
	if r.compInput != nil {
		csc := *sc
		csc.selfOK = true
		csc.used = &s.compReads
		if s.compIn, err = compileTemplate(r.compInput, r.field+".on_failure.compensate.input", &csc); err != nil {
			return err
		}
	}
	return nil
}

// exprErr reports a compile problem of the expression src found at byte off
// of node's value.
func exprErr(n *yaml.Node, field, what, src string, off int, e *exprError) error {
	line := n.Line
	if n.Style&yaml.LiteralStyle != 0 && n.Line > 0 && n.Value != "" {
		// A literal block's text starts on the line after its indicator and
		// keeps its line breaks. An empty block has no such line (it may end
		// the text): its error names the indicator's line.
		line = n.Line + 1 + strings.Count(n.Value[:off], "\n")
		if e.line > 1 {
			line += e.line - 1
		}
	}
	where := ""
	if e.line > 0 {
		where = fmt.Sprintf(" at %d:%d", e.line, e.column)
	}
	return errAt(line, field, "%s %q: %s%s", what, truncate(oneLine(src), 120), e.msg, where)
}

func compileTemplate(n *yaml.Node, field string, sc *refScope) (*tmpl, error) {
	switch n.Kind {
	case yaml.MappingNode:
		m, err := mapOf(n, field, "input", nil)
		if err != nil {
			return nil, err
		}
		pairs := slices.Clone(m.list)
		slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.key.Value, b.key.Value) })
		t := &tmpl{kind: tObject}
		lit := true
		for _, p := range pairs {
			var k bytes.Buffer
			appendString(&k, p.key.Value)
			e, err := compileTemplate(p.val, dataField(field, p.key.Value), sc)
			if err != nil {
				return nil, err
			}
			t.keys = append(t.keys, k.Bytes())
			t.elems = append(t.elems, e)
			lit = lit && e.kind == tLit
		}
		if lit {
			return t.literal(), nil
		}
		return t, nil
	case yaml.SequenceNode:
		t := &tmpl{kind: tArray}
		lit := true
		for i, c := range n.Content {
			e, err := compileTemplate(c, field+"["+strconv.Itoa(i)+"]", sc)
			if err != nil {
				return nil, err
			}
			t.elems = append(t.elems, e)
			lit = lit && e.kind == tLit
		}
		if lit {
			return t.literal(), nil
		}
		return t, nil
	case yaml.ScalarNode:
		return compileScalar(n, field, sc)
	}
	return nil, nodeErr(n, field, "unsupported YAML node %s", kindName(n))
}

// literal turns an object or array of literals into one literal.
func (t *tmpl) literal() *tmpl {
	var b bytes.Buffer
	_ = t.render(&b, nil) // only literals: no evaluation, no error
	return &tmpl{kind: tLit, raw: b.Bytes()}
}

func compileScalar(n *yaml.Node, field string, sc *refScope) (*tmpl, error) {
	if t, typed, err := typedScalar(n, field); typed {
		return t, err
	}
	s := n.Value
	segs, err := splitTemplate(s)
	if err != nil {
		return nil, nodeErr(n, field, "%v", err)
	}
	if len(segs) == 0 || len(segs) == 1 && !segs[0].expr {
		var b bytes.Buffer
		appendString(&b, s)
		return &tmpl{kind: tLit, raw: b.Bytes()}, nil
	}
	t := &tmpl{kind: tInterp}
	for _, sg := range segs {
		if !sg.expr {
			t.parts = append(t.parts, part{lit: sg.text})
			continue
		}
		prg, e := compileExpr(sg.text, field, sc, false)
		if e != nil {
			return nil, exprErr(n, field, "expression", sg.text, sg.off, e)
		}
		t.parts = append(t.parts, part{expr: prg})
	}
	if len(t.parts) == 1 {
		return &tmpl{kind: tExpr, expr: t.parts[0].expr}, nil
	}
	return t, nil
}

// typedScalar turns a null, boolean, integer or float scalar into a JSON
// literal; typed is false for any other tag (a string).
func typedScalar(n *yaml.Node, field string) (t *tmpl, typed bool, err error) {
	lit := func(s string) *tmpl { return &tmpl{kind: tLit, raw: []byte(s)} }
	switch n.Tag {
	case "!!null":
		return lit("null"), true, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, true, nodeErr(n, field, "invalid boolean %q", truncate(n.Value, 40))
		}
		return lit(strconv.FormatBool(b)), true, nil
	case "!!int":
		if s, ok := intLiteral(n); ok {
			return lit(s), true, nil
		}
		return nil, true, nodeErr(n, field, "integer %s is invalid or out of range; quote it to pass it as a string", truncate(n.Value, 40))
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, true, nodeErr(n, field, "number %s cannot be represented in JSON; quote it to pass it as a string", truncate(n.Value, 40))
		}
		var b bytes.Buffer
		appendFloat(&b, f)
		return lit(b.String()), true, nil
	}
	return nil, false, nil
}

// intLiteral decodes an !!int scalar and formats it in decimal.
func intLiteral(n *yaml.Node) (string, bool) {
	var v any
	if err := n.Decode(&v); err != nil {
		return "", false
	}
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	}
	return "", false
}

// segment is literal text or the source of a ${{ expr }}; off is where the
// expression starts in the string.
type segment struct {
	text string
	expr bool
	off  int
}

// splitTemplate cuts s into literal text and ${{ expr }} expressions. The
// closing }} is the first one outside the expression's string literals and
// braces, so ${{ {'a': 1} }} and ${{ '}}' }} work, and ${{ '${{' }} is how
// a literal "${{" is written.
func splitTemplate(s string) ([]segment, error) {
	var out []segment
	for pos := 0; pos < len(s); {
		i := strings.Index(s[pos:], "${{")
		if i < 0 {
			out = append(out, segment{text: s[pos:]})
			break
		}
		if i > 0 {
			out = append(out, segment{text: s[pos : pos+i]})
		}
		start := pos + i + 3
		end, err := exprEnd(s, start)
		if err != nil {
			return nil, err
		}
		src := s[start:end]
		lead := len(src) - len(strings.TrimLeft(src, " \t\r\n"))
		src = strings.TrimSpace(src)
		if src == "" {
			return nil, errors.New("empty ${{ }}: write an expression between the braces")
		}
		out = append(out, segment{text: src, expr: true, off: start + lead})
		pos = end + 2
	}
	return out, nil
}

// exprEnd returns the index of the }} that closes the expression starting
// at from.
func exprEnd(s string, from int) (int, error) {
	depth := 0
	for i := from; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			raw := i > from && (s[i-1] == 'r' || s[i-1] == 'R') && (i-1 == from || !isIdentByte(s[i-2]))
			end := stringEnd(s, i, raw)
			if end < 0 {
				return 0, errors.New("unterminated string literal in ${{ }}")
			}
			i = end
		case '{':
			depth++
		case '}':
			if depth == 0 && i+1 < len(s) && s[i+1] == '}' {
				return i, nil
			}
			if depth > 0 {
				depth--
			}
		}
	}
	return 0, errors.New("unterminated ${{: no closing }}")
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// stringEnd returns the index of the last byte of the CEL string literal
// starting at the quote s[i], or -1.
func stringEnd(s string, i int, raw bool) int {
	q := s[i]
	delim := string(q)
	if strings.HasPrefix(s[i:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	for j := i + len(delim); j < len(s); j++ {
		if s[j] == '\\' && !raw {
			j++
			continue
		}
		if strings.HasPrefix(s[j:], delim) {
			return j + len(delim) - 1
		}
	}
	return -1
}

// ---------------------------------------------------------------------------
// Rendering

func (s *Step) input(sc Scope) (json.RawMessage, error) { return renderTemplate(s.in, &sc) }

func (s *Step) compensationInput(sc Scope) (json.RawMessage, error) {
	return renderTemplate(s.compIn, &sc)
}

func renderTemplate(t *tmpl, sc *Scope) (json.RawMessage, error) {
	if t == nil {
		return json.RawMessage("null"), nil
	}
	if t.kind == tLit {
		return slices.Clone(t.raw), nil
	}
	var b bytes.Buffer
	if err := t.render(&b, newActivation(sc)); err != nil {
		return nil, err
	}
	if b.Len() > maxRenderedBytes {
		return nil, fmt.Errorf("the rendered input is %d bytes; the limit is %d", b.Len(), maxRenderedBytes)
	}
	return b.Bytes(), nil
}

func (t *tmpl) render(b *bytes.Buffer, act *activation) error {
	switch t.kind {
	case tLit:
		b.Write(t.raw)
	case tExpr:
		v, err := t.expr.eval(act)
		if err != nil {
			return err
		}
		if err := appendVal(b, v, 0); err != nil {
			return fmt.Errorf("%s: %w", t.expr.field, err)
		}
	case tInterp:
		return t.renderInterp(b, act)
	case tObject:
		return t.renderObject(b, act)
	case tArray:
		b.WriteByte('[')
		for i, e := range t.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := e.render(b, act); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	}
	return nil
}

// renderInterp writes an interpolated string: literal parts as they are,
// string values as their text, other values as JSON.
func (t *tmpl) renderInterp(b *bytes.Buffer, act *activation) error {
	var sb bytes.Buffer
	for _, p := range t.parts {
		if p.expr == nil {
			sb.WriteString(p.lit)
			continue
		}
		v, err := p.expr.eval(act)
		if err != nil {
			return err
		}
		v = unwrapOptional(v)
		if s, ok := v.(types.String); ok {
			sb.WriteString(string(s))
		} else if err := appendVal(&sb, v, 0); err != nil {
			return fmt.Errorf("%s: %w", p.expr.field, err)
		}
		if sb.Len() > maxRenderedBytes {
			return fmt.Errorf("%s: the rendered string is longer than %d bytes", p.expr.field, maxRenderedBytes)
		}
	}
	appendString(b, sb.String())
	return nil
}

// unwrapOptional is v's value when v is an optional (null when absent), v
// otherwise.
func unwrapOptional(v ref.Val) ref.Val {
	o, ok := v.(*types.Optional)
	if !ok {
		return v
	}
	if o.HasValue() {
		return o.GetValue()
	}
	return types.NullValue
}

// renderObject writes an object template.
func (t *tmpl) renderObject(b *bytes.Buffer, act *activation) error {
	b.WriteByte('{')
	for i, k := range t.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(k)
		b.WriteByte(':')
		if err := t.elems[i].render(b, act); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// appendVal writes v as compact JSON: maps with their keys sorted, bytes as
// base64, timestamps as RFC 3339 strings, durations as "1.5s", an absent
// optional as null.
func appendVal(b *bytes.Buffer, v ref.Val, depth int) error {
	if depth > maxValueDepth {
		return errors.New("the value is nested too deeply")
	}
	if done, err := appendScalar(b, v); done {
		return err
	}
	switch x := v.(type) {
	case *types.Optional:
		if !x.HasValue() {
			b.WriteString("null")
			return nil
		}
		return appendVal(b, x.GetValue(), depth+1)
	case *types.Err:
		return x
	case *types.Unknown:
		return errors.New("the value is unknown")
	case *types.Type:
		appendString(b, x.TypeName())
	case traits.Mapper:
		return appendMap(b, x, depth)
	case traits.Lister:
		return appendList(b, x, depth)
	default:
		return fmt.Errorf("a value of type %s cannot be rendered as JSON", v.Type().TypeName())
	}
	return nil
}

// appendScalar writes v when it is a null, bool, number, string, bytes,
// timestamp or duration; done is false for any other value.
func appendScalar(b *bytes.Buffer, v ref.Val) (done bool, err error) {
	switch x := v.(type) {
	case types.Null:
		b.WriteString("null")
	case types.Bool:
		b.WriteString(strconv.FormatBool(bool(x)))
	case types.Int:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case types.Uint:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return true, fmt.Errorf("the number %v cannot be represented in JSON", f)
		}
		appendFloat(b, f)
	case types.String:
		appendString(b, string(x))
	case types.Bytes:
		appendString(b, base64.StdEncoding.EncodeToString(x))
	case types.Timestamp:
		appendString(b, x.Time.UTC().Format(time.RFC3339Nano))
	case types.Duration:
		appendString(b, strconv.FormatFloat(x.Duration.Seconds(), 'f', -1, 64)+"s")
	default:
		return false, nil
	}
	return true, nil
}

// appendList writes a list as a JSON array.
func appendList(b *bytes.Buffer, x traits.Lister, depth int) error {
	n, ok := x.Size().(types.Int)
	if !ok {
		return errors.New("a list has no size")
	}
	b.WriteByte('[')
	for i := range int64(n) {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := appendVal(b, x.Get(types.Int(i)), depth+1); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

func appendMap(b *bytes.Buffer, m traits.Mapper, depth int) error {
	type entry struct {
		key string
		val ref.Val
	}
	var entries []entry
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		var ks string
		switch kx := k.(type) {
		case types.String:
			ks = string(kx)
		case types.Int:
			ks = strconv.FormatInt(int64(kx), 10)
		case types.Uint:
			ks = strconv.FormatUint(uint64(kx), 10)
		case types.Bool:
			ks = strconv.FormatBool(bool(kx))
		default:
			return fmt.Errorf("a map key of type %s cannot be a JSON key", k.Type().TypeName())
		}
		entries = append(entries, entry{ks, m.Get(k)})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	b.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			if e.key == entries[i-1].key {
				return fmt.Errorf("the map has the key %q twice once converted to JSON", truncate(e.key, 40))
			}
			b.WriteByte(',')
		}
		appendString(b, e.key)
		b.WriteByte(':')
		if err := appendVal(b, e.val, depth+1); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// appendFloat formats f as encoding/json does.
func appendFloat(b *bytes.Buffer, f float64) {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf := strconv.AppendFloat(make([]byte, 0, 24), f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	b.Write(buf)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, without encoding/json's HTML
// escaping; invalid UTF-8 becomes U+FFFD.
func appendString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
