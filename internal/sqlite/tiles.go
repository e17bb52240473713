package sqlite

import (
	"database/sql"
	"fmt"

	"github.com/cairnhq/cairn/internal/sqlstore"
)

// LedgerBodies is sqlstore.Reader's, with the bodies read in place
// (sql.RawBytes): an entry bundle copies no plain body (a compressed one
// is decompressed into a fresh buffer).
func (t *rtx) LedgerBodies(tenant string, from uint64, n int, fn func(index uint64, body []byte) error) error {
	rows, err := t.c.query(sqlstore.LedgerBodiesQuery, tenant, int64(from), int64(from+uint64(n)))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var body sql.RawBytes
		if err := rows.Scan(&idx, &body); err != nil {
			return err
		}
		plain, err := sqlstore.Unpack(body)
		if err != nil {
			return fmt.Errorf("sqlite: ledger entry %d: %w", idx, err)
		}
		if err := fn(uint64(idx), plain); err != nil {
			return err
		}
	}
	return rows.Err()
}
