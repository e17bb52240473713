package tree

import (
	"github.com/cairnhq/cairn/ledger"
)

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
	if err := verifyReceiptInclusion(r, logKey); err != nil {
		return fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	if err := verifyReceiptEntry(r, jobID, jobHash); err != nil {
		return fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	return nil
}

// verifyReceiptInclusion checks that the checkpoint is signed by the log,
// the entry hashes to the leaf and the leaf is in the checkpoint's tree.
func verifyReceiptInclusion(r Receipt, logKey string) error {
	v, err := NewVerifier(logKey)
	if err != nil {
		return fmt.Errorf("log key: %v", err)
	}
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return fmt.Errorf("checkpoint: %v", err)
	}
	leaf := ledger.LeafHash([]byte(r.Body))
	if ledger.HashHex(leaf) != r.LeafHash {
		return fmt.Errorf("the entry does not hash to leaf %s", r.LeafHash)
	}
	if r.Index >= cp.Size {
		return fmt.Errorf("entry %d is beyond the checkpoint's %d entries", r.Index, cp.Size)
	}
	proof := make([][]byte, len(r.Inclusion))
	for i, h := range r.Inclusion {
		if proof[i], err = hex.DecodeString(h); err != nil || len(proof[i]) != 32 {
			return fmt.Errorf("inclusion hash %d is not 32 hex bytes", i)
		}
	}
	if err := VerifyInclusion(r.Index, cp.Size, leaf, proof, cp.Root); err != nil {
		return fmt.Errorf("inclusion: %v", err)
	}
	return nil
}

// verifyReceiptEntry checks that the entry is a policy_decided event of
// phase dispatch for this job_hash whose decision lets the job run.
func verifyReceiptEntry(r Receipt, jobID, jobHash string) error {
	f, err := ledger.ParseEntry([]byte(r.Body))
	if err != nil {
		return fmt.Errorf("entry: %v", err)
	}
	if f.Index != r.Index {
		return fmt.Errorf("entry says index %d, receipt %d", f.Index, r.Index)
	}
	ev := f.Event
	if ev.Type != ledger.EventPolicyDecided || ev.JobID != jobID || ev.JobHash != jobHash {
		return fmt.Errorf("entry is %s of job %q with job_hash %s, not the dispatch decision of job %q with %s", ev.Type, ev.JobID, ev.JobHash, jobID, jobHash)
	}
	if d := ev.DecisionRecord; d == nil || d.Phase != "dispatch" {
		return fmt.Errorf("entry is not a dispatch-phase decision")
	}
	switch ev.Decision {
	case "ALLOW", "ALLOW_WITH_CONSTRAINTS", "REQUIRE_APPROVAL":
		// REQUIRE_APPROVAL dispatches only with an approval for this job_hash.
		return nil
	}
	return fmt.Errorf("the dispatch decision is %s", ev.Decision)
}
