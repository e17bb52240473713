package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"

	"github.com/cairnhq/cairn/ledger/internal/jsonread"
)

// ComputeJobHash returns the same value as JobHash(j.HashInput(input)).
// Verification recomputes one job_hash per job. Its errors are its own:
// "input is not valid JSON", then jcs.Transform's error on input, then a
// label repeated once invalid UTF-8 is replaced.
func (j *SubmittedJob) ComputeJobHash(input []byte) (string, error) {
	p := j.HashInput(input)
	if h, ok := jobHashFast(p); ok {
		return h, nil
	}
	// Anything unusual (and every error) takes the reference path.
	if len(input) > 0 {
		if !jsonread.ValidJSON(input) {
			return "", fmt.Errorf("ledger: input is not valid JSON")
		}
		if _, err := jcs.Transform(input); err != nil {
			return "", err
		}
	}
	if k, ok := duplicateLabel(j.Labels); ok {
		return "", fmt.Errorf("ledger: duplicate label %q after UTF-8 repair", k)
	}
	return jobHashReference(p)
}

// jobHashDoc is the job_hash projection (see jobHashReference) for
// encoding/json: an absent string is a nil pointer (null), an absent input
// a nil RawMessage (null). The fields are in RFC 8785 order, so that
// jsontext need not reorder them.
type jobHashDoc struct {
	Action         *string           `json:"action"`
	Input          json.RawMessage   `json:"input"`
	JobID          *string           `json:"job_id"`
	Labels         map[string]string `json:"labels"`
	Resource       *string           `json:"resource"`
	RiskTags       []string          `json:"risk_tags"`
	RunID          *string           `json:"run_id"`
	SubmittedBy    *string           `json:"submitted_by"`
	Tenant         *string           `json:"tenant"`
	WorkflowStepID *string           `json:"workflow_step_id"`
}

var noLabels = map[string]string{} // never written to

// jobHashFast computes JobHash by encoding/json and jsontext (see
// marshalCanonical); ok is false when the result might differ from
// jobHashReference's, every error among those.
func jobHashFast(in JobHashInput) (string, bool) {
	opt := func(s *string) *string {
		if *s == "" {
			return nil
		}
		return s
	}
	doc := jobHashDoc{
		Tenant: opt(&in.Tenant), JobID: opt(&in.JobID), RunID: opt(&in.RunID), WorkflowStepID: opt(&in.WorkflowStepID),
		Action: opt(&in.Action), Resource: opt(&in.Resource), Labels: in.Labels, SubmittedBy: opt(&in.SubmittedBy),
	}
	if doc.Labels == nil {
		doc.Labels = noLabels
	}
	doc.RiskTags = append(make([]string, 0, len(in.RiskTags)), in.RiskTags...)
	sort.Strings(doc.RiskTags) // as jobHashReference: byte order, then kept as an array
	if len(in.Input) > 0 {
		doc.Input = in.Input
	}
	b, ok := marshalCanonical(&doc)
	if !ok {
		return "", false
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), true
}

// duplicateLabel returns the first (in RFC 8785 order) label name that
// two names share once each invalid UTF-8 byte is replaced by U+FFFD, as
// encoding/json does. It only names the label in ComputeJobHash's error.
func duplicateLabel(labels map[string]string) (string, bool) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, validUTF8(k))
	}
	slices.SortFunc(keys, compareUTF16)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			return keys[i], true
		}
	}
	return "", false
}

// validUTF8 replaces each invalid byte by U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r) // RuneError for an invalid byte (n == 1)
		i += n
	}
	return string(b)
}

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785 member
// order).
func compareUTF16(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}
