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
		s := p
		for s > 0 && p-s < 64 && isEmailLocal(t[s-1]) {
			s--
		}
		if s > 0 && isEmailLocal(t[s-1]) {
			continue // local part longer than 64
		}
		for s < p && (t[s] == '.' || t[s] == '-') {
			s++
		}
		if s == p || t[p-1] == '.' {
			continue
		}
		e := p + 1
		for e < len(t) && e-p <= 254 && (isAlnum(t[e]) || t[e] == '-' || t[e] == '.') {
			e++
		}
		for e > p+1 && (t[e-1] == '.' || t[e-1] == '-') {
			e--
		}
		if !validDomain(t[p+1 : e]) {
			continue
		}
		out = append(out, hit{s, e, TypeEmail})
		i = e
	}
	return out
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
		c := t[i]
		digit := isDigit(c)
		run := 0 // leading digits: only some lengths can start a match
		if digit {
			for run < 20 && i+run < n && isDigit(t[i+run]) {
				run++
			}
		}
		if numBoundaryBefore(t, i) {
			if run == 4 || (run >= 13 && run <= 19) {
				if e := matchCard(t, i); e > 0 {
					out = append(out, hit{i, e, TypeCardNumber})
					i = e
					continue
				}
			}
			if run == 3 {
				if e := matchSSN(t, i); e > 0 {
					out = append(out, hit{i, e, TypeSSN})
					i = e
					continue
				}
			}
			if !digit || run == 3 || (run == 1 && c == '1') {
				if e := matchPhone(t, i); e > 0 {
					out = append(out, hit{i, e, TypePhone})
					i = e
					continue
				}
			}
		}
		i += max(run, 1)
		for digit && i < n && isDigit(t[i]) {
			i++
		}
	}
	return out
}

// matchCard matches 13–19 digits, bare or in groups separated by a single
// space or dash (first group of 4, groups of 3–7), that pass Luhn. A bare run
// must start with 2–6 (the card industries), which keeps epoch milliseconds
// and snowflake ids out. Returns the end offset or -1.
func matchCard(t string, i int) int {
	var digits [24]byte
	var glen, gend [10]int
	nd, g, cur := 0, 0, 0
	var sep byte
	j := i
	for j < len(t) && nd < len(digits) {
		c := t[j]
		if isDigit(c) {
			digits[nd] = c
			nd++
			cur++
			j++
			continue
		}
		if (c == ' ' || c == '-') && cur > 0 && j+1 < len(t) && isDigit(t[j+1]) && g < len(glen)-1 {
			if sep == 0 {
				sep = c
			} else if c != sep {
				break
			}
			glen[g], gend[g] = cur, j
			g++
			cur = 0
			j++
			continue
		}
		break
	}
	if cur == 0 {
		return -1
	}
	glen[g], gend[g] = cur, j
	g++
	total := 0
	for k := 0; k < g; k++ {
		total += glen[k]
	}
	for k := g; k >= 1; k-- {
		if k < g {
			total -= glen[k]
		}
		if total < 13 {
			break
		}
		if total > 19 {
			continue
		}
		end := gend[k-1]
		if k < g && sep != ' ' {
			continue
		}
		if k == g && !numBoundaryAfter(t, end) {
			continue
		}
		if k == 1 {
			if digits[0] < '2' || digits[0] > '6' {
				continue
			}
		} else {
			ok := glen[0] == 4
			for x := 0; x < k && ok; x++ {
				ok = glen[x] >= 3 && glen[x] <= 7
			}
			if !ok {
				continue
			}
		}
		if luhn(digits[:total]) {
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
	n := len(t)
	j := i
	plus := false
	if t[j] == '+' {
		if j+1 >= n || t[j+1] != '1' {
			return -1
		}
		plus = true
		j += 2
		if j < n && isPhoneSep(t[j]) {
			j++
		}
	} else if t[j] == '1' && j+2 < n && isPhoneSep(t[j+1]) && (isDigit(t[j+2]) || t[j+2] == '(') {
		j += 2
	}
	if j < n && t[j] == '(' {
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
		j += 4
	} else {
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
			j += 9
		case plus && t[i+2] != ' ' && t[i+2] != '-' && t[i+2] != '.' && digitsAt(t, j, 7):
			j += 7
		default:
			return -1
		}
	}
	if !numBoundaryAfter(t, j) {
		return -1
	}
	return j
}
