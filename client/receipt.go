package client

import (
	"errors"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// ReceiptVerifier returns a Worker.VerifyReceipt that accepts a job only
// when its dispatch receipt proves, against the log key pinned here, that
// the job's dispatch decision is in the ledger (no log, no run).
func ReceiptVerifier(logKey string) func(*cairn.LeasedJob) error {
	return func(j *cairn.LeasedJob) error {
		r := j.Receipt
		if r == nil || r.Ledger == nil || r.Body == "" {
			return errors.New("the job carries no dispatch receipt")
		}
		return tree.VerifyReceipt(tree.Receipt{Index: r.Ledger.Index, LeafHash: r.Ledger.LeafHash, Body: r.Body,
			Checkpoint: r.Checkpoint, Inclusion: r.Inclusion}, j.JobID, j.JobHash, logKey)
	}
}
