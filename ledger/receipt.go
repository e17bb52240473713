package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Receipt is what a worker gets with a leased job to prove that the job's
// dispatch decision is in the log before it runs (no log, no run): the
// decision's ledger entry, its position, and an inclusion proof to a
// checkpoint signed by the log key.
type Receipt struct {
	Index      uint64   // ledger index of the dispatch decision
	LeafHash   string   // hex
	Body       string   // canonical ledger entry
	Checkpoint string   // signed note covering Index
	Inclusion  []string // hex hashes, leaf to root
}

// ErrReceipt is the kind of every receipt failure.
var ErrReceipt = errors.New("dispatch receipt not valid")

// VerifyReceipt checks a dispatch receipt for the job with the given
// job_hash against the log's verifier key (pinned by the worker): the
// checkpoint is signed by the log, the entry hashes to the leaf, the leaf is
// in the checkpoint's tree, and the entry is a policy_decided event of phase
// dispatch for this job_hash whose decision lets the job run.
func VerifyReceipt(r Receipt, jobID, jobHash, logKey string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrReceipt, fmt.Sprintf(format, args...))
	}
	v, err := NewVerifier(logKey)
	if err != nil {
		return fail("log key: %v", err)
	}
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return fail("checkpoint: %v", err)
	}
	leaf := LeafHash([]byte(r.Body))
	if HashHex(leaf) != r.LeafHash {
		return fail("the entry does not hash to leaf %s", r.LeafHash)
	}
	if r.Index >= cp.Size {
		return fail("entry %d is beyond the checkpoint's %d entries", r.Index, cp.Size)
	}
	proof := make([][]byte, len(r.Inclusion))
	for i, h := range r.Inclusion {
		if proof[i], err = hex.DecodeString(h); err != nil || len(proof[i]) != 32 {
			return fail("inclusion hash %d is not 32 hex bytes", i)
		}
	}
	if err := VerifyInclusion(r.Index, cp.Size, leaf, proof, cp.Root); err != nil {
		return fail("inclusion: %v", err)
	}
	f, err := ParseEntry([]byte(r.Body))
	if err != nil {
		return fail("entry: %v", err)
	}
	if f.Index != r.Index {
		return fail("entry says index %d, receipt %d", f.Index, r.Index)
	}
	ev := f.Event
	if ev.Type != "policy_decided" || ev.JobID != jobID || ev.JobHash != jobHash {
		return fail("entry is %s of job %q with job_hash %s, not the dispatch decision of job %q with %s", ev.Type, ev.JobID, ev.JobHash, jobID, jobHash)
	}
	if d := ev.DecisionRecord; d == nil || d.Phase != "dispatch" {
		return fail("entry is not a dispatch-phase decision")
	}
	switch ev.Decision {
	case "ALLOW", "ALLOW_WITH_CONSTRAINTS", "REQUIRE_APPROVAL":
		// REQUIRE_APPROVAL dispatches only with an approval for this job_hash.
	default:
		return fail("the dispatch decision is %s", ev.Decision)
	}
	return nil
}
