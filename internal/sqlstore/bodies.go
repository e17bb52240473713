package sqlstore

import (
	"fmt"
	"strings"
	"sync"

	"github.com/cairnhq/cairn/internal/pack"
)

// Ledger bodies at rest (ADR 0044, 0045): a ledger_bodies row holds the
// canonical envelopes of a tenant's entries [idx, idx+n), written in one
// writer transaction, as one value (pack.PackBatch). Rows written before
// batches hold one entry each (n = 1), plain JSON or one zstd frame. The
// body of entry i is in the row with the greatest idx <= i, if that row's
// n reaches i; else it was pruned by retention (or never written).

// PendingBody is an appended entry's canonical envelope waiting for its
// ledger_bodies row: a writer keeps them until its transaction reads a
// body or commits, then writes them as few rows (BodyRows).
type PendingBody struct {
	Tenant   string
	Index    uint64
	Envelope []byte
}

// BodyRow is one ledger_bodies row: the tenant's entries [First, First+N),
// stored as Body.
type BodyRow struct {
	Tenant string
	First  uint64
	N      int
	Body   []byte
}

// BodyRows packs pending envelopes into rows: one per run of consecutive
// indexes of a tenant (at most pack.MaxBatchEntries entries and about
// pack.MaxBatchBytes), tenants in the order of their first entry.
func BodyRows(p []PendingBody) ([]BodyRow, error) {
	var out []BodyRow
	done := make([]bool, len(p))
	for i := range p {
		if done[i] {
			continue
		}
		tenant := p[i].Tenant
		var run [][]byte
		var first, next uint64
		size := 0
		flush := func() error {
			if len(run) == 0 {
				return nil
			}
			body, err := pack.PackBatch(run)
			if err != nil {
				return err
			}
			out = append(out, BodyRow{Tenant: tenant, First: first, N: len(run), Body: body})
			run, size = nil, 0
			return nil
		}
		for j := i; j < len(p); j++ {
			e := p[j]
			if done[j] || e.Tenant != tenant {
				continue
			}
			done[j] = true
			if len(run) > 0 && (e.Index != next || len(run) >= pack.MaxBatchEntries || size+len(e.Envelope) > pack.MaxBatchBytes) {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			if len(run) == 0 {
				first = e.Index
			}
			run = append(run, e.Envelope)
			size += len(e.Envelope)
			next = e.Index + 1
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var insertBodiesSQL sync.Map // int -> string

// InsertBodiesSQL is the INSERT of n ledger_bodies rows (? placeholders);
// BodyArgs gives its values.
func InsertBodiesSQL(n int) string {
	if v, ok := insertBodiesSQL.Load(n); ok {
		return v.(string)
	}
	q := `INSERT INTO ledger_bodies(tenant, idx, n, body) VALUES (?,?,?,?)` + strings.Repeat(",(?,?,?,?)", n-1)
	insertBodiesSQL.Store(n, q)
	return q
}

// BodyArgs are the values of rows for InsertBodiesSQL(len(rows)).
func BodyArgs(rows []BodyRow) []any {
	args := make([]any, 0, 4*len(rows))
	for _, r := range rows {
		args = append(args, r.Tenant, int64(r.First), r.N, r.Body)
	}
	return args
}

// MaxBodyRowsPerInsert bounds one INSERT of InsertBodiesSQL.
const MaxBodyRowsPerInsert = 64

// storedRow is a ledger_bodies row as read: its key, count and value.
type storedRow struct {
	first uint64
	n     int
	body  []byte
}

// bodyCache decodes each stored row once per read, however many of its
// entries the read uses.
type bodyCache struct {
	name string
	rows map[uint64][][]byte
}

// entry returns entry idx's body from the row r (which must cover it).
func (c *bodyCache) entry(r storedRow, idx uint64) ([]byte, error) {
	if idx < r.first || idx-r.first >= uint64(r.n) {
		return nil, fmt.Errorf("%s: ledger entry %d: not in its body row %d+%d", c.name, idx, r.first, r.n)
	}
	if r.n == 1 {
		b, err := Unpack(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s: ledger entry %d: %w", c.name, idx, err)
		}
		return b, nil
	}
	bodies, ok := c.rows[r.first]
	if !ok {
		var err error
		if bodies, err = pack.UnpackBatch(r.body, r.n); err != nil {
			return nil, fmt.Errorf("%s: ledger entries %d to %d: %w", c.name, r.first, r.first+uint64(r.n)-1, err)
		}
		if c.rows == nil {
			c.rows = map[uint64][][]byte{}
		}
		c.rows[r.first] = bodies
	}
	return bodies[idx-r.first], nil
}

// bodyOf is the row holding entry idx's body: the one with the greatest
// first <= idx, if it reaches idx.
const bodyOf = `(SELECT x.idx FROM ledger_bodies x WHERE x.tenant = l.tenant AND x.idx <= l.idx ORDER BY x.idx DESC LIMIT 1)`

// JoinBody joins ledger l to the ledger_bodies row b that holds each
// entry's body; entries whose body was pruned drop out.
const JoinBody = ` JOIN ledger_bodies b ON b.tenant = l.tenant AND b.idx = ` + bodyOf + ` AND l.idx < b.idx + b.n`

// bodyRows reads the stored rows that hold the bodies of the tenant's
// entries [from, to), in order, each once: the row holding entry from (if
// it starts before from) and those starting in the range.
func (r *Reader) bodyRows(tenant string, from, to uint64) ([]storedRow, error) {
	rows, err := r.query(`SELECT idx, n, body FROM ledger_bodies WHERE tenant = ?
		AND idx >= coalesce((SELECT x.idx FROM ledger_bodies x WHERE x.tenant = ? AND x.idx <= ? ORDER BY x.idx DESC LIMIT 1), ?)
		AND idx < ? ORDER BY idx`, tenant, tenant, int64(from), int64(from), int64(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedRow
	for rows.Next() {
		var first, n int64
		var body []byte
		if err := rows.Scan(&first, &n, &body); err != nil {
			return nil, err
		}
		if n < 1 {
			return nil, fmt.Errorf("%s: ledger body row %d holds %d entries", r.D.Name, first, n)
		}
		out = append(out, storedRow{first: uint64(first), n: int(n), body: body})
	}
	return out, rows.Err()
}

// rangeBodies calls fn with the index and body of each entry in [from, to)
// of the tenant's ledger that has one, in order, reading each stored row
// once. A row's entries end where the next row starts.
func (r *Reader) rangeBodies(tenant string, from, to uint64, fn func(idx uint64, body []byte) error) error {
	if to <= from {
		return nil
	}
	if err := r.beforeBodies(); err != nil {
		return err
	}
	rows, err := r.bodyRows(tenant, from, to)
	if err != nil {
		return err
	}
	c := &bodyCache{name: r.D.Name}
	for k, row := range rows {
		end := row.first + uint64(row.n)
		if k+1 < len(rows) {
			end = min(end, rows[k+1].first)
		}
		for i := max(row.first, from); i < min(end, to); i++ {
			b, err := c.entry(row, i)
			if err != nil {
				return err
			}
			if err := fn(i, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// beforeBodies lets a writer store the bodies it holds back before a read
// of ledger_bodies (Reader.FlushBodies).
func (r *Reader) beforeBodies() error {
	if r.FlushBodies == nil {
		return nil
	}
	return r.FlushBodies()
}
