package service

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cairnhq/cairn"
)

// validID checks a client-chosen identifier: 1..256 bytes of
// [A-Za-z0-9._:@-], not starting with '.' or '-'. Slashes, quotes, spaces and
// control characters are refused so ids are safe in paths, logs and SQL.
func validID(field, s string) error {
	if s == "" {
		return cairn.Invalid(field, "must not be empty")
	}
	if len(s) > MaxIDBytes {
		return cairn.Invalid(field, "is %d bytes; the maximum is %d", len(s), MaxIDBytes)
	}
	if s[0] == '.' || s[0] == '-' {
		return cairn.Invalid(field, "must not start with %q", s[0])
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !idBytes[c] {
			return cairn.Invalid(field, "contains %q at byte %d; allowed are letters, digits and . _ : @ -", c, i)
		}
	}
	return nil
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// idBytes and actionBytes mark the bytes an id and an action may hold.
var (
	idBytes     = byteSet(alnum + "._:@-")
	actionBytes = byteSet(alnum + "._:-/")
)

func byteSet(s string) (t [256]bool) {
	for i := 0; i < len(s); i++ {
		t[s[i]] = true
	}
	return t
}

// validAction allows ids plus '/' (e.g. "github/merge"), but no "..".
func validAction(s string) error {
	if s == "" {
		return cairn.Invalid("action", "is required")
	}
	if len(s) > MaxIDBytes {
		return cairn.Invalid("action", "is %d bytes; the maximum is %d", len(s), MaxIDBytes)
	}
	if strings.Contains(s, "..") || strings.HasPrefix(s, "/") {
		return cairn.Invalid("action", "must not contain '..' or start with '/'")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !actionBytes[c] {
			return cairn.Invalid("action", "contains %q at byte %d; allowed are letters, digits and . _ : - /", c, i)
		}
	}
	return nil
}

// validText checks free text: valid UTF-8, no control or bidi-override characters, bounded.
func validText(field, s string, max int) error {
	if len(s) > max {
		return cairn.Invalid(field, "is %d bytes; the maximum is %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return cairn.Invalid(field, "is not valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) && r != '\t' && r != '\n' {
			return cairn.Invalid(field, "contains control character U+%04X at byte %d", r, i)
		}
	}
	return nil
}

func validLabelKey(field, k string) error {
	if k == "" || len(k) > 63 {
		return cairn.Invalid(field, "keys must be 1..63 bytes")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/' {
			continue
		}
		return cairn.Invalid(field, "key %q contains %q; allowed are letters, digits and . _ - /", truncate(k, 64), c)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// validSubmitLease checks a submit's lease request for the principal
// that takes the lease, fills in its worker id, and returns the lease's
// duration.
func validSubmitLease(exec cairn.Principal, p cairn.Principal, req *cairn.SubmitRequest) (time.Duration, error) {
	l := req.Lease
	if l == nil {
		return 0, nil
	}
	if exec.Tenant != p.Tenant {
		return 0, cairn.Forbidden(cairn.EForbidden, "the executor key belongs to another tenant")
	}
	if !exec.Has(cairn.RoleWorker) {
		return 0, cairn.Forbidden(cairn.EForbidden, "a lease at submit needs the worker role (principal %q)", exec.ID)
	}
	if req.Executor != "" && req.Executor != exec.ID {
		return 0, cairn.Invalid("lease", "the job's executor is %q: only that principal may lease it", req.Executor)
	}
	if l.WorkerID == "" {
		l.WorkerID = exec.ID
	}
	if err := validID("lease.worker_id", l.WorkerID); err != nil {
		return 0, err
	}
	if l.LeaseMS == 0 {
		return DefaultLease, nil
	}
	if l.LeaseMS < 1000 || l.LeaseMS > int(MaxLease.Milliseconds()) {
		return 0, cairn.Invalid("lease.lease_ms", "must be from 1000 to %d", MaxLease.Milliseconds())
	}
	return time.Duration(l.LeaseMS) * time.Millisecond, nil
}

// normalizeSubmit validates a submit request in place and sorts risk tags.
func normalizeSubmit(req *cairn.SubmitRequest) error {
	for _, id := range []struct{ field, value string }{
		{"executor", req.Executor}, {"job_id", req.JobID}, {"run_id", req.RunID},
		{"workflow_step_id", req.WorkflowStepID}, {"trace_id", req.TraceID},
	} {
		if id.value == "" {
			continue
		}
		if err := validID(id.field, id.value); err != nil {
			return err
		}
	}
	if err := validAction(req.Action); err != nil {
		return err
	}
	if err := validText("resource", req.Resource, 1024); err != nil {
		return err
	}
	if err := validLabels(req.Labels); err != nil {
		return err
	}
	if err := sortRiskTags(req.RiskTags); err != nil {
		return err
	}
	return normalizeSubmitInput(req)
}

// validLabels checks a submit's labels: how many, their keys and values.
func validLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return cairn.Invalid("labels", "has %d labels; the maximum is %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		if err := validLabelKey("labels", k); err != nil {
			return err
		}
		if err := validText("labels."+k, v, 256); err != nil {
			return err
		}
	}
	return nil
}

// sortRiskTags checks a submit's risk tags and sorts them in place; a tag
// may appear once.
func sortRiskTags(tags []string) error {
	if len(tags) > MaxRiskTags {
		return cairn.Invalid("risk_tags", "has %d tags; the maximum is %d", len(tags), MaxRiskTags)
	}
	for i, t := range tags {
		if err := validLabelKey(fmt.Sprintf("risk_tags[%d]", i), t); err != nil {
			return err
		}
	}
	sort.Strings(tags)
	for i := 1; i < len(tags); i++ {
		if tags[i] == tags[i-1] {
			return cairn.Invalid("risk_tags", "tag %q appears twice", tags[i])
		}
	}
	return nil
}

// normalizeSubmitInput checks a submit's input: bounded, valid JSON with numbers
// JSON holds exactly; a JSON null becomes no input.
func normalizeSubmitInput(req *cairn.SubmitRequest) error {
	if len(req.Input) > MaxInputBytes {
		return cairn.Invalid("input", "is %d bytes; the maximum is %d", len(req.Input), MaxInputBytes)
	}
	if len(req.Input) == 0 {
		return nil
	}
	if bytes.Equal(bytes.TrimSpace(req.Input), []byte("null")) {
		req.Input = nil
		return nil
	}
	if !json.Valid(req.Input) {
		return cairn.Invalid("input", "is not valid JSON")
	}
	return exactNumbers("input", req.Input)
}

// traceIDFrom extracts the trace-id of a W3C traceparent header, if valid.
func traceIDFrom(traceparent string) string {
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) != 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return ""
	}
	id := strings.ToLower(parts[1])
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	if id == strings.Repeat("0", 32) {
		return ""
	}
	return id
}

// PageLimit validates a limit: 0 means the default; 1..1000 otherwise.
func PageLimit(raw string) (int, error) {
	if raw == "" {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxPageLimit {
		return 0, cairn.Invalid("limit", "must be an integer from 1 to %d", MaxPageLimit)
	}
	return n, nil
}

// EncodeCursor makes an opaque cursor from a keyset position.
func EncodeCursor(kind string, pos int64) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte("v1:" + kind + ":" + strconv.FormatInt(pos, 10)))
	return &s
}

// DecodeCursor parses a cursor made by EncodeCursor for the same list kind.
func DecodeCursor(kind, raw string) (int64, error) {
	if raw == "" {
		return 0, nil
	}
	bad := &cairn.Error{Code: cairn.CodeInvalidCursor, Field: "cursor", Message: "cursor is not one this list issued"}
	if len(raw) > 128 {
		return 0, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return 0, bad
	}
	rest, ok := strings.CutPrefix(string(b), "v1:"+kind+":")
	if !ok {
		return 0, bad
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 {
		return 0, bad
	}
	return n, nil
}

// ParseTime parses an RFC 3339 query parameter.
func ParseTime(field, raw string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, cairn.Invalid(field, "must be an RFC 3339 timestamp such as 2026-04-01T14:10:32Z")
	}
	return t.UTC(), nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// isLowerHex64 reports whether s is 64 lowercase hex characters (a SHA-256).
func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
