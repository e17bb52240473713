// Package scan is Cairn's output-safety checker: it runs a policy bundle's
// output_rules over a job's result (any JSON value) and returns the verdict
// (ALLOW, REDACT or QUARANTINE), the findings that explain it and, for
// REDACT, a redacted copy of the result that is still valid JSON.
//
// Four scanners exist: "secrets" (cloud, VCS, chat and payment credentials,
// private keys, JWTs, high-entropy assignments), "pii" (e-mail addresses,
// Luhn-valid card numbers, US SSNs, US phone numbers), "prompt_injection"
// (instruction-override phrases, chat-template tokens, encoded or hidden
// text) and "regex" (a rule's own patterns). README.md lists every finding
// type.
//
// Findings never carry the text they matched: only the scanner, the type,
// the rule, the byte offset and length in the result as stored, and a
// truncated HMAC-SHA256 of the matched bytes keyed by a per-deployment salt,
// so equal secrets can be correlated without being revealed.
//
// The result is scanned as text, the way it is stored, with JSON string
// escapes (\n, \", \uXXXX …) replaced by blanks of the same length so offsets
// stay exact and an escaped PEM block or a "key\":\"value" pair inside a
// string still reads naturally. String values that contain \uXXXX or \/
// escapes are scanned a second time decoded, so an escape cannot hide a
// secret; those hits are mapped back to byte ranges of the stored result.
// Every scanner is linear in the input: literal prefilters (strings.Index)
// find candidates and small hand-written validators confirm them.
package scan

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/cairnhq/cairn"
)

// Scanner names, as written in a bundle's output_rules.
const (
	ScannerSecrets         = "secrets"
	ScannerPII             = "pii"
	ScannerPromptInjection = "prompt_injection"
	ScannerRegex           = "regex"
)

// Scanners lists every scanner name Check understands.
var Scanners = []string{ScannerSecrets, ScannerPII, ScannerPromptInjection, ScannerRegex}

// MaxFindings caps OutputSafety.Findings. When a result has more findings,
// the first MaxFindings-1 (in offset order) are listed and the last entry is
// a marker {Scanner: "scan", Type: "truncated"} whose Offset is the first
// omitted finding's offset and whose Length reaches the end of the last
// omitted one. The verdict and the redaction always account for every hit,
// listed or not.
const MaxFindings = 1000

// Marker finding for a truncated list (see MaxFindings).
const (
	ScannerMeta   = "scan"
	TypeTruncated = "truncated"
)

// HashHexLen is the number of hex characters of HMAC-SHA256 kept in Finding.Hash.
const HashHexLen = 16

// ErrInvalidJSON is returned (wrapped) when the result is not valid JSON.
var ErrInvalidJSON = errors.New("scan: result is not valid JSON")

// ErrInvalidRule is returned (wrapped) when an output rule cannot be run:
// unknown scanner or decision, a pattern that does not compile, a rule with
// nothing to run.
var ErrInvalidRule = errors.New("scan: invalid output rule")

const (
	idSecrets = iota
	idPII
	idInjection
	nBuiltin
)

var builtinNames = [nBuiltin]string{ScannerSecrets, ScannerPII, ScannerPromptInjection}

var builtinFuncs = [nBuiltin]func(v *view, out []hit) []hit{scanSecrets, scanPII, scanInjection}

// hit is one match in a scan text: [start, end) byte offsets and a type.
type hit struct {
	start, end int
	typ        string
}

// plan is a validated output rule.
type plan struct {
	idx      int
	id       string
	decision string
	rank     int // 0 ALLOW, 1 REDACT, 2 QUARANTINE
	builtin  [nBuiltin]bool
	patterns []*regexp.Regexp
	actions  []string
}

func decisionRank(d string) (string, int, bool) {
	switch strings.ToUpper(strings.TrimSpace(d)) {
	case cairn.OutputAllow:
		return cairn.OutputAllow, 0, true
	case cairn.OutputRedact:
		return cairn.OutputRedact, 1, true
	case cairn.OutputQuarantine:
		return cairn.OutputQuarantine, 2, true
	}
	return "", 0, false
}

// normalizeScanner maps a scanner name as written ("PII", "prompt-injection")
// to its canonical form; case, '-' and ' ' versus '_' do not matter.
func normalizeScanner(s string) string {
	b := []byte(strings.ToLower(strings.TrimSpace(s)))
	for i, c := range b {
		if c == '-' || c == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Validate reports whether every rule can be run by Check: known scanners,
// a known decision, patterns that compile, and something to run. The policy
// package can call it at publish time so a bad bundle is a 422, not a failed
// completion. Check performs the same validation.
func Validate(rules []cairn.OutputRule) error {
	_, err := compile(rules)
	return err
}

func compile(rules []cairn.OutputRule) ([]plan, error) {
	plans := make([]plan, 0, len(rules))
	for i, r := range rules {
		p, err := compileRule(i, r)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// compileRule validates rule i and turns it into a plan.
func compileRule(i int, r cairn.OutputRule) (plan, error) {
	name := r.ID
	if name == "" {
		name = fmt.Sprintf("#%d", i)
	}
	p := plan{idx: i, id: r.ID, actions: r.Actions}
	var ok bool
	if p.decision, p.rank, ok = decisionRank(r.Decision); !ok {
		return plan{}, fmt.Errorf("%w %s: unknown decision %q (want ALLOW, REDACT or QUARANTINE)", ErrInvalidRule, name, r.Decision)
	}
	wantRegex := false
	for _, s := range r.Scanners {
		canon := normalizeScanner(s)
		id, builtin := builtinIDs[canon]
		switch {
		case canon == ScannerRegex:
			wantRegex = true
		case builtin:
			p.builtin[id] = true
		default:
			return plan{}, fmt.Errorf("%w %s: unknown scanner %q (want one of %s)", ErrInvalidRule, name, s, strings.Join(Scanners, ", "))
		}
	}
	if wantRegex && len(r.Patterns) == 0 {
		return plan{}, fmt.Errorf("%w %s: scanner regex needs patterns", ErrInvalidRule, name)
	}
	for j, pat := range r.Patterns {
		re, err := compilePattern(pat)
		if err != nil {
			return plan{}, fmt.Errorf("%w %s: patterns[%d]: %v", ErrInvalidRule, name, j, err)
		}
		p.patterns = append(p.patterns, re)
	}
	if !p.builtin[idSecrets] && !p.builtin[idPII] && !p.builtin[idInjection] && len(p.patterns) == 0 {
		return plan{}, fmt.Errorf("%w %s: no scanners", ErrInvalidRule, name)
	}
	return p, nil
}

// builtinIDs maps a canonical built-in scanner name to its index.
var builtinIDs = map[string]int{
	ScannerSecrets:         idSecrets,
	ScannerPII:             idPII,
	ScannerPromptInjection: idInjection,
}

// Applies reports whether a rule with these action globs applies to action:
// an empty list applies to every action; '*' matches any run of characters.
func Applies(globs []string, action string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if globMatch(g, action) {
			return true
		}
	}
	return false
}

// failClosed is the safety returned with an error: callers that ignore the
// error still withhold the result.
func failClosed() cairn.OutputSafety {
	return cairn.OutputSafety{Decision: cairn.OutputQuarantine, Findings: []cairn.Finding{}}
}

// taggedHit is a hit in result coordinates attributed to a scanner.
type taggedHit struct {
	hit
	scanner string
}

// Check runs the output rules that apply to action over result (valid JSON).
//
// Rules are evaluated in order; the verdict is the strictest decision among
// rules that had findings (QUARANTINE > REDACT > ALLOW); RuleID is the rule
// that set the verdict (the first rule with that decision). With no findings:
// Decision ALLOW, RuleID "" (unless a matching rule has decision ALLOW and
// found something, in which case RuleID names it).
//
// If the verdict is REDACT, redacted is result with every finding of the
// REDACT rules replaced by "[REDACTED:<type>]" inside JSON string values
// (a JSON number that holds a finding, e.g. a card number, becomes the string
// "[REDACTED:card_number]") and is valid JSON; otherwise redacted is nil.
// Bytes outside the replaced values are copied unchanged.
//
// salt keys the HMAC-SHA256 in Finding.Hash (first 16 hex chars, over the
// matched bytes of result), so findings never carry the secret.
//
// Findings are sorted by offset (then longer first), one per span, scanner
// and type (when several rules found the same span the strictest rule, then
// the first, is named), and capped at MaxFindings. Findings is never nil.
//
// On error (invalid JSON: ErrInvalidJSON; invalid rule: ErrInvalidRule)
// safety is {Decision: QUARANTINE} with no findings and redacted is nil, so a
// caller that ignores the error still fails closed. Check never panics.
func Check(action string, result []byte, rules []cairn.OutputRule, salt []byte) (safety cairn.OutputSafety, redacted []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			safety, redacted, err = failClosed(), nil, fmt.Errorf("scan: internal error: %v", r)
		}
	}()
	plans, err := compile(rules)
	if err != nil {
		return failClosed(), nil, err
	}
	d, ok := lex(result, false)
	if !ok {
		return failClosed(), nil, ErrInvalidJSON
	}
	safety = cairn.OutputSafety{Decision: cairn.OutputAllow, Findings: []cairn.Finding{}}

	w := activeWork(plans, action)
	if len(w.active) == 0 {
		return safety, nil, nil
	}
	hits := w.scan(result, d)
	rh, best := attribute(w.active, &hits)
	if best == nil {
		return safety, nil, nil
	}
	safety.Decision = best.decision
	safety.RuleID = cairn.Opt(best.id)
	safety.Findings = findings(result, rh, salt)

	if safety.Decision != cairn.OutputRedact {
		return safety, nil, nil
	}
	redacted, err = redact(result, redactSpans(rh))
	if err != nil {
		return failClosed(), nil, err
	}
	return safety, redacted, nil
}

// work is what Check runs for one action: the rules that apply, the
// built-in scanners they need and their distinct patterns.
type work struct {
	active []*plan
	need   [nBuiltin]bool
	pats   []*regexp.Regexp
}

// activeWork selects the plans that apply to action.
func activeWork(plans []plan, action string) work {
	var w work
	seenPat := map[*regexp.Regexp]bool{}
	for i := range plans {
		p := &plans[i]
		if !Applies(p.actions, action) {
			continue
		}
		w.active = append(w.active, p)
		for s := range w.need {
			w.need[s] = w.need[s] || p.builtin[s]
		}
		for _, re := range p.patterns {
			if !seenPat[re] {
				seenPat[re] = true
				w.pats = append(w.pats, re)
			}
		}
	}
	return w
}

// hitSet is every hit in result coordinates, per built-in scanner and per
// pattern.
type hitSet struct {
	byBuiltin [nBuiltin][]hit
	byPattern map[*regexp.Regexp][]hit
}

// scan runs the needed scanners over the stored text with its escapes
// blanked (pass A) and over every string literal whose escapes could hide
// content, decoded (pass B).
func (w *work) scan(result []byte, d *doc) hitSet {
	hs := hitSet{byPattern: make(map[*regexp.Regexp][]hit, len(w.pats))}
	va := &view{text: d.masked}
	for s := range w.need {
		if w.need[s] {
			hs.byBuiltin[s] = builtinFuncs[s](va, nil)
		}
	}
	for _, re := range w.pats {
		hs.byPattern[re] = regexHits(re, d.masked, nil)
	}
	for ti := range d.toks {
		if t := &d.toks[ti]; t.uesc {
			w.scanDecoded(result, t, &hs)
		}
	}
	for s := range hs.byBuiltin {
		hs.byBuiltin[s] = dedupe(hs.byBuiltin[s])
	}
	return hs
}

// scanDecoded runs the needed scanners over the decoded value of the string
// token t and adds their hits, mapped back to raw offsets, to hs.
func (w *work) scanDecoded(result []byte, t *token, hs *hitSet) {
	dec := decodeLit(result, t, false)
	if len(dec.s) == 0 {
		return
	}
	vb := &view{text: string(dec.s)}
	if t.ke > 0 {
		vb.key = lowerASCII(string(decodeLit(result, &token{start: t.ks, end: t.ke}, false).s))
	}
	var found [nBuiltin][]hit
	var foundRe [][]hit
	hitAny := false
	for s := range w.need {
		if w.need[s] {
			found[s] = builtinFuncs[s](vb, nil)
			hitAny = hitAny || len(found[s]) > 0
		}
	}
	for _, re := range w.pats {
		h := regexHits(re, vb.text, nil)
		foundRe = append(foundRe, h)
		hitAny = hitAny || len(h) > 0
	}
	if !hitAny {
		return
	}
	dec = decodeLit(result, t, true)
	for s := range found {
		for _, h := range found[s] {
			hs.byBuiltin[s] = append(hs.byBuiltin[s], dec.toRaw(h))
		}
	}
	for k, re := range w.pats {
		for _, h := range foundRe[k] {
			hs.byPattern[re] = append(hs.byPattern[re], dec.toRaw(h))
		}
	}
}

// ruleHits is what one rule found.
type ruleHits struct {
	p    *plan
	hits []taggedHit
}

// attribute gives each active rule the hits of its scanners and returns the
// rules that found something and the strictest of them (the first on ties).
func attribute(active []*plan, hs *hitSet) (rh []ruleHits, best *plan) {
	for _, p := range active {
		found := p.hits(hs)
		if len(found) == 0 {
			continue
		}
		rh = append(rh, ruleHits{p, found})
		if best == nil || p.rank > best.rank {
			best = p
		}
	}
	return rh, best
}

// hits are the hits of p's built-in scanners and of its patterns (deduped).
func (p *plan) hits(hs *hitSet) []taggedHit {
	var found []taggedHit
	for s := range p.builtin {
		if p.builtin[s] {
			for _, h := range hs.byBuiltin[s] {
				found = append(found, taggedHit{h, builtinNames[s]})
			}
		}
	}
	if len(p.patterns) > 0 {
		var rx []hit
		for _, re := range p.patterns {
			rx = append(rx, hs.byPattern[re]...)
		}
		for _, h := range dedupe(rx) {
			found = append(found, taggedHit{h, ScannerRegex})
		}
	}
	return found
}

// cand is a hit of a rule, a candidate finding.
type cand struct {
	taggedHit
	p *plan
}

// candLess orders candidates by offset (longer first), scanner and type,
// then the strictest and first rule.
func candLess(a, b *cand) bool {
	switch {
	case a.start != b.start:
		return a.start < b.start
	case a.end != b.end:
		return a.end > b.end
	case a.scanner != b.scanner:
		return a.scanner < b.scanner
	case a.typ != b.typ:
		return a.typ < b.typ
	case a.p.rank != b.p.rank:
		return a.p.rank > b.p.rank
	}
	return a.p.idx < b.p.idx
}

// uniqueCands sorts the rules' hits and keeps one per (span, scanner, type),
// naming the strictest rule.
func uniqueCands(rh []ruleHits) []cand {
	var cands []cand
	for _, r := range rh {
		for _, h := range r.hits {
			cands = append(cands, cand{h, r.p})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return candLess(&cands[i], &cands[j]) })
	uniq := cands[:0]
	for i, c := range cands {
		if i > 0 {
			prev := &uniq[len(uniq)-1]
			if prev.start == c.start && prev.end == c.end && prev.scanner == c.scanner && prev.typ == c.typ {
				continue
			}
		}
		uniq = append(uniq, c)
	}
	return uniq
}

// findings lists the unique candidates with their salted hashes, capped at
// MaxFindings (the last one then covers the rest as TypeTruncated).
func findings(result []byte, rh []ruleHits, salt []byte) []cairn.Finding {
	uniq := uniqueCands(rh)
	listed := uniq
	truncated := false
	if len(uniq) > MaxFindings {
		listed = uniq[:MaxFindings-1]
		truncated = true
	}
	mac := hmac.New(sha256.New, salt)
	out := make([]cairn.Finding, 0, len(listed)+1)
	var sum [sha256.Size]byte
	for _, c := range listed {
		mac.Reset()
		mac.Write(result[c.start:c.end])
		h := hex.EncodeToString(mac.Sum(sum[:0]))[:HashHexLen]
		out = append(out, cairn.Finding{
			Scanner: c.scanner, Type: c.typ, RuleID: c.p.id,
			Offset: c.start, Length: c.end - c.start, Hash: h,
		})
	}
	if truncated {
		rest := uniq[MaxFindings-1:]
		end := 0
		for _, c := range rest {
			end = max(end, c.end)
		}
		out = append(out, cairn.Finding{
			Scanner: ScannerMeta, Type: TypeTruncated,
			Offset: rest[0].start, Length: end - rest[0].start,
		})
	}
	return out
}

// redactSpans are the hits of the rules whose decision is REDACT or
// stricter.
func redactSpans(rh []ruleHits) []hit {
	var spans []hit
	for _, r := range rh {
		if r.p.rank >= 1 {
			for _, h := range r.hits {
				spans = append(spans, h.hit)
			}
		}
	}
	return spans
}

// dedupe sorts hits by start (longer first, emission order for ties) and
// drops every hit contained in an earlier kept one: identical spans keep
// the first emitted (scanners emit specific types before generic ones).
// The union of the spans is unchanged.
func dedupe(h []hit) []hit {
	if len(h) < 2 {
		return h
	}
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].start != h[j].start {
			return h[i].start < h[j].start
		}
		return h[i].end > h[j].end
	})
	out := h[:0]
	maxEnd := -1
	for _, x := range h {
		if x.end <= maxEnd {
			continue
		}
		out = append(out, x)
		maxEnd = x.end
	}
	return out
}

// redact rewrites result, replacing every span inside a string token (key
// or value) by "[REDACTED:<type>]" and every number token a span touches by
// that string. Everything else is copied verbatim.
func redact(raw []byte, spans []hit) ([]byte, error) {
	d, ok := lex(raw, true)
	if !ok {
		return nil, ErrInvalidJSON
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	per := map[int][]hit{}
	var order []int
	for _, s := range spans {
		k := sort.Search(len(d.toks), func(i int) bool { return d.toks[i].end > s.start })
		for ; k < len(d.toks) && d.toks[k].start < s.end; k++ {
			if _, ok := per[k]; !ok {
				order = append(order, k)
			}
			per[k] = append(per[k], s)
		}
	}
	sort.Ints(order)
	var out bytes.Buffer
	out.Grow(len(raw))
	var sb bytes.Buffer
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	writeString := func(s string) error {
		sb.Reset()
		if err := enc.Encode(s); err != nil {
			return err
		}
		out.Write(bytes.TrimSuffix(sb.Bytes(), []byte("\n")))
		return nil
	}
	last := 0
	for _, k := range order {
		t := &d.toks[k]
		if t.start < last {
			continue // cannot happen: tokens do not overlap
		}
		out.Write(raw[last:t.start])
		last = t.end
		hs := per[k]
		if t.kind == tokNumber {
			if err := writeString(placeholder(hs[0].typ)); err != nil {
				return nil, err
			}
			continue
		}
		s, changed := redactString(raw, t, hs)
		if !changed {
			out.Write(raw[t.start:t.end])
			continue
		}
		if err := writeString(s); err != nil {
			return nil, err
		}
	}
	out.Write(raw[last:])
	b := out.Bytes()
	if _, ok := lex(b, false); !ok { // same grammar as json.Valid, faster
		return nil, errors.New("scan: internal error: redaction produced invalid JSON")
	}
	return b, nil
}

// redactString returns the decoded value of the string token t with the
// parts the spans hs touch (widened to whole characters, overlapping ones
// merged) replaced by placeholders; changed is false when no span reaches
// into its value.
func redactString(raw []byte, t *token, hs []hit) (s string, changed bool) {
	dec := decodeLit(raw, t, true)
	type iv struct {
		s, e int
		typ  string
	}
	var ivs []iv
	for _, h := range hs {
		ds, de := dec.fromRaw(h.start, h.end)
		if ds < de {
			ivs = append(ivs, iv{ds, de, h.typ})
		}
	}
	if len(ivs) == 0 {
		return "", false
	}
	sort.SliceStable(ivs, func(i, j int) bool { return ivs[i].s < ivs[j].s })
	var nb strings.Builder
	pos := 0
	for i := 0; i < len(ivs); {
		cur := ivs[i]
		j := i + 1
		for j < len(ivs) && ivs[j].s < cur.e {
			cur.e = max(cur.e, ivs[j].e)
			j++
		}
		nb.Write(dec.s[pos:cur.s])
		nb.WriteString(placeholder(cur.typ))
		pos = cur.e
		i = j
	}
	nb.Write(dec.s[pos:])
	return nb.String(), true
}

func placeholder(typ string) string { return "[REDACTED:" + typ + "]" }
