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
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case c == '-' || c >= '0' && c <= '9':
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
					i--
					goto done
				}
			}
		done:
			if sig > 15 || expDigits > 2 {
				return true
			}
		}
	}
	return false
}

// findInexact walks raw's tokens and checks every number exactly.
func findInexact(field string, raw []byte) error {
	type frame struct {
		obj     bool
		key     string
		idx     int
		wantKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []frame
	path := func() string {
		var sb strings.Builder
		sb.WriteString(field)
		for _, f := range stack {
			if f.obj {
				sb.WriteString(fieldKey(f.key))
			} else {
				sb.WriteString("[" + strconv.Itoa(f.idx) + "]")
			}
		}
		return sb.String()
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return cairn.Invalid(field, "is not valid JSON")
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].obj && stack[top].wantKey {
			if k, ok := tok.(string); ok {
				stack[top].key, stack[top].wantKey = k, false
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			top--
		} else {
			if n, ok := tok.(json.Number); ok && !roundTrips(string(n)) {
				return cairn.Invalid(path(), "number %s cannot be represented exactly as a float64 (IEEE 754 double), so policy, job_hash and the worker would not see the same value; send it as a string or with at most 15 significant digits", truncate(string(n), 40))
			}
			if d, ok := tok.(json.Delim); ok {
				stack = append(stack, frame{obj: d == '{', wantKey: d == '{'})
				continue
			}
		}
		if top >= 0 { // a value of the enclosing container is complete
			if stack[top].obj {
				stack[top].wantKey = true
			} else {
				stack[top].idx++
			}
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
