// Package cairn holds the domain of the Cairn control plane: the types every
// other package speaks (jobs, decisions, approvals, evidence events, policy
// snapshots, keys), the store interface the persistence packages implement,
// and the small set of error codes that the HTTP layer maps to statuses in
// one place.
//
// Technology lives in sub-packages named after it: sqlite (the embedded
// store), policy (YAML bundles + CEL), scan (output safety), ledger
// (canonical JSON, leaf hashes), http (the API), client (the Go SDK).
package cairn

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each maps to exactly one HTTP status in the http package.
const (
	EInvalid      = "invalid_input"      // 400
	EUnauthorized = "unauthorized"       // 401
	EForbidden    = "forbidden"          // 403
	ENotFound     = "not_found"          // 404
	EConflict     = "conflict"           // 409
	ETooLarge     = "body_too_large"     // 413
	EPolicy       = "policy_invalid"     // 422
	EUnavailable  = "unavailable"        // 503
	EInternal     = "internal_error"     // 500
	ETooMany      = "too_many_requests"  // 429
	ETimeout      = "request_timeout"    // 408
	EUnsupported  = "unsupported_media"  // 415
	EMethod       = "method_not_allowed" // 405
)

// Specific codes. Each code has exactly one HTTP status, given by the http
// package (http.StatusOf); the comments say which.
const (
	CodeJobHashMismatch         = "job_hash_mismatch"         // 409
	CodeSelfApprovalForbidden   = "self_approval_forbidden"   // 403
	CodeApprovalAlreadyResolved = "approval_already_resolved" // 409
	CodeApprovalExpired         = "approval_expired"          // 409
	CodeJobConflict             = "job_id_conflict"           // 409
	CodeOutputQuarantined       = "output_quarantined"        // 403
	CodeRoleNotAllowed          = "approver_role_not_allowed" // 403
	CodeLeaseInvalid            = "lease_invalid"             // 409
	CodeNoApprovalPending       = "approval_not_found"        // 404
	CodeKeyRevoked              = "key_revoked"               // 401
	CodeInvalidCursor           = "invalid_cursor"            // 400
	// CodeLedgerTruncated: the store's ledger is shorter than a checkpoint
	// it signed (entries were removed). An integrity failure that no retry
	// cures: the store must be restored.
	CodeLedgerTruncated = "ledger_truncated" // 500
	// CodeOutcomeUnknown: the connection to the database was lost during
	// COMMIT, so whether the write took effect is unknown. Read to find
	// out; a request that is idempotent may be sent again.
	CodeOutcomeUnknown = "commit_outcome_unknown" // 504
	// CodePrincipalCase: a key whose principal differs from an existing
	// principal of its tenant by case only.
	CodePrincipalCase = "principal_case_conflict" // 409
	// CodeRunNotOwned: a job for a run another principal started.
	CodeRunNotOwned = "run_not_owned" // 403
	// CodeJobNotOpen: a cancel of a job that is no longer open, or that a
	// workflow run's engine owns.
	CodeJobNotOpen = "job_not_open" // 409
	// CodeErased: the payload was erased (crypto-shredded); ledger_index
	// names the erasure event (docs/data-protection.md).
	CodeErased = "erased" // 410
	// CodePayloadAccessDenied: the tenant lets only some roles read
	// payloads, and the caller has none of them; the hashes stay readable.
	CodePayloadAccessDenied = "payload_access_denied" // 403
	// CodeLegalHold: an erasure (or another removal) that touches data
	// under an active legal hold; the message names the hold.
	CodeLegalHold = "legal_hold" // 409
	// CodePrunedByRetention: what was asked for existed but a retention
	// compaction removed it; Error.LedgerIndex names the
	// retention_compacted event (retention.go).
	CodePrunedByRetention = "pruned_by_retention" // 410
)

// Error is the one error type that crosses package boundaries with meaning.
// Code is stable and machine-readable, and alone decides the HTTP status
// (http.StatusOf); Field names the offending input where there is one.
type Error struct {
	Code    string // stable snake_case code
	Message string // for people; never contains secrets or payloads
	Field   string // offending field or line, if any
	Line    int    // line in a policy bundle, if any
	// Cause is the underlying error, for logs only (never sent to clients).
	Cause error
	// RetryAfter, when set, is how long the caller should wait before
	// retrying (HTTP Retry-After).
	RetryAfter time.Duration
	// LedgerIndex, when set, names a ledger entry the error refers to (for
	// pruned_by_retention, the retention_compacted event; for erased, the
	// erasure event).
	LedgerIndex *uint64
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf builds an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is invalid_input (400) naming the field that is wrong.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound is not_found (404).
func NotFound(format string, args ...any) *Error {
	return &Error{Code: ENotFound, Message: fmt.Sprintf(format, args...)}
}

// Forbidden is an error with the given code (forbidden or a refinement of it, 403).
func Forbidden(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Conflict is an error with the given code (conflict or a refinement of it, 409).
func Conflict(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EInternal for errors without one.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// IsNotFound reports whether err says that what was asked for does not
// exist (a 404).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == ENotFound || e.Code == CodeNoApprovalPending)
}

// Roles a key may carry.
const (
	RoleAgent       = "agent"
	RoleWorker      = "worker"
	RoleApprover    = "approver"
	RolePolicyAdmin = "policy_admin"
	RoleAuditor     = "auditor"
	RoleAdmin       = "admin"
)

// AllRoles lists every valid role.
var AllRoles = []string{RoleAgent, RoleWorker, RoleApprover, RolePolicyAdmin, RoleAuditor, RoleAdmin}

// Principal kinds.
const (
	KindHuman   = "human"
	KindAgent   = "agent"
	KindService = "service"
)

// Principal is who is calling: resolved from an API key.
type Principal struct {
	Tenant string   `json:"tenant"`
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Roles  []string `json:"roles"`
	KeyID  string   `json:"key_id"`
}

// Has reports whether p holds role r. admin holds every role.
func (p Principal) Has(r string) bool {
	for _, x := range p.Roles {
		if x == r || x == RoleAdmin {
			return true
		}
	}
	return false
}

// HasAny reports whether p holds any of the roles.
func (p Principal) HasAny(rs ...string) bool {
	for _, r := range rs {
		if p.Has(r) {
			return true
		}
	}
	return false
}

// Key is a stored API key. The secret itself is never stored; Hash is the
// SHA-256 of it.
type Key struct {
	KeyID     string     `json:"key_id"`
	Tenant    string     `json:"tenant"`
	Principal string     `json:"principal"`
	Kind      string     `json:"kind"`
	Roles     []string   `json:"roles"`
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at"`

	Seq int64 `json:"-"`
}

// Now is the clock, in UTC. Tests may replace it.
var Now = func() time.Time { return time.Now().UTC() }

// Timestamp formats t as RFC 3339 in UTC with a Z suffix.
func Timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
