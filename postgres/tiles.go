package postgres

import (
	"fmt"

	"github.com/cairnhq/cairn/ledger"
)

// LedgerLeafHashes returns the leaf hashes of entries [from, from+n) of the
// tenant's ledger in one range query (fewer when the ledger is shorter):
// a level-0 tlog tile.
func (t *rtx) LedgerLeafHashes(tenant string, from uint64, n int) ([][32]byte, error) {
	if err := t.ledgerRead(); err != nil {
		return nil, err
	}
	return t.leafHashes(tenant, from, uint64(n))
}

// LedgerNodeRange returns the stored nodes [from, from+n) of one Merkle
// level (>= StoredLevel) in one range query: a tlog hash tile above level 0.
// A missing node is an error.
func (t *rtx) LedgerNodeRange(tenant string, level uint, from uint64, n int) ([][32]byte, error) {
	if err := t.ledgerRead(); err != nil {
		return nil, err
	}
	if level < StoredLevel || level >= 64 {
		return nil, fmt.Errorf("postgres: level %d is not stored", level)
	}
	rows, err := t.query(`SELECT idx, hash FROM ledger_nodes WHERE tenant = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx`, tenant, int32(level), int64(from), int64(from+uint64(n)))
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
			return nil, fmt.Errorf("%w: level %d index %d", ledger.ErrNodeMissing, level, from+uint64(len(out)))
		}
		out = append(out, [32]byte(h))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: level %d index %d", ledger.ErrNodeMissing, level, from+uint64(len(out)))
	}
	return out, nil
}

// LedgerBodies calls fn with the index and exact body of each entry in
// [from, from+n) of the tenant's ledger, in order, in one range query; body
// is only valid during the call. It reads no other column: an entry bundle.
func (t *rtx) LedgerBodies(tenant string, from uint64, n int, fn func(index uint64, body []byte) error) error {
	if err := t.ledgerRead(); err != nil {
		return err
	}
	rows, err := t.query(`SELECT idx, body FROM ledger WHERE tenant = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, tenant, int64(from), int64(from+uint64(n)))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var body []byte
		if err := rows.Scan(&idx, &body); err != nil {
			return err
		}
		if err := fn(uint64(idx), body); err != nil {
			return err
		}
	}
	return rows.Err()
}
