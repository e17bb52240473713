package postgres

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// nodeReader adapts a transaction to ledger.NodeReader for one tenant.
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
	if err := t.ledgerRead(); err != nil {
		return nil, err
	}
	out := make([][32]byte, len(ids))
	for i, id := range ids {
		if id.Level >= 64 {
			return nil, fmt.Errorf("postgres: node level %d", id.Level)
		}
		if id.Level >= ledger.StoredLevel {
			var h []byte
			err := t.row(`SELECT hash FROM ledger_nodes WHERE tenant = $1 AND level = $2 AND idx = $3`, tenant, int32(id.Level), int64(id.Index)).Scan(&h)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("%w: level %d index %d", ledger.ErrNodeMissing, id.Level, id.Index)
			}
			if err != nil {
				return nil, err
			}
			if len(h) != 32 {
				return nil, fmt.Errorf("postgres: corrupt node hash")
			}
			copy(out[i][:], h)
			continue
		}
		from := id.Index << id.Level
		n := uint64(1) << id.Level
		leaves, err := t.leafHashes(tenant, from, n)
		if err != nil {
			return nil, err
		}
		if uint64(len(leaves)) != n {
			return nil, fmt.Errorf("%w: level %d index %d", ledger.ErrNodeMissing, id.Level, id.Index)
		}
		for len(leaves) > 1 {
			next := leaves[:0:0]
			for j := 0; j < len(leaves); j += 2 {
				var h [32]byte
				copy(h[:], ledger.HashChildren(leaves[j][:], leaves[j+1][:]))
				next = append(next, h)
			}
			leaves = next
		}
		out[i] = leaves[0]
	}
	return out, nil
}

func (t *rtx) leafHashes(tenant string, from, n uint64) ([][32]byte, error) {
	rows, err := t.query(`SELECT leaf_hash FROM ledger WHERE tenant = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, tenant, int64(from), int64(from+n))
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
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("postgres: corrupt leaf hash")
		}
		copy(h[:], b)
		out = append(out, h)
	}
	return out, rows.Err()
}

// --- checkpoints ---

func (t *rtx) Tenants() ([]string, error) {
	rows, err := t.query(`SELECT tenant FROM tenants ORDER BY tenant`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (t *rtx) checkpoints(query string, args ...any) ([]*cairn.Checkpoint, error) {
	rows, err := t.query(query, args...)
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
		rs, err := t.query(`SELECT witness, note, created_at FROM cosignatures WHERE tenant = $1 AND size = $2 ORDER BY witness`, c.Tenant, int64(c.Size))
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
		if err := rs.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const checkpointCols = `tenant, size, root_hash, note, created_at`

func (t *rtx) LatestCheckpoint(tenant string) (*cairn.Checkpoint, error) {
	cs, err := t.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = $1 ORDER BY size DESC LIMIT 1`, tenant)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return cs[0], nil
}

func (t *rtx) GetCheckpoint(tenant string, size uint64) (*cairn.Checkpoint, error) {
	cs, err := t.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = $1 AND size = $2`, tenant, int64(size))
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, cairn.NotFound("no checkpoint of size %d", size)
	}
	return cs[0], nil
}

func (t *rtx) ListCheckpoints(tenant string, p cairn.Page) ([]*cairn.Checkpoint, error) {
	return t.checkpoints(`SELECT `+checkpointCols+` FROM checkpoints WHERE tenant = $1 AND ($2 = 0 OR size < $2) ORDER BY size DESC LIMIT $3`, tenant, p.After, p.Limit)
}

func (t *wtx) InsertCheckpoint(c *cairn.Checkpoint) error {
	t.deferWrite(nil, `INSERT INTO checkpoints(tenant, size, root_hash, note, created_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING`, c.Tenant, int64(c.Size), c.RootHash, c.Note, c.CreatedAt.UnixNano())
	return nil
}

func (t *wtx) InsertCosignature(tenant string, size uint64, c *cairn.Cosignature) error {
	w := c.Witness
	t.deferWrite(one1(func() error {
		return cairn.Conflict(cairn.EConflict, "witness %q already cosigned checkpoint %d", w, size)
	}),
		`INSERT INTO cosignatures(tenant, size, witness, note, created_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING`, tenant, int64(size), c.Witness, c.Note, c.CreatedAt.UnixNano())
	return nil
}

func (t *rtx) StoreSecret(name string) (*cairn.StoreSecret, error) {
	s := &cairn.StoreSecret{Name: name}
	var at int64
	err := t.row(`SELECT value, source, recorded_at FROM store_secrets WHERE name = $1`, name).Scan(&s.Value, &s.Source, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.RecordedAt = time.Unix(0, at).UTC()
	return s, nil
}

func (t *wtx) RecordStoreSecret(s *cairn.StoreSecret) error {
	t.deferWrite(nil, `INSERT INTO store_secrets(name, value, source, recorded_at) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`, s.Name, s.Value, s.Source, s.RecordedAt.UnixNano())
	return nil
}
