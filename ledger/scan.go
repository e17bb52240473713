package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small validating JSON scanner that extracts EntryFacts from a body
// without building a document: verification parses every entry, and
// encoding/json's reflection costs several times the SHA-256 of the body.
//
// It accepts exactly RFC 8259 JSON (one value, optional surrounding white
// space). Member names match exactly (no case folding). A repeated member
// name is an error in every object it extracts from.

type scanner struct {
	b   []byte
	i   int
	err error
}

var errSyntax = errors.New("invalid JSON")

func (s *scanner) fail(format string, args ...any) bool {
	if s.err == nil {
		s.err = fmt.Errorf("%w: "+format, append([]any{errSyntax}, args...)...)
	}
	return false
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str scans a string token at s.i (after white space) and returns its raw
// content and whether it contains escapes.
func (s *scanner) str() (raw []byte, esc bool, ok bool) {
	if s.peek() != '"' {
		return nil, false, s.fail("string expected at offset %d", s.i)
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		// Fast path: printable ASCII other than '"' and '\'.
		for s.i < len(s.b) && plain[s.b[s.i]] {
			s.i++
		}
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, esc, true
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				return nil, false, s.fail("unterminated escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, s.fail("short \\u escape")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHexDigit(h) {
						return nil, false, s.fail("bad \\u escape")
					}
				}
				s.i += 6
			default:
				return nil, false, s.fail("bad escape at offset %d", s.i)
			}
		case c < 0x20:
			return nil, false, s.fail("control character in string at offset %d", s.i)
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, s.fail("invalid UTF-8 at offset %d", s.i)
			}
			s.i += n
		}
	}
	return nil, false, s.fail("unterminated string")
}

// plain marks the bytes a string holds literally without further checks.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unescape decodes a validated string's raw content.
func unescape(raw []byte, esc bool) string {
	if !esc {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				j = len(raw) - i
			}
			out = append(out, raw[i:i+j]...)
			i += j
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hex4(raw[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, rune(hex4(raw[i+2:i+6]))); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b {
		v <<= 4
		switch {
		case c <= '9':
			v |= uint16(c - '0')
		case c <= 'F':
			v |= uint16(c - 'A' + 10)
		default:
			v |= uint16(c - 'a' + 10)
		}
	}
	return v
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.fail("invalid literal at offset %d", s.i)
	}
	s.i += len(word)
	return true
}

// number scans a number token and returns it.
func (s *scanner) number() ([]byte, bool) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
	default:
		return nil, s.fail("invalid number at offset %d", start)
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		d := s.i
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return nil, s.fail("invalid number at offset %d", start)
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		d := s.i
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return nil, s.fail("invalid number at offset %d", start)
		}
	}
	return s.b[start:s.i], true
}

const maxDepth = 512

// validJSON reports whether b is exactly one JSON value (RFC 8259) with
// optional surrounding white space.
func validJSON(b []byte) bool {
	s := &scanner{b: b}
	if !s.skip(0) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// skip scans and validates any value.
func (s *scanner) skip(depth int) bool {
	if depth > maxDepth {
		return s.fail("nesting too deep")
	}
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		_, ok := s.number()
		return ok
	default:
		return s.fail("value expected at offset %d", s.i)
	}
}

// object scans an object, calling member for each member with its name
// (valid only during the call); member must consume the value.
func (s *scanner) object(member func(name []byte) bool) bool {
	if s.peek() != '{' {
		return s.fail("object expected at offset %d", s.i)
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		raw, esc, ok := s.str()
		if !ok {
			return false
		}
		if s.peek() != ':' {
			return s.fail("':' expected at offset %d", s.i)
		}
		s.i++
		if esc {
			raw = []byte(unescape(raw, true))
		}
		if !member(raw) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return s.fail("',' or '}' expected at offset %d", s.i)
		}
	}
}

func (s *scanner) array(elem func() bool) bool {
	if s.peek() != '[' {
		return s.fail("array expected at offset %d", s.i)
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return s.fail("',' or ']' expected at offset %d", s.i)
		}
	}
}

// uintOrNull scans a non-negative integer or null into *dst (0 for null).
func (s *scanner) uintOrNull(dst *uint64) bool {
	if s.peek() == 'n' {
		*dst = 0
		return s.lit("null")
	}
	v, ok := s.uint()
	*dst = v
	return ok
}

// strOrNull scans a string or null into *dst ("" for null).
func (s *scanner) strOrNull(dst *string) bool {
	if s.peek() == 'n' {
		*dst = ""
		return s.lit("null")
	}
	if s.peek() != '"' {
		return s.fail("string or null expected at offset %d", s.i)
	}
	raw, esc, ok := s.str()
	if ok {
		*dst = unescape(raw, esc)
	}
	return ok
}

// vocab is strOrNull for members whose values come from a small
// vocabulary (types, decisions, states): common values are not allocated.
func (s *scanner) vocab(dst *string) bool {
	if s.peek() != '"' {
		return s.strOrNull(dst)
	}
	raw, esc, ok := s.str()
	if ok {
		if esc {
			*dst = unescape(raw, true)
		} else {
			*dst = intern(raw)
		}
	}
	return ok
}

// intern returns the vocabulary words that most entries repeat without
// allocating.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "job_submitted":
		return "job_submitted"
	case "policy_decided":
		return "policy_decided"
	case "approval_requested":
		return "approval_requested"
	case "approval_resolved":
		return "approval_resolved"
	case "job_dispatched":
		return "job_dispatched"
	case "job_completed":
		return "job_completed"
	case "output_checked":
		return "output_checked"
	case "lease_expired":
		return "lease_expired"
	case "ALLOW":
		return "ALLOW"
	case "DENY":
		return "DENY"
	case "REQUIRE_APPROVAL":
		return "REQUIRE_APPROVAL"
	case "ALLOW_WITH_CONSTRAINTS":
		return "ALLOW_WITH_CONSTRAINTS"
	case "REDACT":
		return "REDACT"
	case "QUARANTINE":
		return "QUARANTINE"
	case "QUEUED":
		return "QUEUED"
	case "RUNNING":
		return "RUNNING"
	case "SUCCEEDED":
		return "SUCCEEDED"
	case "FAILED":
		return "FAILED"
	case "DENIED":
		return "DENIED"
	case "PENDING_APPROVAL":
		return "PENDING_APPROVAL"
	case "submit":
		return "submit"
	case "dispatch":
		return "dispatch"
	}
	return string(b)
}

// uint scans a non-negative integer.
func (s *scanner) uint() (uint64, bool) {
	if c := s.peek(); c < '0' || c > '9' {
		return 0, s.fail("non-negative integer expected at offset %d", s.i)
	}
	num, ok := s.number()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return 0, s.fail("%s is not an unsigned 64-bit integer", num)
	}
	return n, true
}

// once marks member bit as seen, failing if it was already.
func (s *scanner) once(seen *uint32, bit uint32, name []byte) bool {
	if *seen&bit != 0 {
		return s.fail("member %q repeated", name)
	}
	*seen |= bit
	return true
}

// parseEntryInto parses body into f (see ParseEntry). The scanner only
// reads body and every string it returns is a copy, so body may alias
// immutable memory.
func parseEntryInto(body []byte, f *EntryFacts) error {
	s := &scanner{b: body}
	var seen uint32
	ok := s.object(func(name []byte) bool {
		switch string(name) {
		case "tenant":
			if !s.once(&seen, 1, name) {
				return false
			}
			if s.peek() != '"' {
				return s.fail("tenant must be a string")
			}
			return s.strOrNull(&f.Tenant)
		case "index":
			if !s.once(&seen, 2, name) {
				return false
			}
			n, ok := s.uint()
			f.Index = n
			return ok
		case "prev_hash":
			if !s.once(&seen, 4, name) {
				return false
			}
			if s.peek() != '"' {
				return s.fail("prev_hash must be a string")
			}
			return s.strOrNull(&f.PrevHash)
		case "event":
			if !s.once(&seen, 8, name) {
				return false
			}
			return s.event(&f.Event)
		}
		return s.skip(1)
	})
	if ok {
		s.ws()
		if s.i != len(s.b) {
			ok = s.fail("data after the top-level value at offset %d", s.i)
		}
	}
	if !ok {
		return fmt.Errorf("%w: %v", ErrBody, s.err)
	}
	switch {
	case seen&1 == 0:
		return fmt.Errorf("%w: no tenant", ErrBody)
	case seen&2 == 0:
		return fmt.Errorf("%w: no index", ErrBody)
	case seen&4 == 0:
		return fmt.Errorf("%w: no prev_hash", ErrBody)
	case seen&8 == 0:
		return fmt.Errorf("%w: no event", ErrBody)
	case f.Event.Type == "":
		return fmt.Errorf("%w: event has no type", ErrBody)
	}
	return nil
}

func (s *scanner) event(e *EventFacts) bool {
	var seen uint32
	var job *SubmittedJob
	var dec *DecisionFacts
	var apr *ApprovalFacts
	var aud *AuditFacts
	var jobErr, decErr, aprErr, audErr error
	str := func(bit uint32, name []byte, dst *string) bool {
		return s.once(&seen, bit, name) && s.strOrNull(dst)
	}
	ok := s.object(func(name []byte) bool {
		switch string(name) {
		case "type":
			return s.once(&seen, 1<<0, name) && s.vocab(&e.Type)
		case "job_id":
			return str(1<<1, name, &e.JobID)
		case "run_id":
			return str(1<<2, name, &e.RunID)
		case "decision":
			return s.once(&seen, 1<<3, name) && s.vocab(&e.Decision)
		case "policy_rule_id":
			return str(1<<4, name, &e.PolicyRuleID)
		case "policy_snapshot":
			return str(1<<5, name, &e.PolicySnapshot)
		case "job_hash":
			return str(1<<6, name, &e.JobHash)
		case "resolution":
			return s.once(&seen, 1<<7, name) && s.vocab(&e.Resolution)
		case "resolved_by":
			return str(1<<8, name, &e.ResolvedBy)
		case "state":
			return s.once(&seen, 1<<9, name) && s.vocab(&e.State)
		case "output_safety":
			if !s.once(&seen, 1<<10, name) {
				return false
			}
			if s.peek() != '{' {
				return s.skip(1)
			}
			var dseen uint32
			return s.object(func(name []byte) bool {
				if string(name) == "decision" {
					return s.once(&dseen, 1, name) && s.vocab(&e.OutputSafety)
				}
				return s.skip(2)
			})
		case "data":
			if !s.once(&seen, 1<<11, name) {
				return false
			}
			if s.peek() != '{' {
				return s.skip(1)
			}
			var dseen uint32
			return s.object(func(name []byte) bool {
				switch string(name) {
				case "job":
					if !s.once(&dseen, 1, name) {
						return false
					}
					if s.peek() != '{' {
						return s.skip(2)
					}
					job = &SubmittedJob{}
					var ok bool
					jobErr, ok = s.try(func() bool { return s.submittedJob(job) })
					return ok
				case "decision":
					if !s.once(&dseen, 2, name) {
						return false
					}
					if s.peek() != '{' {
						return s.skip(2)
					}
					dec = &DecisionFacts{}
					var ok bool
					decErr, ok = s.try(func() bool { return s.decisionFacts(dec) })
					return ok
				case "approval":
					if !s.once(&dseen, 4, name) {
						return false
					}
					if s.peek() != '{' {
						return s.skip(2)
					}
					apr = &ApprovalFacts{}
					var ok bool
					aprErr, ok = s.try(func() bool { return s.approvalFacts(apr) })
					return ok
				case "audit":
					if !s.once(&dseen, 8, name) {
						return false
					}
					if s.peek() != '{' {
						return s.skip(2)
					}
					aud = &AuditFacts{}
					var ok bool
					audErr, ok = s.try(func() bool { return s.auditFacts(aud) })
					return ok
				case "result_ptr":
					return s.once(&dseen, 16, name) && s.strOrNull(&e.ResultPtr)
				case "result_sha256":
					return s.once(&dseen, 32, name) && s.strOrNull(&e.ResultSHA256)
				}
				return s.skip(2)
			})
		}
		return s.skip(1)
	})
	if !ok {
		return false
	}
	// data.job, data.decision … mean something only for their event types;
	// a malformed one is an error only there.
	var err error
	switch e.Type {
	case "job_submitted":
		e.Job, err = job, jobErr
	case "policy_decided":
		e.DecisionRecord, err = dec, decErr
	case "approval_requested":
		e.Approval, err = apr, aprErr
	case "policy_published", "policy_rolled_back":
		e.Audit, err = aud, audErr
	}
	if err != nil {
		s.err = err
		return false
	}
	return true
}

// try runs parse on the value at s.i. If parse fails on a well-formed
// value, try skips the value and returns parse's error with ok true; it
// returns ok false only if the value is not valid JSON.
func (s *scanner) try(parse func() bool) (err error, ok bool) {
	start := s.i
	if parse() {
		return nil, true
	}
	perr := s.err
	s.err, s.i = nil, start
	if !s.skip(2) {
		return nil, false
	}
	return perr, true
}

func (s *scanner) decisionFacts(d *DecisionFacts) bool {
	var seen uint32
	return s.object(func(name []byte) bool {
		var dst *string
		var bit uint32
		switch string(name) {
		case "decision_id":
			dst, bit = &d.DecisionID, 1
		case "job_id":
			dst, bit = &d.JobID, 2
		case "phase":
			dst, bit = &d.Phase, 4
		case "decision":
			dst, bit = &d.Decision, 8
		case "policy_rule_id":
			dst, bit = &d.PolicyRuleID, 16
		case "policy_snapshot":
			dst, bit = &d.PolicySnapshot, 32
		case "job_hash":
			dst, bit = &d.JobHash, 64
		default:
			return s.skip(3)
		}
		return s.once(&seen, bit, name) && s.strOrNull(dst)
	})
}

func (s *scanner) approvalFacts(a *ApprovalFacts) bool {
	var seen uint32
	return s.object(func(name []byte) bool {
		var dst *string
		var bit uint32
		switch string(name) {
		case "approval_id":
			dst, bit = &a.ApprovalID, 1
		case "job_id":
			dst, bit = &a.JobID, 2
		case "policy_snapshot":
			dst, bit = &a.PolicySnapshot, 4
		case "job_hash":
			dst, bit = &a.JobHash, 8
		default:
			return s.skip(3)
		}
		return s.once(&seen, bit, name) && s.strOrNull(dst)
	})
}

func (s *scanner) auditFacts(a *AuditFacts) bool {
	var seen uint32
	return s.object(func(name []byte) bool {
		var dst *string
		var bit uint32
		switch string(name) {
		case "audit_id":
			dst, bit = &a.AuditID, 1
		case "action":
			dst, bit = &a.Action, 2
		case "snapshot_before":
			dst, bit = &a.SnapshotBefore, 4
		case "snapshot_after":
			dst, bit = &a.SnapshotAfter, 8
		default:
			return s.skip(3)
		}
		return s.once(&seen, bit, name) && s.strOrNull(dst)
	})
}

func (s *scanner) submittedJob(j *SubmittedJob) bool {
	var seen uint32
	return s.object(func(name []byte) bool {
		var dst *string
		var bit uint32
		switch string(name) {
		case "tenant":
			dst, bit = &j.Tenant, 1
		case "job_id":
			dst, bit = &j.JobID, 2
		case "run_id":
			dst, bit = &j.RunID, 4
		case "workflow_step_id":
			dst, bit = &j.WorkflowStepID, 8
		case "action":
			dst, bit = &j.Action, 16
		case "resource":
			dst, bit = &j.Resource, 32
		case "submitted_by":
			dst, bit = &j.SubmittedBy, 64
		case "trace_id":
			dst, bit = &j.TraceID, 128
		case "context_ptr":
			dst, bit = &j.ContextPtr, 256
		case "context_sha256":
			dst, bit = &j.ContextSHA256, 512
		case "labels":
			if !s.once(&seen, 1024, name) {
				return false
			}
			if s.peek() == 'n' {
				return s.lit("null")
			}
			j.Labels = map[string]string{}
			return s.object(func(k []byte) bool {
				key := string(k)
				if _, dup := j.Labels[key]; dup {
					return s.fail("label %q repeated", key)
				}
				if s.peek() != '"' {
					return s.fail("label %q: string expected", key)
				}
				var v string
				if !s.strOrNull(&v) {
					return false
				}
				j.Labels[key] = v
				return true
			})
		case "risk_tags":
			if !s.once(&seen, 2048, name) {
				return false
			}
			if s.peek() == 'n' {
				return s.lit("null")
			}
			j.RiskTags = []string{}
			return s.array(func() bool {
				if s.peek() != '"' {
					return s.fail("risk_tags: string expected")
				}
				var v string
				if !s.strOrNull(&v) {
					return false
				}
				j.RiskTags = append(j.RiskTags, v)
				return true
			})
		default:
			return s.skip(3)
		}
		return s.once(&seen, bit, name) && s.strOrNull(dst)
	})
}
