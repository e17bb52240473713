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
	// <|name|> tokens: <|im_start|>, <|im_end|>, <|system|>, <|endoftext|> …
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
	return scanHidden(t, out)
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
	// Invisible runes start with 0xE2, 0xEF or 0xF3: find those bytes with
	// IndexByte, remembering each one's next position so the scan is linear.
	leads := [3]byte{0xE2, 0xEF, 0xF3}
	next := [3]int{-2, -2, -2}
	for i := 0; i < len(t); {
		at := len(t)
		for k, c := range leads {
			if next[k] != -1 && next[k] < i {
				if q := strings.IndexByte(t[i:], c); q >= 0 {
					next[k] = i + q
				} else {
					next[k] = -1
				}
			}
			if next[k] >= 0 && next[k] < at {
				at = next[k]
			}
		}
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
		s, e := i, i+w
		count, zw, override, tags := 1, k == 1, k == 2, k == 3
		for e < len(t) {
			r2, w2 := utf8.DecodeRuneInString(t[e:])
			k2 := invisible(r2)
			if k2 == 0 {
				break
			}
			count++
			zw = zw || k2 == 1
			override = override || k2 == 2
			tags = tags || k2 == 3
			e += w2
		}
		flag := false
		if tags && s >= 4 {
			if pr, _ := utf8.DecodeLastRuneInString(t[:s]); pr == 0x1F3F4 {
				if lr, _ := utf8.DecodeLastRuneInString(t[:e]); lr == 0xE007F {
					flag = true
				}
			}
		}
		between := s > 0 && e < len(t) && (isUpper(t[s-1]) || isLowerC(t[s-1])) && (isUpper(t[e]) || isLowerC(t[e]))
		switch {
		case flag:
		case count >= 2, override, tags, zw && between:
			out = append(out, hit{s, e, TypeHiddenText})
		}
		i = e
	}
	return out
}
