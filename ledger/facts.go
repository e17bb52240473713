package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cairnhq/cairn/ledger/internal/jsonread"
)

// EntryFacts is what evidence checks need from an entry body: the envelope
// and the members of the event that other records are cross-checked with.
// ParseEntry extracts them; the body stays the authority.
type EntryFacts struct {
	Tenant   string
	Index    uint64
	PrevHash string
	Event    EventFacts
}

// EventFacts are the checked members of a ledger event (see docs/evidence.md
// for the event shapes). Absent or null strings are "".
type EventFacts struct {
	Type           string
	JobID          string
	RunID          string
	Decision       string
	PolicyRuleID   string
	PolicySnapshot string
	JobHash        string
	Resolution     string
	ResolvedBy     string
	State          string
	// OutputSafety is output_safety.decision.
	OutputSafety string

	// Job is data.job of job_submitted.
	Job *SubmittedJob
	// DecisionRecord is data.decision of policy_decided.
	DecisionRecord *DecisionFacts
	// Approval is data.approval of approval_requested.
	Approval *ApprovalFacts
	// Audit is data.audit of policy_published / policy_rolled_back.
	Audit *AuditFacts
	// ResultPtr and ResultSHA256 are data.result_ptr / data.result_sha256 of
	// job_completed.
	ResultPtr    string
	ResultSHA256 string
}

// SubmittedJob is data.job of a job_submitted event (JobSubmitted): the
// job_hash projection without its input (which is the context payload),
// plus pointers. Every member is present; absent identifiers are null.
type SubmittedJob struct {
	Tenant         string            `json:"tenant"`
	JobID          string            `json:"job_id"`
	RunID          Opt               `json:"run_id"`
	WorkflowStepID Opt               `json:"workflow_step_id"`
	Action         string            `json:"action"`
	Resource       Opt               `json:"resource"`
	Labels         map[string]string `json:"labels"`
	RiskTags       []string          `json:"risk_tags"`
	SubmittedBy    string            `json:"submitted_by"`
	TraceID        string            `json:"trace_id"`
	ContextPtr     string            `json:"context_ptr"`
	ContextSHA256  string            `json:"context_sha256"`
}

// HashInput returns the job_hash projection of the job with the given input
// (nil: absent).
func (j *SubmittedJob) HashInput(input []byte) JobHashInput {
	return JobHashInput{
		Tenant: j.Tenant, JobID: j.JobID, RunID: string(j.RunID), WorkflowStepID: string(j.WorkflowStepID),
		Action: j.Action, Resource: string(j.Resource), Labels: j.Labels, RiskTags: j.RiskTags,
		Input: input, SubmittedBy: j.SubmittedBy,
	}
}

// DecisionFacts is the checked part of data.decision of policy_decided
// (a reader's PolicyDecided[DecisionFacts]).
type DecisionFacts struct {
	DecisionID     string `json:"decision_id"`
	JobID          string `json:"job_id"`
	Phase          string `json:"phase"`
	Decision       string `json:"decision"`
	PolicyRuleID   string `json:"policy_rule_id"`
	PolicySnapshot string `json:"policy_snapshot"`
	JobHash        string `json:"job_hash"`
}

// ApprovalFacts is the checked part of data.approval of approval_requested
// (a reader's ApprovalRequested[ApprovalFacts]).
type ApprovalFacts struct {
	ApprovalID     string `json:"approval_id"`
	JobID          string `json:"job_id"`
	PolicySnapshot string `json:"policy_snapshot"`
	JobHash        string `json:"job_hash"`
}

// AuditFacts is the checked part of data.audit of a policy publish/rollback
// (a reader's PolicyChanged[AuditFacts]).
type AuditFacts struct {
	AuditID        string `json:"audit_id"`
	Action         string `json:"action"`
	SnapshotBefore string `json:"snapshot_before"`
	SnapshotAfter  string `json:"snapshot_after"`
}

// ErrBody is wrapped by ParseEntry errors.
var ErrBody = errors.New("malformed entry body")

// ParseEntry extracts the EntryFacts of an entry body. The body must be one
// JSON value (RFC 8259, UTF-8): an object with members tenant (string),
// index (non-negative integer), prev_hash (string) and event (an object
// with a non-empty string type). Member names match exactly; a member that
// ParseEntry reads must not be repeated. The event members it reads are
// strings or null; data.job, data.decision, data.approval and data.audit are
// read only for job_submitted, policy_decided, approval_requested and
// policy_published / policy_rolled_back events respectively, and only when
// they are objects. Everything else is validated as JSON and skipped.
func ParseEntry(body []byte) (*EntryFacts, error) {
	r, err := jsonread.NewReader(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBody, err)
	}
	r.Words = words
	f := &EntryFacts{}
	if err := parseEntryInto(r, f); err != nil {
		return nil, err
	}
	return f, nil
}

// ParseEntryString is ParseEntry on a body held as a string (as in a
// Bundle), into f.
func ParseEntryString(body string, f *EntryFacts) error {
	*f = EntryFacts{}
	r, err := jsonread.NewStringReader(body)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBody, err)
	}
	r.Words = words
	return parseEntryInto(r, f)
}

// LeafHashString is LeafHash of a body held as a string.
func LeafHashString(body string) [32]byte {
	p := leafBufs.Get().(*[]byte)
	b := append(append((*p)[:0], 0), body...)
	sum := sha256.Sum256(b)
	*p = b
	leafBufs.Put(p)
	return sum
}

// leafBufs hold the leaf hash input of LeafHashString.
var leafBufs = sync.Pool{New: func() any { return new([]byte) }}

// SnapshotRefs returns the policy snapshot ids the event refers to, in a
// fixed order, without duplicates or empty ids.
func (e *EventFacts) SnapshotRefs() []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	add(e.PolicySnapshot)
	if e.DecisionRecord != nil {
		add(e.DecisionRecord.PolicySnapshot)
	}
	if e.Approval != nil {
		add(e.Approval.PolicySnapshot)
	}
	if e.Audit != nil {
		add(e.Audit.SnapshotBefore)
		add(e.Audit.SnapshotAfter)
	}
	return out
}

// SnapshotDigest returns the hex SHA-256 a policy snapshot id names:
// "cfg:<scope>:policy#sha256:<64 lowercase hex>".
func SnapshotDigest(id string) (string, error) {
	const mark = ":policy#sha256:"
	i := strings.LastIndex(id, mark)
	if !strings.HasPrefix(id, "cfg:") || i < len("cfg:") {
		return "", fmt.Errorf("ledger: %q is not a policy snapshot id", id)
	}
	hex := id[i+len(mark):]
	if !isHex64(hex) {
		return "", fmt.Errorf("ledger: %q is not a policy snapshot id", id)
	}
	return hex, nil
}

// SnapshotID returns the system policy snapshot id of exact policy bytes.
func SnapshotID(text []byte) string { return "cfg:system:policy#sha256:" + SHA256Hex(text) }

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
