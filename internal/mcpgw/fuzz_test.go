package mcpgw

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// FuzzParseConfig: ParseConfig never panics; an error is a *ConfigError
// naming the path and a line of the text (or none); a config it accepts
// has upstreams with valid, distinct names, durations in range, and a
// resource template that applies to arguments without panicking.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"server: http://127.0.0.1:8080\nkey_file: k\napproval_wait: 30s\ncall_timeout: 1m\nupstreams:\n  - name: fs\n    command: [mcp-fs, /tmp]\n    env: {A: b}\n    labels: {env: prod}\n    resource: 'file://{{ .path }}'\n  - name: web\n    url: https://example.com/mcp\n",
		"upstreams:\n  - {name: a, url: 'http://x', resource: '{{ index . \"k\" }}'}\n",
		"upstreams:\n  - name: a\n    command: [x]\n    resource: '{{ range .items }}{{ . }},{{ end }}'\n",
		"upstreams:\n  - name: a__b\n    command: [x]\n",
		"upstreams:\n  - &a {name: a, command: [x]}\n  - *a\n",
		"approval_wait: 2h\nupstreams: []\n",
		"hide_denied: true\nupstreams:\n  - {name: a, command: [x]}\n",
		"upstreams:\n  - {name: a, command: [x], resource: '{{ .x'}\n",
		"upstreams:\n\t- name: a\n",
		"upstreams:\n  - {name: a, command: [x], unknown: 1}\n",
		"",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseConfig("gw.yaml", text)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Path != "gw.yaml" || ce.Msg == "" || ce.Line < 0 || ce.Line > yamlLines(text) {
				t.Fatalf("%q: error %#v", text, err)
			}
			return
		}
		if len(c.Upstreams) == 0 || c.ApprovalWait <= 0 || c.ApprovalWait > MaxApprovalWait || c.CallTimeout <= 0 || c.CallTimeout > time.Hour {
			t.Fatalf("%q: accepted %+v", text, c)
		}
		seen := map[string]bool{}
		for i := range c.Upstreams {
			u := &c.Upstreams[i]
			if !upstreamName.MatchString(u.Name) || strings.Contains(u.Name, "__") || seen[u.Name] || (len(u.Command) > 0) == (u.URL != "") {
				t.Fatalf("%q: accepted upstream %+v", text, u)
			}
			seen[u.Name] = true
			if (u.Resource != "") != (u.resource != nil) {
				t.Fatalf("%q: resource %q compiled to %v", text, u.Resource, u.resource)
			}
			for _, args := range []string{``, `{}`, `{"path":"/etc/x","items":[1,"a"],"k":{"x":null}}`, `[1]`, `"s"`} {
				checkResource(t, u, json.RawMessage(args))
			}
		}
	})
}

// FuzzResourceFor renders fuzzed resource templates (as a config gives
// them) over fuzzed arguments: never a panic, the same answer every time,
// and a resource of 1 to 1024 bytes, or an error.
func FuzzResourceFor(f *testing.F) {
	for _, s := range []struct{ tmpl, args string }{
		{"file://{{ .path }}", `{"path":"/etc/passwd"}`},
		{"{{ .a.b }}", `{"a":{"b":[1,2]}}`},
		{"{{ index .ids 0 }}", `{"ids":["x"]}`},
		{"{{ range .items }}{{ . }}{{ end }}", `{"items":[1,2,3]}`},
		{"{{ printf \"%0900d\" 1 }}{{ printf \"%0900d\" 2 }}", `{}`},
		{"{{ .missing }}", `{}`},
		{"db://{{ .t }}", `not json`},
		{"{{ len .s }}", `{"s":"\u00e9"}`},
		{"{{ if .x }}{{ .x }}{{ else }}none{{ end }}", `null`},
	} {
		f.Add(s.tmpl, []byte(s.args))
	}
	f.Fuzz(func(t *testing.T, tmpl string, args []byte) {
		text, err := yaml.Marshal(map[string]any{"upstreams": []map[string]any{{"name": "u", "command": []string{"x"}, "resource": tmpl}}})
		if err != nil {
			return
		}
		c, err := ParseConfig("gw.yaml", text)
		if err != nil {
			return
		}
		checkResource(t, &c.Upstreams[0], json.RawMessage(args))
	})
}

func checkResource(t *testing.T, u *Upstream, args json.RawMessage) {
	t.Helper()
	r1, err1 := u.resourceFor(args)
	r2, err2 := u.resourceFor(args)
	if r1 != r2 || (err1 == nil) != (err2 == nil) {
		t.Fatalf("template %q over %q: %q (%v), then %q (%v)", u.Resource, args, r1, err1, r2, err2)
	}
	if err1 != nil {
		return
	}
	if u.resource != nil && len(args) > 0 && !json.Valid(args) {
		t.Fatalf("template %q applied to invalid JSON %q", u.Resource, args)
	}
	if r1 == "" || len(r1) > 1024 {
		t.Fatalf("template %q over %q: resource of %d bytes", u.Resource, args, len(r1))
	}
}

// FuzzCallIDs: resumeKey is 64 hex digits, the same for the same call,
// the same for arguments that differ only in form (member order, white
// space, escapes, number spelling), and different when a byte moves from
// one of principal, upstream, tool to the next. traceID is empty or the
// lowercased, non-zero 32-hex trace id of a traceparent.
func FuzzCallIDs(f *testing.F) {
	f.Add("alice", "fs", "read", []byte(`{"path":"/tmp/a","n":1}`), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("a", "b", "c", []byte(`{"b":[1.0,2e0,"\u00e9<"],"a":{"y":null,"x":true}}`), "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	f.Add("", "", "", []byte(nil), "")
	f.Add("p", "u", "t", []byte(`{"a":1,"a":2}`), "00-4BF92F3577B34DA6A3CE929D0E0E4736-x-01")
	f.Add("p", "u:", "t", []byte(`[9007199254740993, 1e400]`), "---")
	f.Add("p\x00", "u", "t", []byte(` "\ud800" `), "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Fuzz(func(t *testing.T, principal, upstream, tool string, args []byte, traceparent string) {
		checkTraceID(t, traceparent)
		k1, err := resumeKey(principal, upstream, tool, args)
		if err != nil {
			return
		}
		if k2, _ := resumeKey(principal, upstream, tool, args); k2 != k1 {
			t.Fatalf("two keys for one call: %s %s", k1, k2)
		}
		if b, err := hex.DecodeString(k1); err != nil || len(b) != 32 {
			t.Fatalf("key %q", k1)
		}
		if len(args) > 0 {
			for _, other := range reformat(t, args) {
				if k2, err := resumeKey(principal, upstream, tool, other); err != nil || k2 != k1 {
					t.Fatalf("arguments %q and %q: keys %s and %s (%v)", args, other, k1, k2, err)
				}
			}
		}
		if upstream != "" {
			if k2, _ := resumeKey(principal+upstream[:1], upstream[1:], tool, args); k2 == k1 {
				t.Fatalf("(%q, %q) and (%q, %q) share a key", principal, upstream, principal+upstream[:1], upstream[1:])
			}
		}
		if tool != "" {
			if k2, _ := resumeKey(principal, upstream+tool[:1], tool[1:], args); k2 == k1 {
				t.Fatalf("(%q, %q) and (%q, %q) share a key", upstream, tool, upstream+tool[:1], tool[1:])
			}
		}
	})
}

// reformat writes args again in other forms with the same meaning: decoded
// and re-encoded by encoding/json (members sorted, HTML escaped, numbers
// as written), and indented.
func reformat(t *testing.T, args []byte) [][]byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("canonicalised %q, which encoding/json cannot read: %v", args, err)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, args, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return [][]byte{enc, ind.Bytes()}
}

func checkTraceID(t *testing.T, traceparent string) {
	t.Helper()
	id := traceID(map[string]any{"traceparent": traceparent})
	if id == "" {
		return
	}
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || id != strings.ToLower(id) || id == strings.Repeat("0", 32) ||
		!strings.Contains(strings.ToLower(traceparent), id) {
		t.Fatalf("traceparent %q: trace id %q", traceparent, id)
	}
	if traceID(map[string]any{"traceparent": []byte(traceparent)}) != "" {
		t.Fatal("a traceparent that is not a string gave a trace id")
	}
}

// yamlLines counts lines as YAML does: CR LF, CR, LF, NEL, LS and PS
// break lines.
func yamlLines(text []byte) int {
	s := strings.ReplaceAll(string(text), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
