package verify

import (
	"fmt"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
)

// tree checks that every entry is in the checkpoint's tree.
func (c *checker) tree() {
	from, to := c.treeRange()
	c.inclusionProofs(from, to)
	if c.rep.InclusionProofs > 0 {
		if c.rep.Mode == "" {
			c.rep.Mode = "proofs"
		} else {
			c.rep.Mode += "+proofs"
		}
	}
	if c.rep.Mode == "" {
		c.rep.Mode = "none"
	}
}

// treeRange checks the declared range, if any, and returns it ([0,0) when
// there is none or it is not within the tree).
func (c *checker) treeRange() (from, to uint64) {
	r, size := c.b.Range, c.cp.Size
	if r == nil {
		return 0, 0
	}
	from, to = r.From, r.To
	rec := fmt.Sprintf("range [%d,%d)", from, to)
	if from > to || to > size {
		c.tfail(recordErr(rec, ErrFormat, "not within checkpoint tree size %d", size))
		from, to = 0, 0
	} else {
		c.checkRange(rec, r)
	}
	if from == 0 && to == size {
		c.rep.Mode = "complete"
	} else {
		c.rep.Mode = "range"
	}
	return from, to
}

// inclusionProofs checks the inclusion proof of every entry outside the
// range [from, to).
func (c *checker) inclusionProofs(from, to uint64) {
	es, size := c.b.Entries, c.cp.Size
	proofs := map[uint64]*bundle.BundleInclusionProof{}
	for i := range c.b.InclusionProofs {
		p := &c.b.InclusionProofs[i]
		if _, dup := proofs[p.Index]; dup {
			c.tfail(entryErr(p.Index, ErrFormat, "two inclusion proofs"))
		}
		proofs[p.Index] = p
	}
	for i := range es {
		e := &es[i]
		if e.Index >= from && e.Index < to {
			continue
		}
		p := proofs[e.Index]
		if p == nil {
			c.tfail(entryErr(e.Index, ErrInclusion, "not in the declared range and no inclusion proof"))
			continue
		}
		if p.Size != size {
			c.tfail(entryErr(e.Index, ErrInclusion, "proof is for tree size %d, checkpoint has %d", p.Size, size))
			continue
		}
		hs, err := decodeHashes(p.Hashes)
		if err != nil {
			c.tfail(entryErr(e.Index, ErrFormat, "inclusion proof: %v", err))
			continue
		}
		if err := tree.VerifyInclusion(e.Index, size, c.leafs[i], hs, c.cp.Root); err != nil {
			c.tfail(entryErr(e.Index, ErrInclusion, "%v", err))
			continue
		}
		c.rep.InclusionProofs++
	}
}

// checkRange checks that the bundle holds every entry of the range, then
// recomputes the checkpoint root from their leaves and the range proof.
func (c *checker) checkRange(rec string, r *bundle.BundleRange) {
	start, ok := c.rangeStart(r)
	if !ok {
		return
	}
	left, err := decodeHashes(r.Left)
	if err != nil {
		c.tfail(recordErr(rec, ErrFormat, "left: %v", err))
		return
	}
	right, err := decodeHashes(r.Right)
	if err != nil {
		c.tfail(recordErr(rec, ErrFormat, "right: %v", err))
		return
	}
	rv, err := tree.NewRootVerifier(r.From, left)
	if err != nil {
		c.tfail(recordErr(rec, ErrFormat, "%v", trimLedger(err)))
		return
	}
	if err := c.appendRange(rv, r, start); err != nil {
		c.tfail(recordErr(rec, ErrFormat, "%v", err))
		return
	}
	root, err := rv.Finish(c.cp.Size, right)
	if err != nil {
		c.tfail(recordErr(rec, ErrFormat, "%v", trimLedger(err)))
		return
	}
	if root != c.cp.Root {
		c.tfail(recordErr(rec, ErrRoot, "leaves and range proof give root %s, checkpoint has %s", ledger.HashHex(root), ledger.HashHex(c.cp.Root)))
	}
}

// rangeStart returns the position in the bundle of the range's first entry;
// the range's entries must be consecutive there (ok false: one is missing).
func (c *checker) rangeStart(r *bundle.BundleRange) (start int, ok bool) {
	es := c.b.Entries
	for start < len(es) && es[start].Index < r.From {
		start++
	}
	for k := uint64(0); k < r.To-r.From; k++ {
		j := start + int(k)
		if j >= len(es) || es[j].Index != r.From+k {
			c.tfail(entryErr(r.From+k, ErrMissing, "not in the bundle, which declares the range [%d,%d) complete", r.From, r.To))
			return 0, false
		}
	}
	return start, true
}

// appendRange appends the leaves of the range's entries (from position
// start) to rv. With a range starting at 0, it captures the root at the
// trusted size on the way: a complete export needs no consistency proof.
func (c *checker) appendRange(rv *tree.RootVerifier, r *bundle.BundleRange, start int) error {
	var m uint64
	if c.opts.TrustedCheckpoint != nil && r.From == 0 {
		if t, err := tree.ParseCheckpoint(c.opts.TrustedCheckpoint); err == nil && t.Size > 0 && t.Size <= r.To {
			m = t.Size
		}
	}
	for k := uint64(0); k < r.To-r.From; k++ {
		if err := rv.Append(c.leafs[start+int(k)]); err != nil {
			return err
		}
		if m != 0 && rv.Next() == m {
			root, err := rv.RootSoFar()
			if err == nil {
				c.rootAtTrusted = &root
			}
		}
	}
	return nil
}
