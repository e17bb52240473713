package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// ComputeJobHash returns the same value as JobHash(j.HashInput(input)),
// without reflection: the fixed members of the projection are written in
// JCS form directly and only input goes through the JCS transformer.
// Verification recomputes one job_hash per job, so this matters.
func (j *SubmittedJob) ComputeJobHash(input []byte) (string, error) {
	var in []byte
	if len(input) > 0 {
		// JobHash passes input through json.Marshal (which validates it and
		// escapes <, >, &, U+2028 and U+2029, escapes that JCS undoes) and
		// then the JCS transformation; validating and transforming directly
		// gives the same bytes.
		var ok bool
		if in, ok = canonicalFast(input); !ok {
			// Anything unusual (and every error) takes the reference path.
			if !validJSON(input) {
				return "", fmt.Errorf("ledger: input is not valid JSON")
			}
			var err error
			if in, err = jcs.Transform(input); err != nil {
				return "", err
			}
		}
	}
	buf := make([]byte, 0, 512+len(in))
	buf = append(buf, `{"action":`...)
	buf = jcsNullable(buf, j.Action)
	buf = append(buf, `,"input":`...)
	if in == nil {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, in...)
	}
	buf = append(buf, `,"job_id":`...)
	buf = jcsNullable(buf, j.JobID)
	buf = append(buf, `,"labels":{`...)
	type label struct{ key, raw string }
	keys := make([]label, 0, len(j.Labels))
	for k := range j.Labels {
		keys = append(keys, label{validUTF8(k), k})
	}
	slices.SortFunc(keys, func(a, b label) int { return compareUTF16(a.key, b.key) })
	for i, k := range keys {
		if i > 0 {
			if keys[i-1].key == k.key {
				return "", fmt.Errorf("ledger: duplicate label %q after UTF-8 repair", k.key)
			}
			buf = append(buf, ',')
		}
		buf = jcsString(buf, k.key)
		buf = append(buf, ':')
		buf = jcsString(buf, j.Labels[k.raw])
	}
	buf = append(buf, `},"resource":`...)
	buf = jcsNullable(buf, j.Resource)
	buf = append(buf, `,"risk_tags":[`...)
	tags := append([]string(nil), j.RiskTags...)
	sort.Strings(tags) // as JobHash: byte order, then kept as an array
	for i, t := range tags {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jcsString(buf, t)
	}
	buf = append(buf, `],"run_id":`...)
	buf = jcsNullable(buf, j.RunID)
	buf = append(buf, `,"submitted_by":`...)
	buf = jcsNullable(buf, j.SubmittedBy)
	buf = append(buf, `,"tenant":`...)
	buf = jcsNullable(buf, j.Tenant)
	buf = append(buf, `,"workflow_step_id":`...)
	buf = jcsNullable(buf, j.WorkflowStepID)
	buf = append(buf, '}')
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}

func jcsNullable(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, "null"...)
	}
	return jcsString(buf, s)
}

// jcsString appends s as an RFC 8785 string: '"' and '\' escaped, the
// control characters as \b \t \n \f \r or \u00xx (lowercase hex), all else
// literal UTF-8 (invalid UTF-8 becomes U+FFFD, as encoding/json does).
func jcsString(buf []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				buf = append(buf, '\\', '"')
			case c == '\\':
				buf = append(buf, '\\', '\\')
			case c >= 0x20:
				buf = append(buf, c)
			case c == '\b':
				buf = append(buf, '\\', 'b')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\f':
				buf = append(buf, '\\', 'f')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			buf = utf8.AppendRune(buf, utf8.RuneError)
		} else {
			buf = append(buf, s[i:i+n]...)
		}
		i += n
	}
	return append(buf, '"')
}

// validUTF8 replaces each invalid byte by U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r) // RuneError for an invalid byte (n == 1)
		i += n
	}
	return string(b)
}

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785 member
// order).
func compareUTF16(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	ua, ub := utf16.Encode(ra), utf16.Encode(rb)
	return slices.Compare(ua, ub)
}

// canonicalFast writes the RFC 8785 form of one JSON value using the
// validating scanner, for the common case. It gives up (ok false) on
// anything it does not handle exactly as jcs.Transform does: escaped
// surrogates, duplicate member names, numbers strconv rejects, nesting
// deeper than 64; the caller then takes the reference path.
func canonicalFast(in []byte) (out []byte, ok bool) {
	s := &scanner{b: in}
	out = make([]byte, 0, len(in))
	if out, ok = s.canon(out, 0); !ok {
		return nil, false
	}
	s.ws()
	return out, s.i == len(s.b)
}

// surrogateEscape reports whether a string's raw content has a \uD800-
// \uDFFF escape (JCS rejects unpaired ones; such input takes the reference
// path).
func surrogateEscape(raw []byte) bool {
	for i := 0; i+3 < len(raw); i++ {
		if raw[i] == '\\' {
			if raw[i+1] == 'u' && (raw[i+2] == 'd' || raw[i+2] == 'D') && !('0' <= raw[i+3] && raw[i+3] <= '7') {
				return true
			}
			i++
		}
	}
	return false
}

func (s *scanner) canonString() (string, bool) {
	raw, esc, ok := s.str()
	if !ok || esc && surrogateEscape(raw) {
		return "", false
	}
	return unescape(raw, esc), true
}

func (s *scanner) canon(out []byte, depth int) ([]byte, bool) {
	if depth > 64 {
		return nil, false
	}
	switch c := s.peek(); {
	case c == '"':
		str, ok := s.canonString()
		if !ok {
			return nil, false
		}
		return jcsString(out, str), true
	case c == '{':
		type member struct {
			key  string
			u16  []uint16
			text []byte
		}
		var ms []member
		s.i++ // '{'
		if s.peek() == '}' {
			s.i++
		} else {
			for {
				if s.peek() != '"' {
					return nil, false
				}
				key, ok := s.canonString()
				if !ok || s.peek() != ':' {
					return nil, false
				}
				s.i++
				v, ok := s.canon(nil, depth+1)
				if !ok {
					return nil, false
				}
				ms = append(ms, member{key: key, u16: utf16.Encode([]rune(key)), text: v})
				c := s.peek()
				s.i++
				if c == '}' {
					break
				}
				if c != ',' {
					return nil, false
				}
			}
		}
		slices.SortFunc(ms, func(a, b member) int { return slices.Compare(a.u16, b.u16) })
		out = append(out, '{')
		for i, m := range ms {
			if i > 0 {
				if slices.Equal(ms[i-1].u16, m.u16) {
					return nil, false // duplicate: let jcs report it
				}
				out = append(out, ',')
			}
			out = jcsString(out, m.key)
			out = append(out, ':')
			out = append(out, m.text...)
		}
		return append(out, '}'), true
	case c == '[':
		out = append(out, '[')
		first := true
		ok := s.array(func() bool {
			if !first {
				out = append(out, ',')
			}
			first = false
			var ok bool
			out, ok = s.canon(out, depth+1)
			return ok
		})
		if !ok {
			return nil, false
		}
		return append(out, ']'), true
	case c == 't':
		return append(out, "true"...), s.lit("true")
	case c == 'f':
		return append(out, "false"...), s.lit("false")
	case c == 'n':
		return append(out, "null"...), s.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		num, ok := s.number()
		if !ok {
			return nil, false
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return nil, false
		}
		txt, err := jcs.NumberToJSON(f)
		if err != nil {
			return nil, false
		}
		return append(out, txt...), true
	}
	return nil, false
}
