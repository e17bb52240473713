package claudehook

// Answer is the JSON a command hook prints on stdout (with exit code 0) for
// Claude Code to read. PreToolUse answers carry a permission decision in
// HookSpecificOutput; PostToolUse answers may block (Claude is shown Reason)
// and may add context for Claude.
type Answer struct {
	Decision string    `json:"decision,omitempty"` // PostToolUse: "block"
	Reason   string    `json:"reason,omitempty"`
	Specific *Specific `json:"hookSpecificOutput,omitempty"`
}

// Specific is the hookSpecificOutput member of an answer.
type Specific struct {
	HookEventName            string `json:"hookEventName"`
	PermissionDecision       string `json:"permissionDecision,omitempty"` // allow | deny | ask
	PermissionDecisionReason string `json:"permissionDecisionReason,omitempty"`
	AdditionalContext        string `json:"additionalContext,omitempty"`
}

// The permission decisions of a PreToolUse answer.
const (
	Allow = "allow"
	Deny  = "deny"
	Ask   = "ask"
)

// Permission is the PreToolUse decision of an answer, or "".
func (a Answer) Permission() string {
	if a.Specific == nil {
		return ""
	}
	return a.Specific.PermissionDecision
}

func permit(decision, reason string) Answer {
	return Answer{Specific: &Specific{HookEventName: PreToolUse, PermissionDecision: decision, PermissionDecisionReason: reason}}
}

func allow(reason string) Answer { return permit(Allow, reason) }
func deny(reason string) Answer  { return permit(Deny, reason) }
func ask(reason string) Answer   { return permit(Ask, reason) }

// block tells Claude, after the tool ran, that its output must not be used.
// PostToolUseFailure has no block; its answer carries the reason as context.
func block(event, reason string) Answer {
	if event == PostToolUseFailure {
		return note(event, reason)
	}
	return Answer{Decision: "block", Reason: reason}
}

// note adds context for Claude after the tool ran.
func note(event, text string) Answer {
	return Answer{Specific: &Specific{HookEventName: event, AdditionalContext: text}}
}

// quiet is an answer that changes nothing.
func quiet() Answer { return Answer{} }
