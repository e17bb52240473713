package service

import (
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
	sumnote "golang.org/x/mod/sumdb/note"
)

// cosignatureOrderWindow is how many of the newest checkpoints are
// searched for the witness's neighbouring cosignatures.
const cosignatureOrderWindow = 50

// checkCosignatureOrder enforces the Unix-time semantics of
// cosignature/v1 (https://c2sp.org/tlog-cosignature) per witness and log:
// a witness's cosignature of a larger checkpoint is not timestamped before
// its cosignature of a smaller one. ts is the new cosignature's timestamp
// over the checkpoint of size; the witness's stored cosignatures among the
// newest checkpoints are its neighbours. Equal timestamps are fine (they
// are in seconds).
func checkCosignatureOrder(tx cairn.ReadTx, tenant string, wv sumnote.Verifier, size uint64, ts time.Time) error {
	cs, err := tx.ListCheckpoints(tenant, cairn.Page{Limit: cosignatureOrderWindow})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Size == size {
			continue
		}
		for _, co := range c.Cosignatures {
			if co.Witness != wv.Name() {
				continue
			}
			other, ok := cosignatureTimeIn([]byte(co.Note), wv)
			if !ok {
				continue
			}
			if (c.Size < size && ts.Before(other)) || (c.Size > size && ts.After(other)) {
				return cairn.Invalid("note", "%s", fmt.Sprintf("cosignature/v1 timestamps must not go back: this one (%s, size %d) and the witness's cosignature of size %d (%s) are out of order",
					ts.UTC().Format(time.RFC3339), size, c.Size, other.UTC().Format(time.RFC3339)))
			}
		}
	}
	return nil
}

// cosignatureTimeIn returns the timestamp of wv's signature in a stored
// cosignature note.
func cosignatureTimeIn(note []byte, wv sumnote.Verifier) (time.Time, bool) {
	n, err := sumnote.Open(note, sumnote.VerifierList(wv))
	if err != nil {
		return time.Time{}, false
	}
	for _, sig := range n.Sigs {
		if sig.Name == wv.Name() && sig.Hash == wv.KeyHash() {
			ts, ok, err := tree.CosignatureTime(wv, sig)
			return ts, ok && err == nil
		}
	}
	return time.Time{}, false
}
