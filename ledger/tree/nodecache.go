package tree

import (
	"fmt"
	"sync"
)

// NodeCache keeps Merkle node hashes in memory for a store. A node of a
// ledger's tree covers a complete, fixed range of leaves, so once it exists
// its hash never changes: a cached hash is as good as a stored one for as
// long as the store holds that ledger. Proofs for recent entries (every
// lease's dispatch receipt) then touch the database only for the entry.
//
// It holds two generations of at most NodeCacheGeneration entries each:
// when the current one fills up it becomes the previous one, so the hot
// nodes (the tree's right edge and the newest leaves) stay cached.
type NodeCache struct {
	mu        sync.RWMutex
	cur, prev map[nodeKey][32]byte
}

// NodeCacheGeneration bounds each generation of a NodeCache (about 100
// bytes an entry).
const NodeCacheGeneration = 1 << 15

type nodeKey struct {
	tenant string
	level  uint
	index  uint64
}

// Get returns the hash of the tenant's node at level and index, if cached.
func (c *NodeCache) Get(tenant string, level uint, index uint64) ([32]byte, bool) {
	k := nodeKey{tenant, level, index}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if h, ok := c.cur[k]; ok {
		return h, true
	}
	h, ok := c.prev[k]
	return h, ok
}

// Put caches nodes of the tenant's tree. Only nodes that exist (committed,
// or read from the store) may be put.
func (c *NodeCache) Put(tenant string, nodes ...Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		if c.cur == nil || len(c.cur) >= NodeCacheGeneration {
			c.prev, c.cur = c.cur, make(map[nodeKey][32]byte, 1024)
		}
		c.cur[nodeKey{tenant, n.Level, n.Index}] = n.Hash
	}
}

// ReadThrough returns the hashes of the tenant's nodes ids, from c where it
// has them and from load (given only the missing ids, in order) for the
// rest, which it then caches. key gives an id's level and index. A nil c
// loads everything. load must return committed nodes only.
func ReadThrough[ID any](c *NodeCache, tenant string, ids []ID, key func(ID) (uint, uint64), load func([]ID) ([][32]byte, error)) ([][32]byte, error) {
	if c == nil {
		return load(ids)
	}
	out := make([][32]byte, len(ids))
	var missing []ID
	var at []int
	for i, id := range ids {
		level, index := key(id)
		if h, ok := c.Get(tenant, level, index); ok {
			out[i] = h
			continue
		}
		missing = append(missing, id)
		at = append(at, i)
	}
	if len(missing) == 0 {
		return out, nil
	}
	hs, err := load(missing)
	if err != nil {
		return nil, err
	}
	if len(hs) != len(missing) {
		return nil, fmt.Errorf("ledger: node reader returned %d hashes for %d ids", len(hs), len(missing))
	}
	loaded := make([]Node, len(missing))
	for j, i := range at {
		out[i] = hs[j]
		level, index := key(missing[j])
		loaded[j] = Node{Level: level, Index: index, Hash: hs[j]}
	}
	c.Put(tenant, loaded...)
	return out, nil
}
