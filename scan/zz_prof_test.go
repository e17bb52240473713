package scan

import (
	"encoding/json"
	"strings"
	"testing"
)

func BenchmarkParts(b *testing.B) {
	res := benchResult(16 << 10)
	d, _ := lex(res)
	parts := map[string]func(){
		"valid":     func() { _ = json.Valid(res) },
		"lex":       func() { lex(res) },
		"lower":     func() { lowerASCII(d.masked) },
		"aws":       func() { scanAWSKeyID(d.masked, nil) },
		"pem":       func() { scanPEM(d.masked, nil) },
		"gh":        func() { scanGitHub(d.masked, nil) },
		"slack":     func() { scanSlack(&view{text: d.masked}, nil) },
		"stripe":    func() { scanStripe(d.masked, nil) },
		"jwt":       func() { scanJWT(d.masked, nil) },
		"generic":   func() { scanGeneric(&view{text: d.masked}, nil) },
		"email":     func() { scanEmails(d.masked, nil) },
		"numbers":   func() { scanNumbers(d.masked, nil) },
		"injection": func() { scanInjection(&view{text: d.masked}, nil) },
		"hidden":    func() { scanHidden(d.masked, nil) },
	}
	for name, f := range parts {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(res)))
			for b.Loop() {
				f()
			}
		})
	}
}

var sink int

func BenchmarkCalibrate(b *testing.B) {
	res := benchResult(16 << 10)
	s := string(res)
	b.SetBytes(int64(len(res)))
	for b.Loop() {
		c := 0
		for i := 0; i < len(s); i++ {
			if s[i] == '7' {
				c++
			}
		}
		sink = c
	}
}

func TestDumpBench(t *testing.T) {
	res := benchResult(16 << 10)
	t.Logf("%d bytes\n%s", len(res), res[:1500])
	lw := lowerASCII(string(res))
	for _, kw := range keywordAnchors {
		t.Logf("%s: %d occurrences; anchor %q", kw, strings.Count(lw, kw), kw[anchor(kw):])
	}
}
