// Package ledger defines Cairn's evidence format: RFC 8785 (JCS) canonical
// JSON, the entry envelope and ledger leaf hashes (RFC 6962: SHA-256(0x00 ||
// canonical body)), the job_hash projection, the event vocabulary and the
// typed event data, and the reading of entry bodies (ParseEntry). The Merkle
// machinery (append kernel, proofs, checkpoints, witnesses, receipts, tiles)
// is package ledger/tree; evidence bundles are package ledger/bundle.
package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/gowebpki/jcs"
)

// Canonical returns the RFC 8785 canonical form of v marshalled as JSON.
//
// The result is that of jcs.Transform(json.Marshal(v)) (canonicalReference)
// and is computed by encoding/json and jsontext (marshalCanonical); where
// those fail or might differ from the reference (errors among others), the
// reference computes it.
func Canonical(v any) ([]byte, error) {
	if out, ok := marshalCanonical(v); ok {
		return out, nil
	}
	return canonicalReference(v)
}

// canonicalReference is Canonical as first written (and the definition of
// its result).
func canonicalReference(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// LeafHash is the RFC 6962 leaf hash of a canonical body.
func LeafHash(body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// HashHex is lowercase hex.
func HashHex(b [32]byte) string { return hex.EncodeToString(b[:]) }

// SHA256Hex is the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// JobHashInput is the projection whose canonical form job_hash hashes.
// Absent strings are null, labels is an object, risk_tags is sorted.
type JobHashInput struct {
	Tenant         string
	JobID          string
	RunID          string
	WorkflowStepID string
	Action         string
	Resource       string
	Labels         map[string]string
	RiskTags       []string
	Input          json.RawMessage // nil means absent
	SubmittedBy    string
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// JobHash returns the lowercase hex SHA-256 of the JCS form of the projection
// {tenant, job_id, run_id, workflow_step_id, action, resource, labels,
// risk_tags, input, submitted_by}.
func JobHash(in JobHashInput) (string, error) {
	// Anything out of the ordinary, errors included, takes the reference
	// path.
	if h, ok := jobHashFast(in); ok {
		return h, nil
	}
	return jobHashReference(in)
}

// jobHashReference is JobHash through encoding/json and jcs.Transform (the
// definition of its result and its errors).
func jobHashReference(in JobHashInput) (string, error) {
	labels := in.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	tags := append([]string{}, in.RiskTags...)
	sort.Strings(tags)
	var input any = nil
	if len(in.Input) > 0 {
		input = in.Input
	}
	obj := map[string]any{
		"tenant":           nullable(in.Tenant),
		"job_id":           nullable(in.JobID),
		"run_id":           nullable(in.RunID),
		"workflow_step_id": nullable(in.WorkflowStepID),
		"action":           nullable(in.Action),
		"resource":         nullable(in.Resource),
		"labels":           labels,
		"risk_tags":        tags,
		"input":            input,
		"submitted_by":     nullable(in.SubmittedBy),
	}
	b, err := canonicalReference(obj)
	if err != nil {
		return "", err
	}
	return SHA256Hex(b), nil
}

// Envelope is what a ledger leaf commits to: the tenant, the entry's
// 0-based index in the tenant's log, the previous entry's leaf hash (hex,
// "" for index 0), the event's position on its run's timeline (run_seq,
// absent when the event belongs to no run) and the evidence event itself.
// The leaf's body is the JCS canonical form of the envelope.
type Envelope struct {
	Tenant   string `json:"tenant"`
	Index    uint64 `json:"index"`
	PrevHash string `json:"prev_hash"`
	RunSeq   int64  `json:"run_seq,omitempty"`
	Event    any    `json:"event"`
}

// EntryBody returns the canonical body of an envelope.
func EntryBody(e Envelope) ([]byte, error) { return Canonical(e) }
