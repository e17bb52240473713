package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/transparency-dev/merkle/compact"
)

// nodeReader adapts a read transaction to ledger.NodeReader for one tenant.
type nodeReader struct {
	t      *rtx
	tenant string
}

func (r nodeReader) Nodes(ids []compact.NodeID) ([][32]byte, error) {
	cids := make([]cairn.NodeID, len(ids))
	for i, id := range ids {
		cids[i] = cairn.NodeID{Level: id.Level, Index: id.Index}
	}
	return r.t.LedgerNodes(r.tenant, cids)
}

func (t *rtx) LedgerNodes(tenant string, ids []cairn.NodeID) ([][32]byte, error) {
	return ledger.ReadThrough(t.nodes, tenant, ids, nodeKey, func(ids []cairn.NodeID) ([][32]byte, error) {
		return t.loadNodes(tenant, ids)
	})
}

func nodeKey(id cairn.NodeID) (uint, uint64) { return id.Level, id.Index }

// loadNodes reads nodes from ledger_nodes, and computes those below
// ledger.StoredLevel from the leaf hashes in ledger.
func (t *rtx) loadNodes(tenant string, ids []cairn.NodeID) ([][32]byte, error) {
	out := make([][32]byte, len(ids))
	// Stored nodes: one query for all of them.
	var stored []int
	// Computed nodes: the leaves they cover, fetched as few ranges.
	var leafIdx []uint64
	for i, id := range ids {
		if id.Level >= 64 {
			return nil, fmt.Errorf("sqlite: node level %d", id.Level)
		}
		if id.Level >= ledger.StoredLevel {
			stored = append(stored, i)
			continue
		}
		for k := id.Index << id.Level; k < (id.Index+1)<<id.Level; k++ {
			leafIdx = append(leafIdx, k)
		}
	}
	if len(stored) > 0 {
		var q strings.Builder
		args := make([]any, 0, 1+2*len(stored))
		args = append(args, tenant)
		q.WriteString(`SELECT level, idx, hash FROM ledger_nodes WHERE tenant = ? AND (level, idx) IN (VALUES `)
		for j, i := range stored {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?)")
			args = append(args, ids[i].Level, ids[i].Index)
		}
		q.WriteString(")")
		rows, err := t.query(q.String(), args...)
		if err != nil {
			return nil, err
		}
		found := map[cairn.NodeID][32]byte{}
		for rows.Next() {
			var level uint
			var idx uint64
			var h []byte
			if err := rows.Scan(&level, &idx, &h); err != nil {
				rows.Close()
				return nil, err
			}
			if len(h) != 32 {
				rows.Close()
				return nil, fmt.Errorf("sqlite: corrupt node hash")
			}
			var hh [32]byte
			copy(hh[:], h)
			found[cairn.NodeID{Level: level, Index: idx}] = hh
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, i := range stored {
			h, ok := found[ids[i]]
			if !ok {
				return nil, fmt.Errorf("%w: level %d index %d", ledger.ErrNodeMissing, ids[i].Level, ids[i].Index)
			}
			out[i] = h
		}
	}
	if len(leafIdx) > 0 {
		leaves, err := t.leavesAt(tenant, leafIdx)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			if id.Level >= ledger.StoredLevel {
				continue
			}
			n := uint64(1) << id.Level
			level := make([][32]byte, 0, n)
			for k := id.Index << id.Level; k < (id.Index+1)<<id.Level; k++ {
				h, ok := leaves[k]
				if !ok {
					return nil, fmt.Errorf("%w: level %d index %d", ledger.ErrNodeMissing, id.Level, id.Index)
				}
				level = append(level, h)
			}
			for len(level) > 1 {
				next := level[:0:0]
				for j := 0; j < len(level); j += 2 {
					var h [32]byte
					copy(h[:], ledger.HashChildren(level[j][:], level[j+1][:]))
					next = append(next, h)
				}
				level = next
			}
			out[i] = level[0]
		}
	}
	return out, nil
}

// leavesAt reads the leaf hashes of the given indexes, one range query per
// run of nearby indexes.
func (t *rtx) leavesAt(tenant string, idx []uint64) (map[uint64][32]byte, error) {
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make(map[uint64][32]byte, len(idx))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1]-idx[j] <= 16 {
			j++
		}
		from, to := idx[i], idx[j]+1
		hs, err := t.leafHashes(tenant, from, to-from)
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

func (t *rtx) leafHashes(tenant string, from, n uint64) ([][32]byte, error) {
	rows, err := t.query(`SELECT leaf_hash FROM ledger WHERE tenant = ? AND idx >= ? AND idx < ? ORDER BY idx`, tenant, from, from+n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][32]byte
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		var h [32]byte
		if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("sqlite: corrupt leaf hash")
		} else {
			copy(h[:], b)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// backfillNodes builds ledger_nodes for ledgers written before the tree existed.
func backfillNodes(ctx context.Context, c *sql.Conn) error {
	rows, err := c.QueryContext(ctx, `SELECT DISTINCT tenant FROM ledger`)
	if err != nil {
		return err
	}
	var tenants []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		tenants = append(tenants, s)
	}
	rows.Close()
	for _, tenant := range tenants {
		r, err := c.QueryContext(ctx, `SELECT leaf_hash FROM ledger WHERE tenant = ? ORDER BY idx`, tenant)
		if err != nil {
			return err
		}
		a := ledger.NewAppender()
		var nodes []ledger.Node
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				r.Close()
				return err
			}
			var h [32]byte
			b, _ := hex.DecodeString(s)
			copy(h[:], b)
			ns, err := a.Append(h)
			if err != nil {
				r.Close()
				return err
			}
			nodes = append(nodes, ns...)
		}
		r.Close()
		for _, n := range nodes {
			if n.Level < ledger.StoredLevel {
				continue
			}
			if _, err := c.ExecContext(ctx, `INSERT OR IGNORE INTO ledger_nodes(tenant, level, idx, hash) VALUES (?,?,?,?)`, tenant, n.Level, n.Index, n.Hash[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// --- checkpoints ---

func (t *rtx) Tenants() ([]string, error) {
	rows, err := t.query(`SELECT tenant FROM tenants ORDER BY tenant`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *rtx) checkpoints(query string, args ...any) ([]*cairn.Checkpoint, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	var out []*cairn.Checkpoint
	for rows.Next() {
		c := &cairn.Checkpoint{}
		var created int64
		if err := rows.Scan(&c.Tenant, &c.Size, &c.RootHash, &c.Note, &created); err != nil {
			rows.Close()
			return nil, err
		}
		c.CreatedAt = time.Unix(0, created).UTC()
		c.Cosignatures = []cairn.Cosignature{}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range out {
		rs, err := t.query(`SELECT witness, note, created_at FROM cosignatures WHERE tenant = ? AND size = ? ORDER BY witness`, c.Tenant, c.Size)
		if err != nil {
			return nil, err
		}
		for rs.Next() {
			var cs cairn.Cosignature
			var created int64
			if err := rs.Scan(&cs.Witness, &cs.Note, &created); err != nil {
				rs.Close()
				return nil, err
			}
			cs.CreatedAt = time.Unix(0, created).UTC()
			c.Cosignatures = append(c.Cosignatures, cs)
		}
		rs.Close()
	}
	return out, nil
}

const checkpointCols = `tenant, size, root_hash, note, created_at`

func (t *rtx) LatestCheckpoint(tenant string) (*cairn.Checkpoint, error) {
	cs, err := t.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = ? ORDER BY size DESC LIMIT 1`, tenant)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return cs[0], nil
}

func (t *rtx) GetCheckpoint(tenant string, size uint64) (*cairn.Checkpoint, error) {
	cs, err := t.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = ? AND size = ?`, tenant, size)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, cairn.NotFound("no checkpoint of size %d", size)
	}
	return cs[0], nil
}

func (t *rtx) ListCheckpoints(tenant string, p cairn.Page) ([]*cairn.Checkpoint, error) {
	return t.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = ? AND (? = 0 OR size < ?) ORDER BY size DESC LIMIT ?`, tenant, p.After, p.After, p.Limit)
}

func (t *wtx) InsertCheckpoint(c *cairn.Checkpoint) error {
	_, err := t.exec(`INSERT INTO checkpoints(tenant, size, root_hash, note, created_at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`, c.Tenant, c.Size, c.RootHash, c.Note, c.CreatedAt.UnixNano())
	return err
}

func (t *wtx) InsertCosignature(tenant string, size uint64, c *cairn.Cosignature) error {
	_, err := t.exec(`INSERT INTO cosignatures(tenant, size, witness, note, created_at) VALUES (?,?,?,?,?)`, tenant, size, c.Witness, c.Note, c.CreatedAt.UnixNano())
	if err != nil && isUnique(err) {
		return cairn.Conflict(cairn.EConflict, "witness %q already cosigned checkpoint %d", c.Witness, size)
	}
	return err
}

func (t *rtx) StoreSecret(name string) (*cairn.StoreSecret, error) {
	s := &cairn.StoreSecret{Name: name}
	var at int64
	err := t.row(`SELECT value, source, recorded_at FROM store_secrets WHERE name = ?`, name).Scan(&s.Value, &s.Source, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.RecordedAt = time.Unix(0, at).UTC()
	return s, nil
}

func (t *wtx) RecordStoreSecret(s *cairn.StoreSecret) error {
	_, err := t.exec(`INSERT INTO store_secrets(name, value, source, recorded_at) VALUES (?,?,?,?) ON CONFLICT DO NOTHING`, s.Name, s.Value, s.Source, s.RecordedAt.UnixNano())
	return err
}
