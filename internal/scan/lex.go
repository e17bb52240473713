package scan

import (
	"encoding/binary"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// view is one text to scan: the masked stored result, or one decoded string.
type view struct {
	text string
	low  string
	// key is the lowered name of the object member whose value text is, when
	// text is a decoded string value; it gives assignment context.
	key string
}

func (v *view) lower() string {
	if v.low == "" && v.text != "" {
		v.low = lowerASCII(v.text)
	}
	return v.low
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// lowerASCII lowers ASCII letters only, so byte offsets are unchanged.
// Eight bytes at a time: a byte is upper-case when, with its high bit clear,
// adding 0x80-'A' sets the high bit and adding 0x80-'Z'-1 does not.
func lowerASCII(s string) string {
	b := make([]byte, len(s))
	copy(b, s)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		x := w &^ msb
		upper := (x + (0x80-'A')*lsb) &^ (x + (0x80-'Z'-1)*lsb) &^ w & msb
		if upper != 0 {
			binary.LittleEndian.PutUint64(b[i:], w|upper>>2)
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// plainRun returns how many leading bytes of b need no attention inside a
// JSON string (not '"', not '\\', not a control byte), eight at a time.
func plainRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		q := w ^ ('"' * lsb)
		bs := w ^ ('\\' * lsb)
		// hasZero(v) = (v - lsb) &^ v & msb; hasLess(w, 0x20) likewise.
		if ((q-lsb)&^q|(bs-lsb)&^bs|(w-0x20*lsb)&^w)&msb != 0 {
			break
		}
	}
	for i < len(b) && strPlain[b[i]] {
		i++
	}
	return i
}

const (
	tokString = 's'
	tokNumber = 'n'
)

// token is a string or number of the stored JSON. For a string, [start, end)
// includes the quotes.
type token struct {
	start, end int
	kind       byte
	key        bool // an object member name
	uesc       bool // holds a \uXXXX or \/ escape
	// ks, ke: for a member value string, the span of its member name
	// (quotes included); ke == 0 otherwise.
	ks, ke int
}

// doc is a lexed result: the text with string escapes blanked, and its tokens.
type doc struct {
	masked string
	toks   []token
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// maxDepth is encoding/json's nesting limit; lex rejects deeper input so it
// accepts exactly what json.Valid accepts.
const maxDepth = 10000

// strPlain marks bytes that need no attention inside a JSON string.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return
}()

// lexer is lex's state: the input, the masked copy, the position and the
// tokens found so far. The stack of open containers ('{' or '[') is lex's
// own, passed in and out, so that it stays off the heap.
type lexer struct {
	raw  []byte
	m    []byte // raw with string escapes blanked
	n    int
	i    int
	all  bool
	toks []token
	// ks, ke: the member name of the value about to be parsed, if any.
	ks, ke int
}

// lex validates raw as JSON (the grammar json.Valid accepts, including its
// nesting limit) and tokenizes it in one pass. Inside strings every escape
// sequence is replaced by spaces of the same length in masked, so masked has
// raw's offsets. ok is false for invalid JSON. Tokens lists every string and
// number when all is set; otherwise only the strings with \uXXXX or \/
// escapes (the ones the decoded pass needs).
func lex(raw []byte, all bool) (d *doc, ok bool) {
	l := &lexer{raw: raw, n: len(raw), all: all}
	stack := make([]byte, 0, 16)
	l.m = make([]byte, l.n)
	copy(l.m, raw)
	if all {
		l.toks = make([]token, 0, 64)
	}
	for {
		// Expect a value.
		l.skipSpace()
		if l.i >= l.n {
			return nil, false
		}
		if c := raw[l.i]; c == '{' || c == '[' {
			var empty, ok bool
			if stack, empty, ok = l.open(stack, c); !ok {
				return nil, false
			}
			if !empty {
				continue
			}
		} else if !l.scalar(c) {
			return nil, false
		}
		var done, ok bool
		if stack, done, ok = l.afterValue(stack); !ok {
			return nil, false
		}
		if done {
			return &doc{masked: string(l.m), toks: l.toks}, true
		}
	}
}

func (l *lexer) skipSpace() {
	for l.i < l.n && isJSONSpace(l.raw[l.i]) {
		l.i++
	}
}

// open enters the object or array opened by c at i. empty reports that it
// was closed right away; otherwise the first member name (of an object) has
// been parsed and a value is expected.
func (l *lexer) open(stack []byte, c byte) (_ []byte, empty, ok bool) {
	if len(stack) >= maxDepth {
		return stack, false, false
	}
	l.i++
	l.skipSpace()
	if l.i < l.n && l.raw[l.i] == c+2 { // '}' or ']'
		l.i++
		return stack, true, true
	}
	return append(stack, c), false, l.element(c)
}

// element starts the next element of the container top: for an object it
// parses the member name, for an array it clears it.
func (l *lexer) element(top byte) bool {
	if top != '{' {
		l.ks, l.ke = 0, 0
		return true
	}
	var ok bool
	l.ks, l.ke, ok = l.member()
	return ok
}

// scalar parses the string, literal or number starting with c at i.
func (l *lexer) scalar(c byte) bool {
	switch c {
	case '"':
		return l.str(false, l.ks, l.ke)
	case 't':
		return l.lit("true")
	case 'f':
		return l.lit("false")
	case 'n':
		return l.lit("null")
	}
	return l.num()
}

// afterValue closes the containers a value ends and moves on to the next
// element; done reports the end of the document.
func (l *lexer) afterValue(stack []byte) (_ []byte, done, ok bool) {
	for {
		l.skipSpace()
		if len(stack) == 0 {
			return stack, true, l.i == l.n
		}
		if l.i >= l.n {
			return stack, false, false
		}
		top := stack[len(stack)-1]
		c := l.raw[l.i]
		if c == top+2 {
			stack = stack[:len(stack)-1]
			l.i++
			continue
		}
		if c != ',' {
			return stack, false, false
		}
		l.i++
		if top == '{' {
			l.skipSpace()
		}
		return stack, false, l.element(top)
	}
}

// str parses the string starting at raw[i] == '"' and appends its token.
func (l *lexer) str(key bool, ks, ke int) bool {
	t := token{start: l.i, kind: tokString, key: key, ks: ks, ke: ke}
	raw, n := l.raw, l.n
	j := l.i + 1
	for {
		j += plainRun(raw[j:])
		if j >= n {
			return false
		}
		c := raw[j]
		if c == '"' {
			break
		}
		if c != '\\' || j+1 >= n {
			return false // control byte or truncated escape
		}
		w, uesc := escapeWidth(raw[j:])
		if w == 0 {
			return false
		}
		t.uesc = t.uesc || uesc
		for k := j; k < j+w; k++ {
			l.m[k] = ' '
		}
		j += w
	}
	t.end = j + 1
	if l.all || t.uesc {
		l.toks = append(l.toks, t)
	}
	l.i = t.end
	return true
}

// escapeWidth returns the length of the escape sequence at the start of b
// (b[0] == '\\'), 0 when it is invalid, and whether it is a \uXXXX or \/
// escape.
func escapeWidth(b []byte) (w int, uesc bool) {
	switch b[1] {
	case '"', '\\', 'b', 'f', 'n', 'r', 't':
		return 2, false
	case '/':
		return 2, true
	case 'u':
		if len(b) < 6 || hex4(b[2:6]) < 0 {
			return 0, false
		}
		return 6, true
	}
	return 0, false
}

// member parses `"name" ws :` at i and returns the name's span.
func (l *lexer) member() (int, int, bool) {
	ks := l.i
	if l.i >= l.n || l.raw[l.i] != '"' || !l.str(true, 0, 0) {
		return 0, 0, false
	}
	ke := l.i
	l.skipSpace()
	if l.i >= l.n || l.raw[l.i] != ':' {
		return 0, 0, false
	}
	l.i++
	return ks, ke, true
}

func (l *lexer) lit(w string) bool {
	if l.n-l.i < len(w) || string(l.raw[l.i:l.i+len(w)]) != w {
		return false
	}
	l.i += len(w)
	return true
}

// num parses a JSON number at i.
func (l *lexer) num() bool {
	s := l.i
	if l.raw[l.i] == '-' {
		l.i++
	}
	if !l.intPart() {
		return false
	}
	if l.i < l.n && l.raw[l.i] == '.' {
		l.i++
		if !l.someDigits() {
			return false
		}
	}
	if !l.exponent() {
		return false
	}
	if l.all {
		l.toks = append(l.toks, token{start: s, end: l.i, kind: tokNumber})
	}
	return true
}

// intPart parses a number's integer digits: 0, or a digit run without a
// leading zero.
func (l *lexer) intPart() bool {
	switch {
	case l.i < l.n && l.raw[l.i] == '0':
		l.i++
	case l.i < l.n && '1' <= l.raw[l.i] && l.raw[l.i] <= '9':
		l.digits()
	default:
		return false
	}
	return true
}

// exponent parses a number's optional exponent (e or E, a sign, digits).
func (l *lexer) exponent() bool {
	if l.i >= l.n || (l.raw[l.i] != 'e' && l.raw[l.i] != 'E') {
		return true
	}
	l.i++
	if l.i < l.n && (l.raw[l.i] == '+' || l.raw[l.i] == '-') {
		l.i++
	}
	return l.someDigits()
}

// digits skips a run of decimal digits.
func (l *lexer) digits() {
	for l.i < l.n && isDigit(l.raw[l.i]) {
		l.i++
	}
}

// someDigits skips a run of at least one decimal digit.
func (l *lexer) someDigits() bool {
	if l.i >= l.n || !isDigit(l.raw[l.i]) {
		return false
	}
	l.digits()
	return true
}

// decoded is a string token's value with, for every decoded byte, the raw
// byte range [os, oe) it came from.
type decoded struct {
	s      []byte
	os, oe []int
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

// decodeLit unquotes a string token the way encoding/json does (lone
// surrogates become U+FFFD); with withMap it records where each decoded byte
// came from (needed by toRaw and fromRaw).
func decodeLit(raw []byte, t *token, withMap bool) decoded {
	cs, ce := t.start+1, t.end-1
	if ce > len(raw) {
		ce = len(raw)
	}
	if cs > ce {
		return decoded{}
	}
	d := decoded{s: make([]byte, 0, ce-cs)}
	if withMap {
		d.os = make([]int, 0, ce-cs)
		d.oe = make([]int, 0, ce-cs)
	}
	var ub [utf8.UTFMax]byte
	for i := cs; i < ce; {
		c := raw[i]
		if c != '\\' || i+1 >= ce {
			d.emit(c, i, i+1, withMap)
			i++
			continue
		}
		if e := raw[i+1]; e != 'u' {
			d.emit(unescapeByte(e), i, i+2, withMap)
			i += 2
			continue
		}
		r, w := decodeUnicodeEscape(raw[i:ce])
		if w == 0 {
			d.emit(c, i, i+1, withMap)
			i++
			continue
		}
		k := utf8.EncodeRune(ub[:], r)
		for _, b := range ub[:k] {
			d.emit(b, i, i+w, withMap)
		}
		i += w
	}
	return d
}

// emit appends the decoded byte c that came from the raw bytes [s, e).
func (d *decoded) emit(c byte, s, e int, withMap bool) {
	d.s = append(d.s, c)
	if withMap {
		d.os = append(d.os, s)
		d.oe = append(d.oe, e)
	}
}

// unescapeByte is the byte a two-byte escape \e stands for.
func unescapeByte(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e
}

// decodeUnicodeEscape decodes the \uXXXX escape at the start of b (with its
// low surrogate \uXXXX when it is a high one) and returns the rune and the
// escape's length, or width 0 when b does not start with four hex digits.
// A lone or mismatched surrogate becomes U+FFFD.
func decodeUnicodeEscape(b []byte) (rune, int) {
	r := hex4(b[2:min(6, len(b))])
	if r < 0 {
		return 0, 0
	}
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	r2 := rune(-1)
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		r2 = hex4(b[8:12])
	}
	if dr := utf16.DecodeRune(r, r2); r2 >= 0 && dr != utf8.RuneError {
		return dr, 12
	}
	return utf8.RuneError, 6
}

// toRaw maps a hit in the decoded text to the raw bytes it came from.
func (d *decoded) toRaw(h hit) hit {
	return hit{d.os[h.start], d.oe[h.end-1], h.typ}
}

// fromRaw maps the raw range [rs, re) to the decoded bytes whose source
// overlaps it, widened to whole UTF-8 sequences.
func (d *decoded) fromRaw(rs, re int) (int, int) {
	n := len(d.s)
	ds := sort.Search(n, func(i int) bool { return d.oe[i] > rs })
	de := sort.Search(n, func(i int) bool { return d.os[i] >= re })
	if ds >= de {
		return 0, 0
	}
	for ds > 0 && !utf8.RuneStart(d.s[ds]) {
		ds--
	}
	for de < n && !utf8.RuneStart(d.s[de]) {
		de++
	}
	return ds, de
}
