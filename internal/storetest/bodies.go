package storetest

import (
	"fmt"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// testBodyBatches appends entries of two tenants in transactions of many
// sizes (a store keeps a transaction's entries of a tenant as one body row,
// ADR 0045), interleaving the tenants, and checks that every read gives
// each entry's exact canonical bytes: whole and partial ranges
// (LedgerEntries, LedgerBodies), events by job and by run, and reads
// inside the transaction that appended them.
func testBodyBatches(t *testing.T, s cairn.Store) {
	leaves := map[string][]string{} // tenant -> leaf hash of each entry, as appended
	n := 0
	for _, size := range []int{1, 2, 5, 9, 1, 600, 3} {
		update(t, s, func(tx cairn.Tx) error {
			for i := 0; i < size; i++ {
				tenant := []string{"acme", "zeta"}[i%2]
				n++
				ev := event(tenant, cairn.EventJobStateChanged, "run-"+itoa(n%7), "job-"+itoa(n%11), n)
				if err := tx.AppendEvent(ev); err != nil {
					return err
				}
				leaves[tenant] = append(leaves[tenant], ev.Ledger.LeafHash)
				if i == size/2 {
					// A read of bodies halfway: what was appended so far
					// reads back, and the appends go on.
					es, err := tx.LedgerEntries(tenant, ev.Ledger.Index, 1)
					if err != nil {
						return err
					}
					if len(es) != 1 || es[0].Pruned || es[0].LeafHash != ev.Ledger.LeafHash || ledger.HashHex(ledger.LeafHash(es[0].Body)) != ev.Ledger.LeafHash {
						return fmt.Errorf("entry %d read inside its transaction: %+v", ev.Ledger.Index, es)
					}
				}
			}
			return nil
		})
	}
	for tenant, want := range leaves {
		CheckLedger(t, s, tenant, len(want))
		view(t, s, func(tx cairn.ReadTx) error { return checkBodies(tx, tenant, want) })
	}
}

// checkBodies checks every entry's body against its leaf hash, through
// every read of bodies, from every start.
func checkBodies(tx cairn.ReadTx, tenant string, leaves []string) error {
	all, err := tx.LedgerEntries(tenant, 0, len(leaves)+10)
	if err != nil {
		return err
	}
	if len(all) != len(leaves) {
		return fmt.Errorf("%s: %d entries, want %d", tenant, len(all), len(leaves))
	}
	for i, e := range all {
		if e.Pruned || e.LeafHash != leaves[i] || ledger.HashHex(ledger.LeafHash(e.Body)) != leaves[i] {
			return fmt.Errorf("%s: entry %d: body does not hash to its leaf", tenant, i)
		}
		if i > 0 && e.PrevHash != all[i-1].LeafHash {
			return fmt.Errorf("%s: entry %d: prev hash %s, want %s", tenant, i, e.PrevHash, all[i-1].LeafHash)
		}
	}
	for _, from := range []int{0, 1, 2, 4, 8, 9, 17, 100, 255, 300, len(leaves) - 1} {
		if from >= len(leaves) {
			return fmt.Errorf("%s: only %d entries", tenant, len(leaves))
		}
		for _, limit := range []int{1, 3, 260} {
			es, err := tx.LedgerEntries(tenant, uint64(from), limit)
			if err != nil {
				return err
			}
			if len(es) != min(limit, len(leaves)-from) {
				return fmt.Errorf("%s: LedgerEntries(%d, %d) = %d entries", tenant, from, limit, len(es))
			}
			for k, e := range es {
				if string(e.Body) != string(all[from+k].Body) || e.PrevHash != all[from+k].PrevHash {
					return fmt.Errorf("%s: LedgerEntries(%d, %d): entry %d differs", tenant, from, limit, from+k)
				}
			}
			if br, ok := tx.(interface {
				LedgerBodies(tenant string, from uint64, n int, fn func(index uint64, body []byte) error) error
			}); ok {
				next := from
				err := br.LedgerBodies(tenant, uint64(from), limit, func(idx uint64, body []byte) error {
					if idx != uint64(next) || string(body) != string(all[idx].Body) {
						return fmt.Errorf("%s: LedgerBodies(%d, %d): entry %d (want %d) differs", tenant, from, limit, idx, next)
					}
					next++
					return nil
				})
				if err != nil {
					return err
				}
				if next != from+len(es) {
					return fmt.Errorf("%s: LedgerBodies(%d, %d) gave %d bodies", tenant, from, limit, next-from)
				}
			}
		}
	}
	byLeaf := map[string]bool{}
	for _, l := range leaves {
		byLeaf[l] = true
	}
	seen := 0
	for j := 0; j < 11; j++ {
		evs, err := tx.ListEvents(tenant, cairn.EventFilter{JobID: "job-" + itoa(j), Page: cairn.Page{Limit: 1000}})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if !byLeaf[ev.Ledger.LeafHash] || string(ev.JobID) != "job-"+itoa(j) {
				return fmt.Errorf("%s: an event of job-%d does not match the ledger", tenant, j)
			}
			seen++
		}
	}
	if seen != len(leaves) {
		return fmt.Errorf("%s: events by job: %d, want %d", tenant, seen, len(leaves))
	}
	evs, err := tx.ListEvents(tenant, cairn.EventFilter{RunID: "run-3", Page: cairn.Page{Limit: 5, After: 2}})
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if string(ev.RunID) != "run-3" || ev.Seq <= 2 || !byLeaf[ev.Ledger.LeafHash] {
			return fmt.Errorf("%s: run-3's timeline does not match the ledger", tenant)
		}
	}
	return nil
}

// testCompactionBatchRows prunes a range whose entries were appended three
// to a transaction: a body row goes only with all of its entries, so a row
// holding a kept entry stays, and so does one reaching past the range; the
// pruned entries keep their leaf hashes and previous hashes, and the
// entries that stayed read back exactly.
func testCompactionBatchRows(t *testing.T, s cairn.Store) {
	const tenant = "default"
	for b := 0; b < 5; b++ { // rows [0,3) [3,6) [6,9) [9,12) [12,15)
		update(t, s, func(tx cairn.Tx) error {
			for i := 0; i < 3; i++ {
				if err := tx.AppendEvent(event(tenant, cairn.EventJobStateChanged, "", "", 3*b+i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var before []*cairn.LedgerEntry
	view(t, s, func(tx cairn.ReadTx) error {
		var err error
		if before, err = tx.LedgerEntries(tenant, 0, 100); err != nil {
			return err
		}
		rows, err := tx.LedgerRange(tenant, 2, 10)
		if err != nil {
			return err
		}
		for _, r := range rows {
			from := r.Index / 3 * 3
			if r.Pruned || r.BodyFrom != from || r.BodyTo != from+3 {
				return fmt.Errorf("LedgerRange: entry %d: body row [%d, %d), want [%d, %d)", r.Index, r.BodyFrom, r.BodyTo, from, from+3)
			}
		}
		return nil
	})
	// [0, 10) keeping 4: rows [0,3) and [6,9) go; [3,6) holds 4, [9,12)
	// reaches past 10.
	c := &cairn.Compaction{Tenant: tenant, From: 0, To: 10, Cutoff: at(60)}
	update(t, s, func(tx cairn.Tx) error {
		ev := event(tenant, cairn.EventRetentionCompacted, "", "", 99)
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		c.Event = ev.Ledger.Index
		return tx.Compact(c, &cairn.CompactionPlan{Keep: map[uint64]bool{4: true}})
	})
	view(t, s, func(tx cairn.ReadTx) error {
		after, err := tx.LedgerEntries(tenant, 0, 100)
		if err != nil {
			return err
		}
		for i, e := range before {
			a := after[i]
			pruned := i < 3 || i >= 6 && i < 9
			if a.Pruned != pruned || a.LeafHash != e.LeafHash || a.PrevHash != e.PrevHash {
				return fmt.Errorf("entry %d after compaction: pruned %v prev %s, want pruned %v prev %s", i, a.Pruned, a.PrevHash, pruned, e.PrevHash)
			}
			if !pruned && string(a.Body) != string(e.Body) {
				return fmt.Errorf("entry %d: a kept body changed", i)
			}
			got, err := tx.CompactionOf(tenant, uint64(i))
			if err != nil {
				return err
			}
			if (got != nil) != pruned {
				return fmt.Errorf("CompactionOf(%d) = %+v, want pruned %v", i, got, pruned)
			}
		}
		// Partial reads starting inside a pruned row and inside a kept one.
		for _, from := range []uint64{1, 4, 7, 10} {
			es, err := tx.LedgerEntries(tenant, from, 4)
			if err != nil {
				return err
			}
			for k, e := range es {
				if e.Pruned != after[from+uint64(k)].Pruned || e.PrevHash != after[from+uint64(k)].PrevHash {
					return fmt.Errorf("LedgerEntries(%d, 4): entry %d differs from the whole read", from, from+uint64(k))
				}
			}
		}
		rows, err := tx.LedgerRange(tenant, 0, 12)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Pruned != (r.Index < 3 || r.Index >= 6 && r.Index < 9) {
				return fmt.Errorf("LedgerRange: entry %d pruned %v", r.Index, r.Pruned)
			}
		}
		return nil
	})
}
