package verify

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The kinds of verification failure. Every *Error unwraps to one of them,
// so callers can test with errors.Is(err, verify.ErrLeafHash).
var (
	// ErrFormat: the bundle is structurally invalid (wrong format member,
	// malformed hex, duplicate records, a range outside the tree …).
	ErrFormat = errors.New("malformed bundle")
	// ErrKey: no usable log key (none trusted and none in the bundle, or unparsable).
	ErrKey = errors.New("no usable log key")
	// ErrSignature: the checkpoint is not signed by the log key, or its
	// signature or text is invalid.
	ErrSignature = errors.New("checkpoint signature not valid")
	// ErrOrigin: the checkpoint's origin differs from the bundle's or the
	// trusted checkpoint's.
	ErrOrigin = errors.New("origin mismatch")
	// ErrOrder: entries are not in strictly ascending index order.
	ErrOrder = errors.New("entries out of order")
	// ErrBeyond: an entry's index is not below the checkpoint's tree size.
	ErrBeyond = errors.New("entry beyond checkpoint")
	// ErrLeafHash: the entry's body does not hash to its leaf hash.
	ErrLeafHash = errors.New("leaf hash mismatch")
	// ErrBody: the entry's body is not a valid envelope.
	ErrBody = errors.New("malformed body")
	// ErrIndex: the body's index differs from the entry's position.
	ErrIndex = errors.New("index mismatch")
	// ErrTenant: a body (or a job in it) names another tenant.
	ErrTenant = errors.New("tenant mismatch")
	// ErrChain: the body's prev_hash is not the previous entry's leaf hash.
	ErrChain = errors.New("prev_hash chain broken")
	// ErrMissing: an entry inside the declared range is not in the bundle.
	ErrMissing = errors.New("entry missing")
	// ErrInclusion: an entry has no inclusion proof, or it does not verify.
	ErrInclusion = errors.New("inclusion proof failed")
	// ErrRoot: the root recomputed from the range does not match the checkpoint.
	ErrRoot = errors.New("root mismatch")
	// ErrTrustedCheckpoint: the trusted checkpoint does not open with the key.
	ErrTrustedCheckpoint = errors.New("trusted checkpoint not valid")
	// ErrTruncated: the checkpoint is smaller than the trusted one.
	ErrTruncated = errors.New("log truncated")
	// ErrConsistency: the checkpoint does not extend the trusted one.
	ErrConsistency = errors.New("consistency proof failed")
	// ErrWitness: fewer than Options.MinWitnesses distinct witnesses of
	// Options.WitnessKeys cosigned the checkpoint or the trusted checkpoint.
	ErrWitness = errors.New("witness cosignatures missing")
	// ErrPayload: a payload does not hash to its sha256, or its sha256 is not
	// the one the ledger committed to.
	ErrPayload = errors.New("payload mismatch")
	// ErrPolicy: a policy text does not hash to its snapshot id, or a
	// referenced snapshot's text is missing.
	ErrPolicy = errors.New("policy mismatch")
	// ErrWorkflow: a workflow definition text does not hash to its workflow
	// id or to the sha256 its workflow_registered entry recorded, its
	// name, version or tenant disagree with the id or the entry, or a
	// referenced workflow's text is missing.
	ErrWorkflow = errors.New("workflow mismatch")
	// ErrJobHash: a job_hash does not match its recomputed projection, or an
	// event binds a job to a different job_hash.
	ErrJobHash = errors.New("job_hash mismatch")
	// ErrProjection: a job row disagrees with the ledger evidence.
	ErrProjection = errors.New("job projection mismatch")
	// ErrPruned: a pruned entry carries a body, or names no
	// retention_compacted event that covers it (pruned.go).
	ErrPruned = errors.New("pruned entry not covered by a retention compaction")
)

// Error is one verification failure: which record, which kind, and why.
// Its text reads "entry 17: leaf hash mismatch: body hashes to …".
type Error struct {
	// Record names the failing record: "entry 17", "checkpoint",
	// "trusted checkpoint", "range [0,100)", "payload ctx:j1",
	// "policy cfg:system:policy#sha256:…",
	// "workflow wf:default:refund#sha256:…", "job j1" or "bundle".
	Record string
	// Index is the entry index when the record is an entry, else -1.
	Index int64
	// Kind is one of the Err* values.
	Kind error
	// Detail explains the failure.
	Detail string
}

func (e *Error) Error() string {
	s := e.Record + ": " + e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns e.Kind.
func (e *Error) Unwrap() error { return e.Kind }

func entryErr(index uint64, kind error, format string, args ...any) *Error {
	return &Error{Record: fmt.Sprintf("entry %d", index), Index: int64(index), Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func recordErr(record string, kind error, format string, args ...any) *Error {
	return &Error{Record: record, Index: -1, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

var codes = map[error]string{
	ErrFormat:            "malformed_bundle",
	ErrKey:               "no_usable_key",
	ErrSignature:         "checkpoint_signature",
	ErrOrigin:            "origin_mismatch",
	ErrOrder:             "entries_out_of_order",
	ErrBeyond:            "entry_beyond_checkpoint",
	ErrLeafHash:          "leaf_hash_mismatch",
	ErrBody:              "malformed_body",
	ErrIndex:             "index_mismatch",
	ErrTenant:            "tenant_mismatch",
	ErrChain:             "prev_hash_chain",
	ErrMissing:           "entry_missing",
	ErrInclusion:         "inclusion_proof",
	ErrRoot:              "root_mismatch",
	ErrTrustedCheckpoint: "trusted_checkpoint",
	ErrTruncated:         "log_truncated",
	ErrConsistency:       "consistency_proof",
	ErrWitness:           "witness_missing",
	ErrPayload:           "payload_mismatch",
	ErrPolicy:            "policy_mismatch",
	ErrWorkflow:          "workflow_mismatch",
	ErrJobHash:           "job_hash_mismatch",
	ErrProjection:        "projection_mismatch",
	ErrPruned:            "pruned_not_covered",
}

// Code returns the stable snake_case code of a verification failure kind
// ("leaf_hash_mismatch"), or "" if err is not one.
func Code(err error) string {
	for kind, code := range codes {
		if errors.Is(err, kind) {
			return code
		}
	}
	return ""
}

// MarshalJSON encodes the error as
// {"code","record","index","message"}; index is null unless the record is
// an entry.
func (e *Error) MarshalJSON() ([]byte, error) {
	var idx *int64
	if e.Index >= 0 {
		idx = &e.Index
	}
	return json.Marshal(struct {
		Code    string `json:"code"`
		Record  string `json:"record"`
		Index   *int64 `json:"index"`
		Message string `json:"message"`
	}{codes[e.Kind], e.Record, idx, e.Error()})
}
