package service

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/cairnhq/cairn"
)

// rowsOf returns ledger rows [from, to) whose bodies are stored in rows
// of three ([0,3), [3,6) …), as a store that batches a transaction's
// entries reports them.
func rowsOf(from, to uint64) []cairn.LedgerRow {
	var out []cairn.LedgerRow
	for i := from; i < to; i++ {
		out = append(out, cairn.LedgerRow{Index: i, BodyFrom: i / 3 * 3, BodyTo: i/3*3 + 3})
	}
	return out
}

// TestEndOnBodyRow: a compaction range that would end inside a stored body
// row ends where that row starts, so the next compaction takes it whole;
// a range ending on a row boundary, or one that would become empty, stays.
func TestEndOnBodyRow(t *testing.T) {
	for _, tc := range []struct{ from, to, want uint64 }{
		{0, 10, 9}, {0, 9, 9}, {3, 11, 9}, {9, 11, 11}, {10, 11, 11}, {0, 2, 2},
	} {
		c := &cairn.Compaction{From: tc.from, To: tc.to}
		rows := endOnBodyRow(c, rowsOf(tc.from, tc.to))
		if c.To != tc.want || uint64(len(rows)) != c.To-c.From || len(rows) > 0 && rows[len(rows)-1].Index != c.To-1 {
			t.Errorf("[%d, %d): ends at %d with %d rows, want %d", tc.from, tc.to, c.To, len(rows), tc.want)
		}
	}
	// A pruned last entry (no body row) leaves the range as it is.
	c := &cairn.Compaction{From: 0, To: 10}
	rows := rowsOf(0, 10)
	rows[9] = cairn.LedgerRow{Index: 9, Pruned: true}
	if endOnBodyRow(c, rows); c.To != 10 {
		t.Errorf("a range ending on a pruned entry ends at %d", c.To)
	}
}

// TestKeepBodyRows: an entry kept by a hold keeps the entries stored in
// its row (inside the range), and nothing outside the range.
func TestKeepBodyRows(t *testing.T) {
	rows := rowsOf(2, 9) // rows [0,3) [3,6) [6,9), the range starting at 2
	keep := map[uint64]bool{4: true, 2: true}
	keepBodyRows(rows, keep)
	got := fmt.Sprint(slices.Sorted(maps.Keys(keep)))
	if got != "[2 3 4 5]" {
		t.Errorf("kept %s, want [2 3 4 5]", got)
	}
}
