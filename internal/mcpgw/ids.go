package mcpgw

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/cairnhq/cairn/ledger"
)

// Version is the gateway's MCP implementation version.
const Version = "1.0.0"

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newJobID() string     { return "mcp-" + randomHex(12) }
func newSessionID() string { return "s" + randomHex(12) }

// resumeKey identifies "the identical call" of one principal: upstream,
// tool and the RFC 8785 canonical form of the arguments.
func resumeKey(principal, upstream, tool string, args json.RawMessage) (string, error) {
	canon := []byte("null")
	if len(args) > 0 {
		var err error
		if canon, err = ledger.Canonical(args); err != nil {
			return "", err
		}
	}
	h := sha256.New()
	for _, s := range []string{principal, upstream, tool} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pendingCalls remembers, per identical call, the job that waits for its
// approval (or was approved and has not run yet), so that the call made
// again resumes it instead of asking a human twice. The key includes the
// principal: no client resumes another principal's job.
type pendingCalls struct {
	mu   sync.Mutex
	jobs map[string]string
}

func (p *pendingCalls) lookup(key string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.jobs[key]
	return id, ok
}

func (p *pendingCalls) remember(key, jobID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jobs == nil {
		p.jobs = map[string]string{}
	}
	if len(p.jobs) >= maxPending {
		for k := range p.jobs { // forget an arbitrary one: the job itself stays pending in Cairn
			delete(p.jobs, k)
			break
		}
	}
	p.jobs[key] = jobID
}

func (p *pendingCalls) forget(key string) {
	if key == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.jobs, key)
}

// maxPending bounds the resume table.
const maxPending = 100000

// traceID takes the trace id of a W3C traceparent in a request's _meta.
func traceID(meta map[string]any) string {
	tp, _ := meta["traceparent"].(string)
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	if _, err := hex.DecodeString(parts[1]); err != nil || parts[1] == strings.Repeat("0", 32) {
		return ""
	}
	return strings.ToLower(parts[1])
}

// resourceFor renders the upstream's resource template over the call's
// arguments; the upstream's name when there is none or it renders empty.
func (u *Upstream) resourceFor(args json.RawMessage) (string, error) {
	if u.resource == nil {
		return u.Name, nil
	}
	var data any
	if len(args) > 0 {
		if err := json.Unmarshal(args, &data); err != nil {
			return "", fmt.Errorf("the arguments are not valid JSON: %v", err)
		}
	}
	var buf bytes.Buffer
	if err := u.resource.Execute(&limitedWriter{w: &buf, n: 1024}, data); err != nil {
		return "", fmt.Errorf("the resource template of upstream %q cannot be applied to these arguments: %v", u.Name, err)
	}
	if buf.Len() == 0 || buf.String() == "<no value>" {
		return u.Name, nil
	}
	return buf.String(), nil
}

// limitedWriter refuses output past n bytes: a resource is short.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, fmt.Errorf("the resource is longer than %d bytes", l.n)
	}
	return l.w.Write(p)
}

func hashKey(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}
