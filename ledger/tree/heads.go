package tree

// Head is a tenant's ledger head as one tier of a store sees it: the
// ledger's size and last leaf hash, its Merkle tree at that size, and the
// last timeline seq of the runs it knows.
type Head struct {
	Size uint64
	Hash string    // LeafHex of entry Size-1; "" for an empty ledger
	Tree *Appender // nil until Step resumes it from the store
	// Stored is free for the store's use; the PostgreSQL store keeps the
	// size its ledger_heads row had when the transaction locked it.
	Stored uint64

	runs map[string]int64 // run heads set at this tier
	base *Head            // the head this one was forked from (read only)
}

// RunHead returns the last timeline seq of the run, if this head or the
// one it was forked from knows it.
func (h *Head) RunHead(runID string) (int64, bool) {
	for ; h != nil; h = h.base {
		if n, ok := h.runs[runID]; ok {
			return n, true
		}
	}
	return 0, false
}

// SetRunHead records the last timeline seq of a run.
func (h *Head) SetRunHead(runID string, seq int64) {
	if h.runs == nil {
		h.runs = map[string]int64{}
	}
	h.runs[runID] = seq
}

// Fork returns a head that starts as h and can be advanced, then kept
// (Heads.Put into h's tier) or dropped, without changing h.
func (h *Head) Fork() *Head {
	f := &Head{Size: h.Size, Hash: h.Hash, Stored: h.Stored, base: h}
	if h.Tree != nil {
		f.Tree = h.Tree.Clone()
	}
	return f
}

// Heads is one tier of a store's ledger heads, by tenant. A store keeps up
// to three, each the child of the one below: the committed heads (store
// tier), those of the open transaction (batch tier) and those of one Update
// inside it (op tier). A child reads through its parent and forks what it
// reads, so a child can be dropped (a rolled-back Update or transaction)
// without changing its parent; Commit moves a child's heads into its
// parent. Heads is not safe for concurrent use (a store's writer owns it).
type Heads struct {
	parent *Heads
	m      map[string]*Head
	// MaxRuns, when positive, bounds the run heads a head of this tier
	// keeps: beyond it they are forgotten (and read from the store again).
	MaxRuns int
}

// NewHeads returns an empty tier without parent.
func NewHeads() *Heads { return &Heads{m: map[string]*Head{}} }

// Child returns an empty tier whose reads fall through to t.
func (t *Heads) Child() *Heads { return &Heads{parent: t, m: map[string]*Head{}} }

// Get returns the tenant's head as this tier sees it: its own, or a fork
// of its parent's (kept in this tier from then on), or nil.
func (t *Heads) Get(tenant string) *Head {
	if h := t.m[tenant]; h != nil {
		return h
	}
	if t.parent == nil {
		return nil
	}
	p := t.parent.Get(tenant)
	if p == nil {
		return nil
	}
	h := p.Fork()
	t.m[tenant] = h
	return h
}

// Peek returns this tier's own head of the tenant, unforked, or nil: for
// reading only.
func (t *Heads) Peek(tenant string) *Head { return t.m[tenant] }

// Put makes h this tier's head of the tenant. A head forked from this
// tier's current one is merged into it (its run heads are added), so that
// forks never chain; one forked from elsewhere replaces it.
func (t *Heads) Put(tenant string, h *Head) {
	cur := t.m[tenant]
	if cur == nil || h.base != cur {
		if cur != nil && h.base != nil {
			h = h.flat()
		}
		t.m[tenant] = h
		t.bound(h)
		return
	}
	cur.Size, cur.Hash, cur.Tree, cur.Stored = h.Size, h.Hash, h.Tree, h.Stored
	for k, v := range h.runs {
		cur.SetRunHead(k, v)
	}
	t.bound(cur)
}

// flat returns h without its base, its run heads copied in.
func (h *Head) flat() *Head {
	f := &Head{Size: h.Size, Hash: h.Hash, Tree: h.Tree, Stored: h.Stored}
	var chain []*Head
	for b := h; b != nil; b = b.base {
		chain = append(chain, b)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for k, v := range chain[i].runs {
			f.SetRunHead(k, v)
		}
	}
	return f
}

func (t *Heads) bound(h *Head) {
	if t.MaxRuns > 0 && len(h.runs) > t.MaxRuns {
		h.runs = nil
	}
}

// Delete forgets the tenant's head at this tier.
func (t *Heads) Delete(tenant string) { delete(t.m, tenant) }

// Each calls fn for every head of this tier (not its parent's).
func (t *Heads) Each(fn func(tenant string, h *Head)) {
	for k, h := range t.m {
		fn(k, h)
	}
}

// Commit moves this tier's heads into its parent; t is empty afterwards.
func (t *Heads) Commit() {
	for k, h := range t.m {
		t.parent.Put(k, h)
	}
	clear(t.m)
}

// Reset forgets every head of this tier (after a failed commit, when a
// cache may be ahead of the database).
func (t *Heads) Reset() { clear(t.m) }
