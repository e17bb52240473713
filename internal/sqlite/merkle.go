package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"

	"github.com/cairnhq/cairn/ledger/tree"
)

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
		a := tree.NewAppender()
		var nodes []tree.Node
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
			if n.Level < tree.StoredLevel {
				continue
			}
			if _, err := c.ExecContext(ctx, `INSERT OR IGNORE INTO ledger_nodes(tenant, level, idx, hash) VALUES (?,?,?,?)`, tenant, n.Level, n.Index, n.Hash[:]); err != nil {
				return err
			}
		}
	}
	return nil
}
