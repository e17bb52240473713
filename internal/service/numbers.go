package service

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/cairnhq/cairn"
)

// Policy judges an input's numbers as float64 (CEL), and job_hash and the
// ledger hold them in RFC 8785 form, which is float64 too; the worker gets
// the input as submitted. A number float64 cannot hold exactly as written
// (10000.0000000000001, 2^53+1, 1e400) would be judged, hashed and shown to
// approvers as one value and run as another, so it is refused.

// exactNumbers returns a 400 naming the first number in the JSON text raw
// (already valid JSON) that does not round-trip through float64, with its
// path under field (input.amount, input.items[3]). Most inputs are cleared
// by a scan that allocates nothing: a number with at most 15 significant
// digits and a short exponent always round-trips.
func exactNumbers(field string, raw []byte) error {
	if !mayBeInexact(raw) {
		return nil
	}
	return findInexact(field, raw)
}

// mayBeInexact reports whether raw holds a number with more than 15
// significant digits or an exponent of three or more digits.
func mayBeInexact(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			i = skipJSONString(raw, i)
		case c == '-' || c >= '0' && c <= '9':
			var inexact bool
			if i, inexact = numberMayBeInexact(raw, i); inexact {
				return true
			}
		}
	}
	return false
}

// skipJSONString returns where the string opened at raw[i] closes
// (len(raw) when it does not).
func skipJSONString(raw []byte, i int) int {
	for i++; i < len(raw) && raw[i] != '"'; i++ {
		if raw[i] == '\\' {
			i++
		}
	}
	return i
}

// numberMayBeInexact scans the number starting at raw[i] and returns the
// position of its last byte and whether it has more than 15 significant
// digits or an exponent of three or more digits.
func numberMayBeInexact(raw []byte, i int) (int, bool) {
	sig, leading, expDigits, inExp := 0, true, 0, false
	for ; i < len(raw); i++ {
		d := raw[i]
		switch {
		case d >= '0' && d <= '9':
			if inExp {
				expDigits++
			} else if d != '0' || !leading {
				leading = false
				sig++
			}
		case d == 'e' || d == 'E':
			inExp = true
		case d == '.' || d == '-' || d == '+':
		default:
			return i - 1, sig > 15 || expDigits > 2
		}
	}
	return i, sig > 15 || expDigits > 2
}

// findInexact walks raw's tokens and checks every number exactly.
func findInexact(field string, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var cur jsonCursor
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return cairn.Invalid(field, "is not valid JSON")
		}
		if cur.takeKey(tok) {
			continue
		}
		if n, ok := tok.(json.Number); ok && !roundTrips(string(n)) {
			return cairn.Invalid(cur.path(field), "number %s cannot be represented exactly as a float64 (IEEE 754 double), so policy, job_hash and the worker would not see the same value; send it as a string or with at most 15 significant digits", truncate(string(n), 40))
		}
		cur.step(tok)
	}
}

// jsonCursor follows where a token stream is: the open containers, with
// the current key of each object and index of each array.
type jsonCursor struct {
	stack []jsonFrame
}

type jsonFrame struct {
	obj     bool
	key     string
	idx     int
	wantKey bool
}

// path is the path of the current value under field (input.amount,
// input.items[3]).
func (c *jsonCursor) path(field string) string {
	var sb strings.Builder
	sb.WriteString(field)
	for _, f := range c.stack {
		if f.obj {
			sb.WriteString(fieldKey(f.key))
		} else {
			sb.WriteString("[" + strconv.Itoa(f.idx) + "]")
		}
	}
	return sb.String()
}

// takeKey records tok when it is the key of the innermost object.
func (c *jsonCursor) takeKey(tok json.Token) bool {
	top := len(c.stack) - 1
	if top < 0 || !c.stack[top].obj || !c.stack[top].wantKey {
		return false
	}
	k, ok := tok.(string)
	if ok {
		c.stack[top].key, c.stack[top].wantKey = k, false
	}
	return ok
}

// step moves past tok (not a key): an opening delimiter enters a container;
// a closing one leaves it, and it or any other value completes a value of
// the enclosing container.
func (c *jsonCursor) step(tok json.Token) {
	d, isDelim := tok.(json.Delim)
	if isDelim && (d == '{' || d == '[') {
		c.stack = append(c.stack, jsonFrame{obj: d == '{', wantKey: d == '{'})
		return
	}
	if isDelim {
		c.stack = c.stack[:len(c.stack)-1]
	}
	if top := len(c.stack) - 1; top >= 0 {
		if c.stack[top].obj {
			c.stack[top].wantKey = true
		} else {
			c.stack[top].idx++
		}
	}
}

// fieldKey is ".key" for a plain key, otherwise ["key"] (quoted, cut at 64 bytes).
func fieldKey(k string) string {
	plain := k != "" && len(k) <= 64
	for i := 0; plain && i < len(k); i++ {
		c := k[i]
		plain = c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if plain {
		return "." + k
	}
	return "[" + strconv.Quote(truncate(k, 64)) + "]"
}

// roundTrips reports whether the JSON number s denotes exactly the value of
// the nearest float64 (its shortest decimal form): 0.1, 1e2, 10000.0 and -0
// do; 10000.0000000000001, 9007199254740993 and 1e400 do not.
func roundTrips(s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	d1, e1, ok1 := decimal(s)
	d2, e2, ok2 := decimal(strconv.FormatFloat(f, 'e', -1, 64))
	return ok1 && ok2 && d1 == d2 && (d1 == "" || e1 == e2) && (d1 == "" || (s[0] == '-') == (f < 0))
}

// decimal writes the number s as 0.digits x 10^exp, digits without leading
// or trailing zeros ("" for zero). ok is false for an exponent out of int range.
func decimal(s string) (digits string, exp int, ok bool) {
	s = strings.TrimPrefix(s, "-")
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	if hasExp {
		n, err := strconv.Atoi(e)
		if err != nil {
			return "", 0, false
		}
		exp = n
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	all := intPart + frac
	exp += len(intPart)
	trimmed := strings.TrimLeft(all, "0")
	exp -= len(all) - len(trimmed)
	digits = strings.TrimRight(trimmed, "0")
	return digits, exp, true
}
