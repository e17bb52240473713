package sqlstore

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// LedgerSize implements cairn.ReadTx.
func (r *Reader) LedgerSize(tenant string) (uint64, error) {
	var n *int64
	if err := r.row(`SELECT max(idx) FROM ledger WHERE tenant = ?`, tenant).Scan(&n); err != nil || n == nil {
		return 0, err
	}
	return uint64(*n) + 1, nil
}

// LedgerEntries implements cairn.ReadTx. Each entry's previous hash is
// the one its body holds (the ledger keeps no copy of it). The bodies are
// read as one range, each stored row once.
func (r *Reader) LedgerEntries(tenant string, from uint64, limit int) ([]*cairn.LedgerEntry, error) {
	rows, err := r.query(`SELECT idx, leaf_hash FROM ledger WHERE tenant = ? AND idx >= ? ORDER BY idx LIMIT ?`, tenant, int64(from), limit)
	if err != nil {
		return nil, err
	}
	var out []*cairn.LedgerEntry
	for rows.Next() {
		var idx int64
		var leaf []byte
		if err := rows.Scan(&idx, &leaf); err != nil {
			rows.Close()
			return nil, err
		}
		e := &cairn.LedgerEntry{Tenant: tenant, Index: uint64(idx), Pruned: true}
		if e.LeafHash, err = leafHex(leaf); err != nil {
			rows.Close()
			return nil, fmt.Errorf("%s: ledger entry %d: %w", r.D.Name, idx, err)
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	first, last := out[0].Index, out[len(out)-1].Index
	j := 0 // out[j] is the first entry not matched yet (a damaged ledger may have gaps)
	err = r.rangeBodies(tenant, first, last+1, func(idx uint64, body []byte) error {
		for j < len(out) && out[j].Index < idx {
			j++
		}
		if j == len(out) || out[j].Index != idx {
			return nil // no ledger row: not an entry of this read
		}
		e := out[j]
		prev, err := EnvelopePrevHash(body)
		if err != nil {
			return fmt.Errorf("%s: ledger entry %d: %w", r.D.Name, idx, err)
		}
		e.PrevHash, e.Body, e.Pruned = prev, json.RawMessage(body), false
		return nil
	})
	if err != nil {
		return nil, err
	}
	// An entry without a body was pruned by retention (retention.go).
	return out, r.prunedPrevHashes(tenant, out)
}

// prunedPrevHashes sets the previous hash of each pruned entry, whose body
// (which held it) is gone: by definition it is entry i-1's leaf hash, kept
// in the ledger row.
func (r *Reader) prunedPrevHashes(tenant string, es []*cairn.LedgerEntry) error {
	for i, e := range es {
		switch {
		case !e.Pruned || e.Index == 0:
		case i > 0 && es[i-1].Index == e.Index-1:
			e.PrevHash = es[i-1].LeafHash
		default:
			var leaf []byte
			if err := r.row(`SELECT leaf_hash FROM ledger WHERE tenant = ? AND idx = ?`, tenant, int64(e.Index-1)).Scan(&leaf); err != nil {
				return fmt.Errorf("%s: ledger entry %d: %w", r.D.Name, e.Index-1, err)
			}
			h, err := leafHex(leaf)
			if err != nil {
				return err
			}
			e.PrevHash = h
		}
	}
	return nil
}

// NodeReader adapts a Reader to ledger.NodeReader for one tenant.
func (r *Reader) NodeReader(tenant string) tree.NodeReader {
	return cairn.TenantNodes{Src: r, Tenant: tenant}
}

// LedgerNodes implements cairn.ReadTx, through the node cache if the
// Reader has one.
func (r *Reader) LedgerNodes(tenant string, ids []cairn.NodeID) ([][32]byte, error) {
	return tree.ReadThrough(r.Nodes, tenant, ids, nodeKey, func(ids []cairn.NodeID) ([][32]byte, error) {
		return r.loadNodes(tenant, ids)
	})
}

func nodeKey(id cairn.NodeID) (uint, uint64) { return id.Level, id.Index }

// loadNodes reads nodes from ledger_nodes, and computes those below
// ledger.StoredLevel from the leaf hashes in ledger.
func (r *Reader) loadNodes(tenant string, ids []cairn.NodeID) ([][32]byte, error) {
	out := make([][32]byte, len(ids))
	var stored []int     // stored nodes: one query for all of them
	var leafIdx []uint64 // computed nodes: the leaves they cover, fetched as few ranges
	for i, id := range ids {
		if id.Level >= 64 {
			return nil, fmt.Errorf("%s: node level %d", r.D.Name, id.Level)
		}
		if id.Level >= tree.StoredLevel {
			stored = append(stored, i)
			continue
		}
		for k := id.Index << id.Level; k < (id.Index+1)<<id.Level; k++ {
			leafIdx = append(leafIdx, k)
		}
	}
	if len(stored) > 0 {
		if err := r.storedNodes(tenant, ids, stored, out); err != nil {
			return nil, err
		}
	}
	if len(leafIdx) == 0 {
		return out, nil
	}
	leaves, err := r.leavesAt(tenant, leafIdx)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if id.Level >= tree.StoredLevel {
			continue
		}
		level := make([][32]byte, 0, 1<<id.Level)
		for k := id.Index << id.Level; k < (id.Index+1)<<id.Level; k++ {
			h, ok := leaves[k]
			if !ok {
				return nil, fmt.Errorf("%w: level %d index %d", tree.ErrNodeMissing, id.Level, id.Index)
			}
			level = append(level, h)
		}
		for len(level) > 1 {
			next := level[:0:0]
			for j := 0; j < len(level); j += 2 {
				var h [32]byte
				copy(h[:], tree.HashChildren(level[j][:], level[j+1][:]))
				next = append(next, h)
			}
			level = next
		}
		out[i] = level[0]
	}
	return out, nil
}

// storedNodes reads the nodes ids[i] for i in at into out[i].
func (r *Reader) storedNodes(tenant string, ids []cairn.NodeID, at []int, out [][32]byte) error {
	var q strings.Builder
	args := make([]any, 0, 1+2*len(at))
	args = append(args, tenant)
	q.WriteString(`SELECT level, idx, hash FROM ledger_nodes WHERE tenant = ? AND (`)
	for j, i := range at {
		if j > 0 {
			q.WriteString(" OR ")
		}
		q.WriteString("(level = ? AND idx = ?)")
		args = append(args, int64(ids[i].Level), int64(ids[i].Index))
	}
	q.WriteString(")")
	rows, err := r.query(q.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	found := map[cairn.NodeID][32]byte{}
	for rows.Next() {
		var level, idx int64
		var h []byte
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return err
		}
		if len(h) != 32 {
			return fmt.Errorf("%s: corrupt node hash", r.D.Name)
		}
		found[cairn.NodeID{Level: uint(level), Index: uint64(idx)}] = [32]byte(h)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range at {
		h, ok := found[ids[i]]
		if !ok {
			return fmt.Errorf("%w: level %d index %d", tree.ErrNodeMissing, ids[i].Level, ids[i].Index)
		}
		out[i] = h
	}
	return nil
}

// leavesAt reads the leaf hashes of the given indexes, one range query per
// run of nearby indexes.
func (r *Reader) leavesAt(tenant string, idx []uint64) (map[uint64][32]byte, error) {
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make(map[uint64][32]byte, len(idx))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1]-idx[j] <= 16 {
			j++
		}
		from, to := idx[i], idx[j]+1
		hs, err := r.LeafHashes(tenant, from, to)
		if err != nil {
			return nil, err
		}
		for k, h := range hs {
			out[from+uint64(k)] = h
		}
		i = j + 1
	}
	return out, nil
}

// LeafHashes reads the leaf hashes of entries [from, to).
func (r *Reader) LeafHashes(tenant string, from, to uint64) ([][32]byte, error) {
	rows, err := r.query(`SELECT leaf_hash FROM ledger WHERE tenant = ? AND idx >= ? AND idx < ? ORDER BY idx`, tenant, int64(from), int64(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][32]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: corrupt leaf hash", r.D.Name)
		}
		out = append(out, [32]byte(b))
	}
	return out, rows.Err()
}

// --- checkpoints ---

// Tenants implements cairn.ReadTx.
func (r *Reader) Tenants() ([]string, error) {
	return Column[string](r.query(`SELECT tenant FROM tenants ORDER BY tenant`))
}

func (r *Reader) checkpoints(q string, args ...any) ([]*cairn.Checkpoint, error) {
	rows, err := r.query(q, args...)
	if err != nil {
		return nil, err
	}
	var out []*cairn.Checkpoint
	for rows.Next() {
		c := &cairn.Checkpoint{}
		var size, created int64
		if err := rows.Scan(&c.Tenant, &size, &c.RootHash, &c.Note, &created); err != nil {
			rows.Close()
			return nil, err
		}
		c.Size = uint64(size)
		c.CreatedAt = time.Unix(0, created).UTC()
		c.Cosignatures = []cairn.Cosignature{}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range out {
		if err := r.cosignatures(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Reader) cosignatures(c *cairn.Checkpoint) error {
	rows, err := r.query(`SELECT witness, note, created_at FROM cosignatures WHERE tenant = ? AND size = ? ORDER BY witness`, c.Tenant, int64(c.Size))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cs cairn.Cosignature
		var created int64
		if err := rows.Scan(&cs.Witness, &cs.Note, &created); err != nil {
			return err
		}
		cs.CreatedAt = time.Unix(0, created).UTC()
		c.Cosignatures = append(c.Cosignatures, cs)
	}
	return rows.Err()
}

const checkpointCols = `tenant, size, root_hash, note, created_at`

// LatestCheckpoint implements cairn.ReadTx.
func (r *Reader) LatestCheckpoint(tenant string) (*cairn.Checkpoint, error) {
	cs, err := r.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = ? ORDER BY size DESC LIMIT 1`, tenant)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return cs[0], nil
}

// GetCheckpoint implements cairn.ReadTx.
func (r *Reader) GetCheckpoint(tenant string, size uint64) (*cairn.Checkpoint, error) {
	cs, err := r.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = ? AND size = ?`, tenant, int64(size))
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, cairn.NotFound("no checkpoint of size %d", size)
	}
	return cs[0], nil
}

// ListCheckpoints implements cairn.ReadTx.
func (r *Reader) ListCheckpoints(tenant string, p cairn.Page) ([]*cairn.Checkpoint, error) {
	w := &Where{}
	w.Add("tenant = ?", tenant)
	if p.After > 0 {
		w.Add("size < ?", p.After)
	}
	q, args := w.Page(checkpointCols, "checkpoints", "size DESC", p.Limit)
	return r.checkpoints(q, args...)
}

// --- tlog tiles ---

// LedgerLeafHashes returns the leaf hashes of entries [from, from+n) of the
// tenant's ledger in one range query (fewer when the ledger is shorter):
// a level-0 tlog tile.
func (r *Reader) LedgerLeafHashes(tenant string, from uint64, n int) ([][32]byte, error) {
	return r.LeafHashes(tenant, from, from+uint64(n))
}

// LedgerNodeRange returns the stored nodes [from, from+n) of one Merkle
// level (>= ledger.StoredLevel) in one range query: a tlog hash tile above
// level 0. A missing node is an error.
func (r *Reader) LedgerNodeRange(tenant string, level uint, from uint64, n int) ([][32]byte, error) {
	if level < tree.StoredLevel || level >= 64 {
		return nil, fmt.Errorf("%s: level %d is not stored", r.D.Name, level)
	}
	rows, err := r.query(`SELECT idx, hash FROM ledger_nodes WHERE tenant = ? AND level = ? AND idx >= ? AND idx < ? ORDER BY idx`, tenant, int64(level), int64(from), int64(from+uint64(n)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][32]byte, 0, n)
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, err
		}
		if uint64(idx) != from+uint64(len(out)) || len(h) != 32 {
			return nil, fmt.Errorf("%w: level %d index %d", tree.ErrNodeMissing, level, from+uint64(len(out)))
		}
		out = append(out, [32]byte(h))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: level %d index %d", tree.ErrNodeMissing, level, from+uint64(len(out)))
	}
	return out, nil
}

// LedgerBodies calls fn with the index and exact body of each entry in
// [from, from+n) of the tenant's ledger that has one, in order, reading
// each stored row once; body is only valid during the call. It reads no
// other column: an entry bundle.
func (r *Reader) LedgerBodies(tenant string, from uint64, n int, fn func(index uint64, body []byte) error) error {
	return r.rangeBodies(tenant, from, from+uint64(n), fn)
}
