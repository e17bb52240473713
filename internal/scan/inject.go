package scan

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Finding types of the prompt_injection scanner.
const (
	TypeInstructionOverride = "instruction_override"
	TypeRoleOverride        = "role_override"
	TypeSystemPrompt        = "system_prompt"
	TypeChatTemplateToken   = "chat_template_token"
	TypeInstructionHeader   = "instruction_header"
	TypeEncodedInstruction  = "encoded_instruction"
	TypeHiddenText          = "hidden_text"
)

// TypeRegex is the finding type of the regex scanner.
const TypeRegex = "regex"

// Phrase patterns run over the lower-cased text, only when their literal
// prefix occurs; each starts with that literal, so the regexp engine skips
// to candidates with strings.Index. All are linear-time (RE2).
const (
	injQuant = `(?:(?:all|any|the|every|your|my|these|those|of|everything)\s+){0,3}`
	injWhen  = `(?:previous|prior|earlier|preceding|foregoing|former|initial|original|above|system)`
	injWhat  = `(?:instructions?|directions?|prompts?|rules|messages|commands|guidelines|context|directives)`
)

var injPhrases = []struct {
	lit string
	re  *regexp.Regexp
	typ string
}{
	{"ignore", regexp.MustCompile(`ignore\s+` + injQuant + `(?:` + injWhen + `\s+` + injWhat + `|above\b)`), TypeInstructionOverride},
	{"disregard", regexp.MustCompile(`disregard\s+` + injQuant + injWhen + `\b`), TypeInstructionOverride},
	{"forget", regexp.MustCompile(`forget\s+` + injQuant + injWhen + `\s+` + injWhat), TypeInstructionOverride},
	{"override", regexp.MustCompile(`override\s+` + injQuant + injWhen + `\s+` + injWhat), TypeInstructionOverride},
	{"you", regexp.MustCompile(`you\s+are\s+now\b`), TypeRoleOverride},
	{"begin", regexp.MustCompile(`begin\s+system\s+prompt`), TypeSystemPrompt},
	{"system", regexp.MustCompile(`system[\s_-]*prompt`), TypeSystemPrompt},
	{"###", regexp.MustCompile(`###\s*(?:new\s+)?(?:instructions?\b|system\s*(?::|prompt|message))`), TypeInstructionHeader},
}

// "you are now logged in" and the like are not role overrides.
var benignAfterYouAreNow = map[string]bool{
	"logged": true, "signed": true, "connected": true, "disconnected": true, "subscribed": true,
	"unsubscribed": true, "registered": true, "enrolled": true, "verified": true, "following": true,
	"eligible": true, "able": true, "ready": true, "set": true, "all": true, "done": true, "up": true,
}

// Literal chat-template control tokens (lower-cased).
var templateTokens = []string{"[inst]", "[/inst]", "<<sys>>", "<</sys>>"}

// base64 of "ignore", "Ignore", "IGNORE" at a 3-byte boundary (case-sensitive).
var encodedIgnore = []string{"aWdub3Jl", "SWdub3Jl", "SUdOT1JF"}

func scanInjection(v *view, out []hit) []hit {
	t := v.text
	lw := v.lower()
	out = scanPhrases(lw, out)
	out = scanTemplateTokens(lw, out)
	out = scanEncodedIgnore(t, out)
	return scanHidden(t, out)
}

// scanPhrases finds the instruction-override phrases in lw (the text
// lowered).
func scanPhrases(lw string, out []hit) []hit {
	for _, ph := range injPhrases {
		p0 := indexFrom(lw, ph.lit, 0)
		if p0 < 0 {
			continue
		}
		for _, m := range ph.re.FindAllStringIndex(lw[p0:], -1) {
			s, e := p0+m[0], p0+m[1]
			if ph.typ == TypeRoleOverride && benignAfterYouAreNow[nextWord(lw, e)] {
				continue
			}
			out = append(out, hit{s, e, ph.typ})
		}
	}
	return out
}

// scanTemplateTokens finds chat-template control tokens in lw (the text
// lowered): <|name|> tokens (<|im_start|>, <|im_end|>, <|system|>,
// <|endoftext|> …) and the literal templateTokens.
func scanTemplateTokens(lw string, out []hit) []hit {
	forEach(lw, "<|", func(p int) int {
		e := p + 2
		for e < len(lw) && e-p < 42 && (isDigit(lw[e]) || isLowerC(lw[e]) || lw[e] == '_') {
			e++
		}
		if e == p+2 || !strings.HasPrefix(lw[e:], "|>") {
			return 0
		}
		out = append(out, hit{p, e + 2, TypeChatTemplateToken})
		return e + 2
	})
	for _, tok := range templateTokens {
		forEach(lw, tok, func(p int) int {
			out = append(out, hit{p, p + len(tok), TypeChatTemplateToken})
			return p + len(tok)
		})
	}
	return out
}

// scanEncodedIgnore finds base64 runs that hold an encoded "ignore".
func scanEncodedIgnore(t string, out []hit) []hit {
	for _, enc := range encodedIgnore {
		forEach(t, enc, func(p int) int {
			s, e := p, p+len(enc)
			for s > 0 && p-s < 4096 && isB64Std(t[s-1]) {
				s--
			}
			for e < len(t) && e-p < 4096 && isB64Std(t[e]) {
				e++
			}
			out = append(out, hit{s, e, TypeEncodedInstruction})
			return e
		})
	}
	return out
}

func nextWord(lw string, i int) string {
	for i < len(lw) && !isLowerC(lw[i]) {
		if lw[i] != ' ' && lw[i] != '\t' && lw[i] != '\n' && lw[i] != '\r' {
			return ""
		}
		i++
	}
	j := i
	for j < len(lw) && isLowerC(lw[j]) {
		j++
	}
	return lw[i:j]
}

// invisible classifies runes that render as nothing.
// 1: zero-width and invisible operators, 2: bidi overrides, 3: tag characters,
// 4: joiners/marks that are legitimate alone (ZWNJ, ZWJ, LRM, RLM, bidi
// embeddings and isolates).
func invisible(r rune) int {
	switch {
	case r == 0x200B || r == 0xFEFF || (r >= 0x2060 && r <= 0x2064):
		return 1
	case r == 0x202D || r == 0x202E:
		return 2
	case r >= 0xE0000 && r <= 0xE007F:
		return 3
	case (r >= 0x200C && r <= 0x200F) || (r >= 0x202A && r <= 0x202C) || (r >= 0x2066 && r <= 0x2069):
		return 4
	}
	return 0
}

// scanHidden flags text hidden with invisible characters: any run of two or
// more, a zero-width space/word joiner/BOM between two ASCII letters (used to
// split trigger words), any bidi override, and Unicode tag characters (ASCII
// smuggling) except an emoji subdivision flag (U+1F3F4 + tags + U+E007F).
func scanHidden(t string, out []hit) []hit {
	var lf leadFinder
	lf.next = [3]int{-2, -2, -2}
	for i := 0; i < len(t); {
		at := lf.find(t, i)
		if at == len(t) {
			break
		}
		i = at
		r, w := utf8.DecodeRuneInString(t[i:])
		k := invisible(r)
		if k == 0 {
			i += w
			continue
		}
		run := readInvisibleRun(t, i, w, k)
		if run.hidden(t) {
			out = append(out, hit{run.s, run.e, TypeHiddenText})
		}
		i = run.e
	}
	return out
}

// leadFinder finds the next byte that can start an invisible rune (0xE2,
// 0xEF or 0xF3) with IndexByte, remembering each one's next position so the
// scan is linear.
type leadFinder struct {
	next [3]int // per lead byte: its next position, -1 none, -2 not looked
}

var invisibleLeads = [3]byte{0xE2, 0xEF, 0xF3}

// find returns the position of the first lead byte at or after i, or
// len(t).
func (lf *leadFinder) find(t string, i int) int {
	at := len(t)
	for k, c := range invisibleLeads {
		if lf.next[k] != -1 && lf.next[k] < i {
			if q := strings.IndexByte(t[i:], c); q >= 0 {
				lf.next[k] = i + q
			} else {
				lf.next[k] = -1
			}
		}
		if lf.next[k] >= 0 && lf.next[k] < at {
			at = lf.next[k]
		}
	}
	return at
}

// invisibleRun is a run of invisible runes [s, e) and what it holds.
type invisibleRun struct {
	s, e               int
	count              int
	zw, override, tags bool
}

// readInvisibleRun reads the run starting with the rune of width w and
// class k at s.
func readInvisibleRun(t string, s, w, k int) invisibleRun {
	run := invisibleRun{s: s, e: s + w, count: 1}
	run.add(k)
	for run.e < len(t) {
		r2, w2 := utf8.DecodeRuneInString(t[run.e:])
		k2 := invisible(r2)
		if k2 == 0 {
			break
		}
		run.count++
		run.add(k2)
		run.e += w2
	}
	return run
}

func (run *invisibleRun) add(k int) {
	run.zw = run.zw || k == 1
	run.override = run.override || k == 2
	run.tags = run.tags || k == 3
}

// hidden reports whether the run hides text (see scanHidden).
func (run *invisibleRun) hidden(t string) bool {
	s, e := run.s, run.e
	if run.tags && isEmojiFlag(t, s, e) {
		return false
	}
	between := s > 0 && e < len(t) && (isUpper(t[s-1]) || isLowerC(t[s-1])) && (isUpper(t[e]) || isLowerC(t[e]))
	return run.count >= 2 || run.override || run.tags || (run.zw && between)
}

// isEmojiFlag reports whether the tag characters [s, e) complete an emoji
// subdivision flag: U+1F3F4 before them, ending with U+E007F.
func isEmojiFlag(t string, s, e int) bool {
	if s < 4 {
		return false
	}
	pr, _ := utf8.DecodeLastRuneInString(t[:s])
	lr, _ := utf8.DecodeLastRuneInString(t[:e])
	return pr == 0x1F3F4 && lr == 0xE007F
}
