package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pack"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// bodyStore appends 13 entries in transactions of 5, 1, 1, 1 and 5 (job-0
// to job-12, one entry each) and returns the store's directory and the
// entries as read back.
func bodyStore(t *testing.T) (string, []*cairn.LedgerEntry) {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	n := 0
	for _, size := range []int{5, 1, 1, 1, 5} {
		err := s.Update(ctx, func(tx cairn.Tx) error {
			for i := 0; i < size; i++ {
				ev := &cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Unix(int64(n+i), 0), Actor: "t", JobID: cairn.Opt(fmt.Sprintf("job-%d", n+i))}
				if err := tx.AppendEvent(ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n += size
	}
	var es []*cairn.LedgerEntry
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		es, err = tx.LedgerEntries("default", 0, 100)
		return err
	})
	if err != nil || len(es) != 13 {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	return dir, es
}

// rawDB opens the store's file directly, without the append-only triggers
// (as an older version's rows, or damage, would be written).
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{`DROP TRIGGER ledger_bodies_no_update`, `DROP TRIGGER ledger_bodies_no_delete`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestBodyRowsOldAndNew: a transaction's entries share one body row; rows
// written before batches (plain JSON, one frame, or a head and a tail
// frame) read back byte for byte among batch rows, through every read.
func TestBodyRowsOldAndNew(t *testing.T) {
	dir, want := bodyStore(t)
	db := rawDB(t, dir)
	var layout []string
	rows, err := db.Query(`SELECT idx, n FROM ledger_bodies ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var idx, n int
		rows.Scan(&idx, &n)
		layout = append(layout, fmt.Sprintf("%d+%d", idx, n))
	}
	rows.Close()
	if fmt.Sprint(layout) != "[0+5 5+1 6+1 7+1 8+5]" {
		t.Fatalf("body rows %v, want one per transaction", layout)
	}
	// Entry 5 as plain JSON (before ADR 0044), entry 6 as a head frame and
	// a tail frame (ADR 0044); entry 7 stays one frame.
	body6 := want[6].Body
	head, _ := pack.Pack(body6[:40])
	tail, _ := pack.Pack(body6[40:])
	for idx, stored := range map[int][]byte{5: want[5].Body, 6: append(head, tail...)} {
		if _, err := db.Exec(`UPDATE ledger_bodies SET body = ? WHERE idx = ?`, stored, idx); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(context.Background(), func(tx cairn.ReadTx) error {
		for from := 0; from < 13; from++ {
			es, err := tx.LedgerEntries("default", uint64(from), 4)
			if err != nil {
				return err
			}
			for k, e := range es {
				w := want[from+k]
				if !bytes.Equal(e.Body, w.Body) || e.PrevHash != w.PrevHash || e.LeafHash != w.LeafHash {
					return fmt.Errorf("LedgerEntries(%d, 4): entry %d differs", from, w.Index)
				}
			}
		}
		for i, w := range want {
			evs, err := tx.ListEvents("default", cairn.EventFilter{JobID: fmt.Sprintf("job-%d", i), Page: cairn.Page{Limit: 10}})
			if err != nil {
				return err
			}
			if len(evs) != 1 || evs[0].Ledger.LeafHash != w.LeafHash || evs[0].Ledger.Index != w.Index {
				return fmt.Errorf("events of job-%d: %+v", i, evs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCorruptBodyRow: a batch row whose frame is damaged, or whose count
// claims more entries than its frame holds, is an error on every read of
// its entries (never a panic or other bytes); the other rows still read.
func TestCorruptBodyRow(t *testing.T) {
	dir, want := bodyStore(t)
	db := rawDB(t, dir)
	var stored []byte
	if err := db.QueryRow(`SELECT body FROM ledger_bodies WHERE idx = 0`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	stored[len(stored)/2] ^= 0x40
	if _, err := db.Exec(`UPDATE ledger_bodies SET body = ? WHERE idx = 0`, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ledger_bodies SET n = 6 WHERE idx = 8`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(context.Background(), func(tx cairn.ReadTx) error {
		for _, from := range []uint64{0, 3, 8, 10} {
			if es, err := tx.LedgerEntries("default", from, 2); err == nil {
				t.Errorf("LedgerEntries(%d) of a corrupt row: %d entries, no error", from, len(es))
			}
		}
		for _, job := range []string{"job-2", "job-9"} {
			if evs, err := tx.ListEvents("default", cairn.EventFilter{JobID: job, Page: cairn.Page{Limit: 10}}); err == nil {
				t.Errorf("events of %s in a corrupt row: %d, no error", job, len(evs))
			}
		}
		es, err := tx.LedgerEntries("default", 5, 3)
		if err != nil || len(es) != 3 || !bytes.Equal(es[2].Body, want[7].Body) {
			t.Errorf("entries 5 to 7 beside the corrupt rows: %d, %v", len(es), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
