package claudehook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The hook events the hook handles.
const (
	PreToolUse         = "PreToolUse"
	PostToolUse        = "PostToolUse"
	PostToolUseFailure = "PostToolUseFailure"
)

// MaxEventBytes bounds the hook input read from stdin. Claude Code truncates
// tool output long before this; a larger event is refused.
const MaxEventBytes = 8 << 20

// maxIDBytes is the longest id or action the Cairn API accepts.
const maxIDBytes = 256

// Event is the JSON Claude Code writes on a command hook's stdin for a tool
// event. Fields the hook does not use are ignored.
type Event struct {
	SessionID      string          `json:"session_id"`
	TranscriptPath string          `json:"transcript_path"`
	Cwd            string          `json:"cwd"`
	PermissionMode string          `json:"permission_mode"`
	HookEventName  string          `json:"hook_event_name"`
	ToolName       string          `json:"tool_name"`
	ToolInput      json.RawMessage `json:"tool_input"`
	ToolUseID      string          `json:"tool_use_id"`
	ToolResponse   json.RawMessage `json:"tool_response"`
	// Error is what a PostToolUseFailure event says went wrong.
	Error json.RawMessage `json:"error"`
}

// ReadEvent reads one hook event from r: at most MaxEventBytes of a single
// JSON object with the fields its event needs.
func ReadEvent(r io.Reader) (*Event, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	if len(raw) > MaxEventBytes {
		return nil, fmt.Errorf("the hook input exceeds %d bytes", MaxEventBytes)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("the hook input is empty; Claude Code sends the event as JSON on stdin")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var ev Event
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("the hook input is not a JSON event: %v", err)
	}
	if dec.More() {
		return nil, errors.New("the hook input has data after the JSON event")
	}
	return &ev, ev.validate()
}

// validate checks the fields the hook relies on.
func (ev *Event) validate() error {
	switch ev.HookEventName {
	case PreToolUse, PostToolUse, PostToolUseFailure:
	case "":
		return errors.New("hook_event_name is missing")
	default:
		return fmt.Errorf("hook_event_name %q is not a tool event this hook handles (PreToolUse, PostToolUse, PostToolUseFailure)", clip(ev.HookEventName, 64))
	}
	for _, f := range []struct{ name, v string }{{"session_id", ev.SessionID}, {"tool_name", ev.ToolName}, {"tool_use_id", ev.ToolUseID}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("%s is missing", f.name)
		}
	}
	if !present(ev.ToolInput) || bytes.Equal(bytes.TrimSpace(ev.ToolInput), []byte("null")) {
		return errors.New("tool_input is missing")
	}
	if bytes.TrimSpace(ev.ToolInput)[0] != '{' {
		return errors.New("tool_input is not a JSON object")
	}
	if ev.HookEventName == PostToolUse && !present(ev.ToolResponse) {
		return errors.New("tool_response is missing from a PostToolUse event")
	}
	return nil
}

func present(raw json.RawMessage) bool { return len(bytes.TrimSpace(raw)) > 0 }

// Action is the Cairn action of the tool use: "claude." and the tool name.
// A name that is not a valid action as is (Claude Code's and MCP tools'
// names are) has its other bytes replaced by '_' and a short hash of the
// original appended, so distinct tools stay distinct.
func (ev *Event) Action() string {
	return sanitize("claude."+ev.ToolName, ev.ToolName, actionByte, true)
}

// RunID is the Cairn run of the tool use: the Claude Code session id.
func (ev *Event) RunID() string {
	id := ev.SessionID
	if id[0] == '.' || id[0] == '-' {
		id = "s" + id
	}
	return sanitize(id, ev.SessionID, idByte, false)
}

// JobID is the Cairn job of the tool use, derived from the tool use id
// alone, so running the hook again for the same tool use names the same job.
func (ev *Event) JobID() string {
	return sanitize("claude-"+ev.ToolUseID, ev.ToolUseID, idByte, false)
}

// sanitize returns s when every byte is allowed (and, for actions, there is
// no ".."), else s with each disallowed byte replaced by '_', cut to fit,
// and "-" plus 8 hex digits of SHA-256(orig) appended.
func sanitize(s, orig string, allowed func(byte) bool, action bool) string {
	if ok(s, allowed, action) && len(s) <= maxIDBytes {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !allowed(c) || action && c == '.' && i > 0 && b[i-1] == '.' {
			b[i] = '_'
		}
	}
	sum := sha256.Sum256([]byte(orig))
	suffix := "-" + hex.EncodeToString(sum[:4])
	if len(b) > maxIDBytes-len(suffix) {
		b = b[:maxIDBytes-len(suffix)]
	}
	return string(b) + suffix
}

func ok(s string, allowed func(byte) bool, action bool) bool {
	if action && strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !allowed(s[i]) {
			return false
		}
	}
	return true
}

// idByte is a byte Cairn allows in ids: [A-Za-z0-9._:@-].
func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '@' || c == '-'
}

// actionByte is a byte Cairn allows in actions: [A-Za-z0-9._:/-].
func actionByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-' || c == '/'
}

// clip cuts s to at most n bytes for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
