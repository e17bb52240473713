package scan

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Finding types of the secrets scanner.
const (
	TypeAWSAccessKey  = "aws_access_key"
	TypeAWSSecretKey  = "aws_secret_key"
	TypePrivateKey    = "private_key"
	TypeGitHubToken   = "github_token"
	TypeSlackToken    = "slack_token"
	TypeSlackWebhook  = "slack_webhook"
	TypeStripeKey     = "stripe_key"
	TypeJWT           = "jwt"
	TypeGenericSecret = "generic_secret"
)

// Generic assignment thresholds: a value assigned to a secret-sounding name
// is a finding when it is at least this long and this random.
const (
	genericMinLen     = 16
	genericMinEntropy = 3.5
)

func scanSecrets(v *view, out []hit) []hit {
	t := v.text
	out = scanAWSKeyID(t, out)
	out = scanPEM(t, out)
	out = scanGitHub(t, out)
	out = scanSlack(v, out)
	out = scanStripe(t, out)
	out = scanJWT(t, out)
	out = scanGeneric(v, out)
	return out
}

// AKIA/ASIA + 16 upper-case alphanumerics, not inside a longer word.
func scanAWSKeyID(t string, out []hit) []hit {
	for _, pfx := range [...]string{"AKIA", "ASIA"} {
		forEach(t, pfx, func(p int) int {
			if p > 0 && isAlnum(t[p-1]) {
				return 0
			}
			e := p + 4
			for e < len(t) && e-p < 20 && isUpperAlnum(t[e]) {
				e++
			}
			if e-p != 20 || (e < len(t) && isAlnum(t[e])) {
				return 0
			}
			out = append(out, hit{p, e, TypeAWSAccessKey})
			return e
		})
	}
	return out
}

func isPEMBody(c byte) bool {
	return isB64Std(c) || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ':' || c == ',' || c == '-' || c == '.'
}

func isPEMLabel(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isUpperAlnum(c) && c != ' ' {
			return false
		}
	}
	return strings.HasSuffix(s, "PRIVATE KEY") || strings.HasSuffix(s, "PRIVATE KEY BLOCK")
}

// -----BEGIN <label>PRIVATE KEY----- … -----END …-----. Without an END line
// (truncated output) the finding runs to the end of the base64 body.
func scanPEM(t string, out []hit) []hit {
	const begin, end = "-----BEGIN ", "-----END "
	forEach(t, begin, func(p int) int {
		ls := p + len(begin)
		q := strings.Index(t[ls:min(len(t), ls+64)], "-----")
		if q < 0 || !isPEMLabel(t[ls:ls+q]) {
			return 0
		}
		hdrEnd := ls + q + 5
		e := hdrEnd
		found := false
		for e < len(t) {
			c := t[e]
			if c == '-' && strings.HasPrefix(t[e:], end) {
				le := e + len(end)
				if k := strings.Index(t[le:min(len(t), le+64)], "-----"); k >= 0 {
					e = le + k + 5
					found = true
				}
				break
			}
			if !isPEMBody(c) {
				break
			}
			e++
		}
		if !found {
			for e > hdrEnd && (isJSONSpace(t[e-1]) || t[e-1] == '-') {
				e--
			}
		}
		out = append(out, hit{p, e, TypePrivateKey})
		return e
	})
	return out
}

// ghp_/gho_/ghu_/ghs_/ghr_ + ≥30 alphanumerics; github_pat_ + ≥22 word chars.
func scanGitHub(t string, out []hit) []hit {
	forEach(t, "gh", func(p int) int {
		e, ok := matchGitHubToken(t, p)
		if ok {
			out = append(out, hit{p, e, TypeGitHubToken})
		}
		return e
	})
	forEach(t, "github_pat_", func(p int) int {
		e, ok := matchGitHubPAT(t, p)
		if ok {
			out = append(out, hit{p, e, TypeGitHubToken})
		}
		return e
	})
	return out
}

// matchGitHubToken matches a ghp_-style token at p (t[p:] starts with "gh");
// it returns where to go on (0: just past p) and whether it matched.
func matchGitHubToken(t string, p int) (int, bool) {
	if p+4 > len(t) || t[p+3] != '_' || strings.IndexByte("pousr", t[p+2]) < 0 {
		return 0, false
	}
	if p > 0 && isAlnum(t[p-1]) {
		return 0, false
	}
	e := p + 4
	for e < len(t) && isAlnum(t[e]) {
		e++
	}
	return e, e-(p+4) >= 30 && (e >= len(t) || t[e] != '_')
}

// matchGitHubPAT matches a fine-grained token at p (t[p:] starts with
// "github_pat_"), like matchGitHubToken.
func matchGitHubPAT(t string, p int) (int, bool) {
	if p > 0 && isAlnum(t[p-1]) {
		return 0, false
	}
	e := p + len("github_pat_")
	for e < len(t) && isWord(t[e]) {
		e++
	}
	return e, e-p-len("github_pat_") >= 22
}

// xox[bpars]- tokens and hooks.slack.com webhook URLs.
func scanSlack(v *view, out []hit) []hit {
	t := v.text
	forEach(t, "xox", func(p int) int {
		e, ok := matchSlackToken(t, p)
		if ok {
			out = append(out, hit{p, e, TypeSlackToken})
		}
		return e
	})
	if !strings.Contains(t, "slack") && !strings.Contains(t, "SLACK") && !strings.Contains(t, "Slack") {
		return out
	}
	lw := v.lower()
	forEach(lw, slackHookHost, func(p int) int {
		s, e, ok := matchSlackWebhook(t, lw, p)
		if ok {
			out = append(out, hit{s, e, TypeSlackWebhook})
		}
		return e
	})
	return out
}

// matchSlackToken matches an xox[bpars]- token at p (t[p:] starts with
// "xox"); it returns where to go on (0: just past p) and whether it matched.
func matchSlackToken(t string, p int) (int, bool) {
	if p+5 > len(t) || t[p+4] != '-' || strings.IndexByte("bpars", t[p+3]) < 0 {
		return 0, false
	}
	if p > 0 && isAlnum(t[p-1]) {
		return 0, false
	}
	e := p + 5
	for e < len(t) && (isAlnum(t[e]) || t[e] == '-') {
		e++
	}
	for e > p+5 && t[e-1] == '-' {
		e--
	}
	return e, e-(p+5) >= 10
}

const slackHookHost = "hooks.slack.com/"

// matchSlackWebhook matches a webhook URL whose host starts at p in lw (t
// lowered); it returns the URL's span (with its scheme), where to go on (0:
// just past p), and whether it matched.
func matchSlackWebhook(t, lw string, p int) (s, e int, ok bool) {
	s = p
	switch {
	case p >= 8 && lw[p-8:p] == "https://":
		s = p - 8
	case p >= 7 && lw[p-7:p] == "http://":
		s = p - 7
	}
	q := p + len(slackHookHost)
	kind := ""
	for _, k := range [...]string{"services/", "workflows/", "triggers/"} {
		if strings.HasPrefix(lw[q:], k) {
			kind = k
			break
		}
	}
	if kind == "" {
		return 0, 0, false
	}
	q += len(kind)
	e = q
	for e < len(t) && (isWord(t[e]) || t[e] == '/' || t[e] == '+' || t[e] == '-') {
		e++
	}
	return s, e, e-q >= 20
}

// sk_live_, rk_live_, sk_test_, rk_test_ + ≥16 alphanumerics.
func scanStripe(t string, out []hit) []hit {
	for _, mid := range [...]string{"_live_", "_test_"} {
		forEach(t, mid, func(p int) int {
			if p < 2 || (t[p-2:p] != "sk" && t[p-2:p] != "rk") {
				return 0
			}
			s := p - 2
			if s > 0 && isAlnum(t[s-1]) {
				return 0
			}
			e := p + len(mid)
			for e < len(t) && isAlnum(t[e]) {
				e++
			}
			if e-(p+len(mid)) < 16 || (e < len(t) && t[e] == '_') {
				return e
			}
			out = append(out, hit{s, e, TypeStripeKey})
			return e
		})
	}
	return out
}

// Three base64url segments whose first decodes to a JSON object with "alg"
// (the header starts with `{"`, so the token starts with "eyJ").
func scanJWT(t string, out []hit) []hit {
	forEach(t, "eyJ", func(p int) int {
		if p > 0 && (isB64URL(t[p-1]) || t[p-1] == '.') {
			return 0
		}
		seg := func(i int) int {
			for i < len(t) && isB64URL(t[i]) {
				i++
			}
			return i
		}
		e1 := seg(p)
		if e1-p < 10 || e1 >= len(t) || t[e1] != '.' {
			return e1
		}
		e2 := seg(e1 + 1)
		if e2-e1-1 < 2 || e2 >= len(t) || t[e2] != '.' {
			return e2
		}
		e3 := seg(e2 + 1)
		if !jwtHeader(t[p:e1]) {
			return e3
		}
		out = append(out, hit{p, e3, TypeJWT})
		return e3
	})
	return out
}

func jwtHeader(seg string) bool {
	if len(seg) > 4096 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m["alg"]
	return ok
}

// secretKeywords make an identifier secret-sounding (matched lower-case,
// anywhere in the identifier: db_password, X-Api-Key, clientSecret).
var secretKeywords = []string{
	"password", "passwd", "passphrase", "secret", "token", "api_key", "api-key", "apikey",
	"access_key", "accesskey", "private_key", "privatekey", "auth_key", "credential", "authorization",
}

// keywordAnchors find secret-sounding identifiers: every keyword contains
// one of these literals, and each literal is found through a two-byte anchor
// (k+e, c+r, p+a, z+a) checked in a single pass over the text. The
// identifier around a hit is then checked against secretKeywords.
var keywordAnchors = []struct {
	a    [2]byte
	lits []string
}{
	{[2]byte{'k', 'e'}, []string{"key", "token"}},
	{[2]byte{'c', 'r'}, []string{"secret", "credential"}},
	{[2]byte{'p', 'a'}, []string{"pass"}},
	{[2]byte{'z', 'a'}, []string{"authorization"}},
}

// anchorGroup maps an anchor's first byte to 1 + its index in keywordAnchors.
var anchorGroup = func() (t [256]uint8) {
	for i, g := range keywordAnchors {
		t[g.a[0]] = uint8(i + 1)
	}
	return
}()

var isSecretKeyword = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range secretKeywords {
		m[k] = true
	}
	return m
}()

// benignLastWords end identifiers that name something about a secret, not
// the secret (token_url, secret_name, max_tokens, expires_in …).
var benignLastWords = map[string]bool{
	"url": true, "uri": true, "urls": true, "endpoint": true, "path": true, "file": true, "type": true,
	"count": true, "name": true, "id": true, "ids": true, "at": true, "ttl": true, "expiry": true,
	"expires": true, "in": true, "length": true, "len": true, "limit": true, "size": true, "usage": true,
	"hint": true, "kind": true, "format": true, "version": true, "tokens": true, "index": true,
	"field": true, "policy": true, "prefix": true, "required": true, "enabled": true, "set": true,
	"header": true, "rotation": true, "provider": true, "manager": true, "store": true,
}

func isIdentLower(c byte) bool {
	return isDigit(c) || isLowerC(c) || c == '_' || c == '.' || c == '-'
}

func isValueStop(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '`', '\\', ',', ';', '&', '<', '>', '(', ')', '{', '}', '[', ']':
		return true
	}
	return c < 0x20
}

func hasSecretKeyword(ident string) bool {
	for _, k := range secretKeywords {
		if strings.Contains(ident, k) {
			return true
		}
	}
	return false
}

// classifySecret decides whether val, assigned to the lower-case identifier
// ident, is a secret; it returns the finding type or "".
func classifySecret(ident, val string) string {
	if len(val) < genericMinLen || strings.Contains(val, "://") {
		return ""
	}
	last := strings.TrimRight(ident, "_.-")
	if k := strings.LastIndexAny(last, "_.-"); k >= 0 {
		last = last[k+1:]
	}
	if benignLastWords[last] {
		return ""
	}
	h := shannonEntropy(val)
	if len(val) == 40 && strings.Contains(ident, "secret") &&
		(strings.Contains(ident, "aws") || strings.Contains(ident, "access")) && h >= 3.0 {
		std := true
		for i := 0; i < len(val); i++ {
			if !isB64Std(val[i]) {
				std = false
				break
			}
		}
		if std {
			return TypeAWSSecretKey
		}
	}
	if h < genericMinEntropy {
		return ""
	}
	return TypeGenericSecret
}

// readValue skips an auth scheme ("Bearer ") and reads an unquoted value
// starting at j; it returns the value's span.
func readValue(t, lw string, j int) (int, int) {
	for _, s := range [...]string{"bearer ", "basic ", "token "} {
		if strings.HasPrefix(lw[j:], s) {
			j += len(s)
			for j < len(t) && (t[j] == ' ' || t[j] == '\t') {
				j++
			}
			break
		}
	}
	vs := j
	for j < len(t) && j-vs < 4096 && !isValueStop(t[j]) {
		j++
	}
	return vs, j
}

// isAssignPad marks what may surround an assignment operator: spaces,
// quotes, backslashes (of escaped quotes) and ']'.
func isAssignPad(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == '\\' || c == '`' || c == ']'
}

// assignment parses `<sep>* (:|=|:=|=>) <sep>* value` after an identifier.
func assignment(t, lw string, i int) (int, int, bool) {
	j := i
	for k := 0; j < len(t) && k < 16 && isAssignPad(t[j]); k++ {
		j++
	}
	j, ok := assignOp(t, j)
	if !ok {
		return 0, 0, false
	}
	for k := 0; j < len(t) && k < 16 && isAssignPad(t[j]) && t[j] != ']'; k++ {
		j++
	}
	vs, ve := readValue(t, lw, j)
	return vs, ve, ve > vs
}

// assignOp parses ':', ":=", '=' or "=>" (not "==") at j and returns where
// it ends.
func assignOp(t string, j int) (int, bool) {
	if j >= len(t) {
		return 0, false
	}
	switch t[j] {
	case ':':
		j++
		if j < len(t) && t[j] == '=' {
			j++
		}
		return j, true
	case '=':
		j++
		if j < len(t) && t[j] == '=' {
			return 0, false
		}
		if j < len(t) && t[j] == '>' {
			j++
		}
		return j, true
	}
	return 0, false
}

// scanGeneric finds `name = value` / `"name": "value"` where name contains a
// secret keyword and value is long and random enough; the finding covers the
// value only. For a decoded JSON string value, the member name gives the
// context (v.key).
func scanGeneric(v *view, out []hit) []hit {
	t := v.text
	lw := v.lower()
	for q := 0; q+1 < len(lw); q++ {
		if g := anchorGroup[lw[q]]; g == 0 || lw[q+1] != keywordAnchors[g-1].a[1] {
			continue // the common case, kept out of keywordAt's call
		}
		kw, p, ok := keywordAt(lw, q)
		if !ok {
			continue
		}
		is, ie := identAround(lw, p, len(kw))
		next := ie
		ident := lw[is:ie]
		if isSecretKeyword[kw] || hasSecretKeyword(ident) {
			if vs, ve, ok := assignment(t, lw, ie); ok {
				if typ := classifySecret(ident, t[vs:ve]); typ != "" {
					out = append(out, hit{vs, ve, typ})
				}
				next = ve
			}
		}
		q = max(q, next-1)
	}
	if v.key != "" && hasSecretKeyword(v.key) {
		out = keyedValue(v.key, t, lw, out)
	}
	return out
}

// keywordAt finds the keyword literal whose anchor is at q in lw and
// returns it with its start.
func keywordAt(lw string, q int) (string, int, bool) {
	g := anchorGroup[lw[q]]
	if g == 0 {
		return "", 0, false
	}
	group := &keywordAnchors[g-1]
	if lw[q+1] != group.a[1] {
		return "", 0, false
	}
	for _, kw := range group.lits {
		p := q - strings.IndexByte(kw, group.a[0])
		if p >= 0 && strings.HasPrefix(lw[p:], kw) {
			return kw, p, true
		}
	}
	return "", 0, false
}

// identAround widens the keyword of length n at p to the identifier around
// it (at most 64 bytes either side).
func identAround(lw string, p, n int) (is, ie int) {
	is = p
	for is > 0 && p-is < 64 && isIdentLower(lw[is-1]) {
		is--
	}
	ie = p + n
	for ie < len(lw) && ie-p < 64+n && isIdentLower(lw[ie]) {
		ie++
	}
	return is, ie
}

// keyedValue checks a whole decoded string value whose member name key is
// secret-sounding.
func keyedValue(key, t, lw string, out []hit) []hit {
	j := 0
	for j < len(t) && isJSONSpace(t[j]) {
		j++
	}
	vs, ve := readValue(t, lw, j)
	if ve > vs {
		if typ := classifySecret(key, t[vs:ve]); typ != "" {
			out = append(out, hit{vs, ve, typ})
		}
	}
	return out
}
