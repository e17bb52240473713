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

// lex validates raw as JSON (the grammar json.Valid accepts, including its
// nesting limit) and tokenizes it in one pass. Inside strings every escape
// sequence is replaced by spaces of the same length in masked, so masked has
// raw's offsets. ok is false for invalid JSON. Tokens lists every string and
// number when all is set; otherwise only the strings with \uXXXX or \/
// escapes (the ones the decoded pass needs).
func lex(raw []byte, all bool) (d *doc, ok bool) {
	n := len(raw)
	m := make([]byte, n)
	copy(m, raw)
	var toks []token
	if all {
		toks = make([]token, 0, 64)
	}
	stack := make([]byte, 0, 16)
	i := 0
	ws := func() {
		for i < n && isJSONSpace(raw[i]) {
			i++
		}
	}
	// str parses the string starting at raw[i] == '"' and appends its token.
	str := func(key bool, ks, ke int) bool {
		t := token{start: i, kind: tokString, key: key, ks: ks, ke: ke}
		j := i + 1
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
			w := 2
			switch raw[j+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
			case '/':
				t.uesc = true
			case 'u':
				if j+6 > n || hex4(raw[j+2:j+6]) < 0 {
					return false
				}
				w = 6
				t.uesc = true
			default:
				return false
			}
			for k := j; k < j+w; k++ {
				m[k] = ' '
			}
			j += w
		}
		t.end = j + 1
		if all || t.uesc {
			toks = append(toks, t)
		}
		i = t.end
		return true
	}
	// member parses `"name" ws :` at i and returns the name's span.
	member := func() (int, int, bool) {
		ks := i
		if i >= n || raw[i] != '"' || !str(true, 0, 0) {
			return 0, 0, false
		}
		ke := i
		ws()
		if i >= n || raw[i] != ':' {
			return 0, 0, false
		}
		i++
		return ks, ke, true
	}
	lit := func(w string) bool {
		if n-i < len(w) || string(raw[i:i+len(w)]) != w {
			return false
		}
		i += len(w)
		return true
	}
	num := func() bool {
		s := i
		if raw[i] == '-' {
			i++
		}
		switch {
		case i < n && raw[i] == '0':
			i++
		case i < n && '1' <= raw[i] && raw[i] <= '9':
			for i < n && isDigit(raw[i]) {
				i++
			}
		default:
			return false
		}
		if i < n && raw[i] == '.' {
			i++
			if i >= n || !isDigit(raw[i]) {
				return false
			}
			for i < n && isDigit(raw[i]) {
				i++
			}
		}
		if i < n && (raw[i] == 'e' || raw[i] == 'E') {
			i++
			if i < n && (raw[i] == '+' || raw[i] == '-') {
				i++
			}
			if i >= n || !isDigit(raw[i]) {
				return false
			}
			for i < n && isDigit(raw[i]) {
				i++
			}
		}
		if all {
			toks = append(toks, token{start: s, end: i, kind: tokNumber})
		}
		return true
	}
	var ks, ke int // member name of the value about to be parsed, if any
	var mok bool
	for {
		// Expect a value.
		ws()
		if i >= n {
			return nil, false
		}
		switch c := raw[i]; {
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return nil, false
			}
			stack = append(stack, c)
			i++
			ws()
			if i < n && raw[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if ks, ke, mok = member(); !mok {
					return nil, false
				}
			} else {
				ks, ke = 0, 0
			}
			continue
		case c == '"':
			if !str(false, ks, ke) {
				return nil, false
			}
		case c == 't':
			if !lit("true") {
				return nil, false
			}
		case c == 'f':
			if !lit("false") {
				return nil, false
			}
		case c == 'n':
			if !lit("null") {
				return nil, false
			}
		default:
			if !num() {
				return nil, false
			}
		}
		// After a value: close containers or move to the next element.
		for {
			ws()
			if len(stack) == 0 {
				if i != n {
					return nil, false
				}
				return &doc{masked: string(m), toks: toks}, true
			}
			if i >= n {
				return nil, false
			}
			top := stack[len(stack)-1]
			c := raw[i]
			if c == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if c != ',' {
				return nil, false
			}
			i++
			if top == '{' {
				ws()
				if ks, ke, mok = member(); !mok {
					return nil, false
				}
			} else {
				ks, ke = 0, 0
			}
			break
		}
	}
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
	emit := func(c byte, s, e int) {
		d.s = append(d.s, c)
		if withMap {
			d.os = append(d.os, s)
			d.oe = append(d.oe, e)
		}
	}
	var ub [utf8.UTFMax]byte
	for i := cs; i < ce; {
		c := raw[i]
		if c != '\\' {
			emit(c, i, i+1)
			i++
			continue
		}
		if i+1 >= ce {
			emit(c, i, i+1)
			i++
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			emit('\b', i, i+2)
		case 'f':
			emit('\f', i, i+2)
		case 'n':
			emit('\n', i, i+2)
		case 'r':
			emit('\r', i, i+2)
		case 't':
			emit('\t', i, i+2)
		case 'u':
			r := hex4(raw[i+2 : min(i+6, ce)])
			if r < 0 {
				emit(c, i, i+1)
				i++
				continue
			}
			w := 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+12 <= ce && raw[i+6] == '\\' && raw[i+7] == 'u' {
					r2 = hex4(raw[i+8 : i+12])
				}
				if dr := utf16.DecodeRune(r, r2); r2 >= 0 && dr != utf8.RuneError {
					r, w = dr, 12
				} else {
					r = utf8.RuneError
				}
			}
			k := utf8.EncodeRune(ub[:], r)
			for _, b := range ub[:k] {
				emit(b, i, i+w)
			}
			i += w
			continue
		default:
			emit(e, i, i+2)
		}
		i += 2
	}
	return d
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
