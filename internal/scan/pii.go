package scan

import (
	"strings"
)

// Finding types of the pii scanner.
const (
	TypeEmail      = "email"
	TypeCardNumber = "card_number"
	TypeSSN        = "ssn"
	TypePhone      = "phone"
)

func scanPII(v *view, out []hit) []hit {
	out = scanEmails(v.text, out)
	out = scanNumbers(v.text, out)
	return out
}

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// Image names like icon@2x.png look like addresses; these TLDs are not.
var notTLD = map[string]bool{"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true, "avif": true, "ico": true}

func scanEmails(t string, out []hit) []hit {
	for i := 0; i < len(t); {
		p := strings.IndexByte(t[i:], '@')
		if p < 0 {
			break
		}
		p += i
		i = p + 1
		if s, e, ok := emailAround(t, p); ok {
			out = append(out, hit{s, e, TypeEmail})
			i = e
		}
	}
	return out
}

// emailAround returns the span of the address whose '@' is at p.
func emailAround(t string, p int) (s, e int, ok bool) {
	s, ok = emailLocalStart(t, p)
	if !ok {
		return 0, 0, false
	}
	e = emailDomainEnd(t, p)
	if !validDomain(t[p+1 : e]) {
		return 0, 0, false
	}
	return s, e, true
}

// emailLocalStart returns where the local part before the '@' at p starts:
// at most 64 bytes, not starting with '.' or '-', not ending with '.'.
func emailLocalStart(t string, p int) (int, bool) {
	s := p
	for s > 0 && p-s < 64 && isEmailLocal(t[s-1]) {
		s--
	}
	if s > 0 && isEmailLocal(t[s-1]) {
		return 0, false // local part longer than 64
	}
	for s < p && (t[s] == '.' || t[s] == '-') {
		s++
	}
	if s == p || t[p-1] == '.' {
		return 0, false
	}
	return s, true
}

// emailDomainEnd returns where the domain after the '@' at p ends (at most
// 254 bytes, trailing '.' and '-' dropped).
func emailDomainEnd(t string, p int) int {
	e := p + 1
	for e < len(t) && e-p <= 254 && (isAlnum(t[e]) || t[e] == '-' || t[e] == '.') {
		e++
	}
	for e > p+1 && (t[e-1] == '.' || t[e-1] == '-') {
		e--
	}
	return e
}

func validDomain(d string) bool {
	if len(d) < 4 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || len(tld) > 24 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isUpper(tld[i]) && !isLowerC(tld[i]) {
			return false
		}
	}
	return !notTLD[strings.ToLower(tld)]
}

// numBoundaryBefore: a number may start at i (not inside a word, a longer
// number, a decimal fraction or a dashed/dotted digit group).
func numBoundaryBefore(t string, i int) bool {
	if i == 0 {
		return true
	}
	c := t[i-1]
	if isWord(c) {
		return false
	}
	if (c == '-' || c == '.') && i >= 2 && isDigit(t[i-2]) {
		return false
	}
	return true
}

func numBoundaryAfter(t string, e int) bool {
	if e >= len(t) {
		return true
	}
	c := t[e]
	if isWord(c) {
		return false
	}
	if (c == '-' || c == '.') && e+1 < len(t) && isDigit(t[e+1]) {
		return false
	}
	return true
}

// numLead marks bytes a card, SSN or phone number can start with.
var numLead = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['('], t['+'] = true, true
	return
}()

// scanNumbers finds card numbers, SSNs and phone numbers in one pass.
func scanNumbers(t string, out []hit) []hit {
	n := len(t)
	for i := 0; i < n; {
		for i < n && !numLead[t[i]] {
			i++
		}
		if i >= n {
			break
		}
		digit := isDigit(t[i])
		run := leadingDigits(t, i) // only some lengths can start a match
		if numBoundaryBefore(t, i) {
			if e, typ := matchNumber(t, i, run); e > 0 {
				out = append(out, hit{i, e, typ})
				i = e
				continue
			}
		}
		i += max(run, 1)
		for digit && i < n && isDigit(t[i]) {
			i++
		}
	}
	return out
}

// leadingDigits counts the digits at i, up to 20.
func leadingDigits(t string, i int) int {
	run := 0
	for run < 20 && i+run < len(t) && isDigit(t[i+run]) {
		run++
	}
	return run
}

// matchNumber tries a card number, an SSN and a phone number at i, where a
// number may start and run digits lead; it returns the end and type of the
// first that matches, or -1.
func matchNumber(t string, i, run int) (int, string) {
	if run == 4 || (run >= 13 && run <= 19) {
		if e := matchCard(t, i); e > 0 {
			return e, TypeCardNumber
		}
	}
	if run == 3 {
		if e := matchSSN(t, i); e > 0 {
			return e, TypeSSN
		}
	}
	if !isDigit(t[i]) || run == 3 || (run == 1 && t[i] == '1') {
		if e := matchPhone(t, i); e > 0 {
			return e, TypePhone
		}
	}
	return -1, ""
}

// cardGroups is a run of digits in groups, as matchCard reads it.
type cardGroups struct {
	digits     [24]byte
	glen, gend [10]int // each group's length and end offset
	n          int     // groups
	sep        byte    // the separator, once seen
}

// readCardGroups reads digit groups at i separated by a single space or
// dash (the same one throughout); ok is false when there is no digit.
func readCardGroups(t string, i int) (cg cardGroups, ok bool) {
	nd, cur := 0, 0
	j := i
	for j < len(t) && nd < len(cg.digits) {
		if c := t[j]; isDigit(c) {
			cg.digits[nd] = c
			nd++
			cur++
			j++
			continue
		}
		if !cg.takeSeparator(t, j, cur) {
			break
		}
		cg.glen[cg.n], cg.gend[cg.n] = cur, j
		cg.n++
		cur = 0
		j++
	}
	if cur == 0 {
		return cg, false
	}
	cg.glen[cg.n], cg.gend[cg.n] = cur, j
	cg.n++
	return cg, true
}

// takeSeparator reports whether t[j] separates the group of cur digits
// just read from a next one, and records the separator.
func (cg *cardGroups) takeSeparator(t string, j, cur int) bool {
	c := t[j]
	if (c != ' ' && c != '-') || cur == 0 || j+1 >= len(t) || !isDigit(t[j+1]) || cg.n >= len(cg.glen)-1 {
		return false
	}
	if cg.sep == 0 {
		cg.sep = c
	}
	return c == cg.sep
}

// shapeOK reports whether the first k groups, ending at end, look like a
// card number: a bare run starting with 2–6, or a first group of 4 and
// groups of 3–7; a prefix of the groups only when they are separated by
// spaces; followed by a number boundary when all groups are used.
func (cg *cardGroups) shapeOK(t string, k, end int) bool {
	if k < cg.n && cg.sep != ' ' {
		return false
	}
	if k == cg.n && !numBoundaryAfter(t, end) {
		return false
	}
	if k == 1 {
		return cg.digits[0] >= '2' && cg.digits[0] <= '6'
	}
	if cg.glen[0] != 4 {
		return false
	}
	for x := 0; x < k; x++ {
		if cg.glen[x] < 3 || cg.glen[x] > 7 {
			return false
		}
	}
	return true
}

// matchCard matches 13–19 digits, bare or in groups separated by a single
// space or dash (first group of 4, groups of 3–7), that pass Luhn. A bare run
// must start with 2–6 (the card industries), which keeps epoch milliseconds
// and snowflake ids out. Returns the end offset or -1.
func matchCard(t string, i int) int {
	cg, ok := readCardGroups(t, i)
	if !ok {
		return -1
	}
	total := 0
	for k := 0; k < cg.n; k++ {
		total += cg.glen[k]
	}
	for k := cg.n; k >= 1; k-- {
		if k < cg.n {
			total -= cg.glen[k]
		}
		if total < 13 {
			break
		}
		if total > 19 {
			continue
		}
		end := cg.gend[k-1]
		if cg.shapeOK(t, k, end) && luhn(cg.digits[:total]) {
			return end
		}
	}
	return -1
}

func digitsAt(t string, i, n int) bool {
	if i < 0 || i+n > len(t) {
		return false
	}
	for k := i; k < i+n; k++ {
		if !isDigit(t[k]) {
			return false
		}
	}
	return true
}

// matchSSN matches AAA-GG-SSSS with area not 000, 666 or 9xx, group not 00
// and serial not 0000.
func matchSSN(t string, i int) int {
	if !digitsAt(t, i, 3) || i+11 > len(t) || t[i+3] != '-' || !digitsAt(t, i+4, 2) || t[i+6] != '-' || !digitsAt(t, i+7, 4) {
		return -1
	}
	if !numBoundaryAfter(t, i+11) {
		return -1
	}
	area, group, serial := t[i:i+3], t[i+4:i+6], t[i+7:i+11]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return -1
	}
	return i + 11
}

func isPhoneSep(c byte) bool { return c == ' ' || c == '-' || c == '.' }

// matchPhone matches US numbers: (555) 123-4567, 555-123-4567, 555.123.4567,
// 555 123 4567, with an optional +1 / 1- country code, and +15551234567.
func matchPhone(t string, i int) int {
	j, plus, ok := phoneCountryCode(t, i)
	if !ok {
		return -1
	}
	if j < len(t) && t[j] == '(' {
		j = phoneParenArea(t, j)
	} else {
		j = phoneDigitGroups(t, i, j, plus)
	}
	if j < 0 || !numBoundaryAfter(t, j) {
		return -1
	}
	return j
}

// phoneCountryCode skips an optional +1 or "1-" (any phone separator) at i
// and returns where the number proper starts; plus reports a leading '+'.
func phoneCountryCode(t string, i int) (j int, plus, ok bool) {
	n := len(t)
	j = i
	if t[j] == '+' {
		if j+1 >= n || t[j+1] != '1' {
			return 0, false, false
		}
		j += 2
		if j < n && isPhoneSep(t[j]) {
			j++
		}
		return j, true, true
	}
	if t[j] == '1' && j+2 < n && isPhoneSep(t[j+1]) && (isDigit(t[j+2]) || t[j+2] == '(') {
		j += 2
	}
	return j, false, true
}

// phoneParenArea matches "(555) 123-4567" at j and returns its end or -1.
func phoneParenArea(t string, j int) int {
	n := len(t)
	if !digitsAt(t, j+1, 3) || j+4 >= n || t[j+4] != ')' {
		return -1
	}
	j += 5
	if j < n && (t[j] == ' ' || t[j] == '-') {
		j++
	}
	if !digitsAt(t, j, 3) {
		return -1
	}
	j += 3
	if j < n && isPhoneSep(t[j]) {
		j++
	}
	if !digitsAt(t, j, 4) {
		return -1
	}
	return j + 4
}

// phoneDigitGroups matches 555-123-4567 (one separator throughout) at j,
// or, after a "+1" at i with no separator, ten bare digits; it returns the
// end or -1.
func phoneDigitGroups(t string, i, j int, plus bool) int {
	n := len(t)
	if !digitsAt(t, j, 3) {
		return -1
	}
	j += 3
	switch {
	case j < n && isPhoneSep(t[j]):
		s1 := t[j]
		if !digitsAt(t, j+1, 3) || j+4 >= n || t[j+4] != s1 || !digitsAt(t, j+5, 4) {
			return -1
		}
		return j + 9
	case plus && t[i+2] != ' ' && t[i+2] != '-' && t[i+2] != '.' && digitsAt(t, j, 7):
		return j + 7
	}
	return -1
}
