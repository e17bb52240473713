package verify

import (
	"encoding/json"
	"sort"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
)

// Pruned entries (docs/evidence.md, "Pruned entries"): a retention
// compaction removed an entry's body and kept its leaf hash. The verifier
// takes that leaf hash as given, so the tree (root, range and inclusion
// proofs, the prev_hash link of the entry after it) still verifies; it
// reports the entry as pruned, not as tampered. Whatever the entry's body
// committed to (payloads, job rows) is not checked. Where the bundle holds
// the retention_compacted event that an entry names, the event's range
// must include the entry.

// MaxPrunedListed bounds Report.PrunedEntries.
const MaxPrunedListed = 1000

// PrunedEntry is one pruned entry of the bundle.
type PrunedEntry struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
	PrunedBy uint64 `json:"pruned_by"`
}

// prunedEntry records pruned entry e and checks what can be checked
// without the bundle's other entries.
func (c *checker) prunedEntry(e *bundle.Entry) {
	c.rep.Pruned++
	if len(c.rep.PrunedEntries) < MaxPrunedListed {
		c.rep.PrunedEntries = append(c.rep.PrunedEntries, PrunedEntry{Index: e.Index, LeafHash: e.LeafHash, PrunedBy: *e.PrunedBy})
	}
	if e.Body != "" {
		c.fail(entryErr(e.Index, ErrPruned, "a pruned entry must have an empty body"))
	}
	if *e.PrunedBy <= e.Index {
		c.fail(entryErr(e.Index, ErrPruned, "pruned_by %d is not after the entry", *e.PrunedBy))
	}
}

// compactions checks every pruned entry against the retention_compacted
// event it names, where the bundle holds that event.
func (c *checker) compactions() {
	if c.rep.Pruned == 0 {
		return
	}
	es := c.b.Entries
	at := func(idx uint64) *bundle.Entry {
		k := sort.Search(len(es), func(i int) bool { return es[i].Index >= idx })
		if k < len(es) && es[k].Index == idx {
			return &es[k]
		}
		return nil
	}
	ranges := map[uint64]*compactionRange{}
	absent := 0
	for i := range es {
		e := &es[i]
		if e.PrunedBy == nil || *e.PrunedBy <= e.Index {
			continue
		}
		r, seen := ranges[*e.PrunedBy]
		if !seen {
			r = compactionOf(at(*e.PrunedBy))
			ranges[*e.PrunedBy] = r
		}
		switch {
		case r == nil:
			absent++
		case !r.ok:
			c.fail(entryErr(e.Index, ErrPruned, "pruned_by names entry %d, which is not a retention_compacted event", *e.PrunedBy))
		case e.Index < r.From || e.Index >= r.To:
			c.fail(entryErr(e.Index, ErrPruned, "retention_compacted event %d pruned [%d, %d), which does not hold the entry", *e.PrunedBy, r.From, r.To))
		}
	}
	c.note("%d entries were pruned by retention: their leaf hashes are in the tree, their bodies (and what they committed to) are gone", c.rep.Pruned)
	if absent > 0 {
		c.note("%d pruned entries name a retention_compacted event that is not in the bundle", absent)
	}
}

// compactionRange is the range a retention_compacted event pruned; ok is
// false when the entry is not such an event (or is itself pruned).
type compactionRange struct {
	From, To uint64
	ok       bool
}

// compactionOf reads the range of the retention_compacted event e (nil
// when e is not in the bundle).
func compactionOf(e *bundle.Entry) *compactionRange {
	if e == nil {
		return nil
	}
	var env struct {
		Event struct {
			Type string `json:"type"`
			Data struct {
				From *uint64 `json:"from"`
				To   *uint64 `json:"to"`
			} `json:"data"`
		} `json:"event"`
	}
	r := &compactionRange{}
	if e.PrunedBy != nil || json.Unmarshal([]byte(e.Body), &env) != nil || env.Event.Type != ledger.EventRetentionCompacted ||
		env.Event.Data.From == nil || env.Event.Data.To == nil {
		return r
	}
	r.From, r.To, r.ok = *env.Event.Data.From, *env.Event.Data.To, true
	return r
}
