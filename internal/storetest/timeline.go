package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// testTimelinePruned prunes part of a run and lists its timeline with
// WithPruned: each pruned event is a marker in its place (type, job,
// ledger index and leaf hash, the compaction's event), and paging by seq
// goes across markers. Without WithPruned the markers are left out.
func testTimelinePruned(t *testing.T, s cairn.Store) {
	const tenant = "default"
	// Entries 0..9: even ones in run "r" (seq 1..5), odd ones elsewhere.
	for i := 0; i < 10; i++ {
		run, jobID := "", ""
		if i%2 == 0 {
			run, jobID = "r", fmt.Sprintf("job-%d", i)
		}
		update(t, s, func(tx cairn.Tx) error {
			return tx.AppendEvent(event(tenant, cairn.EventJobStateChanged, run, jobID, i))
		})
	}
	var before []*cairn.LedgerEntry
	view(t, s, func(tx cairn.ReadTx) error {
		var err error
		before, err = tx.LedgerEntries(tenant, 0, 10)
		return err
	})
	// Prune [2, 7) but keep 4: seq 2 (entry 2) and seq 4 (entry 6) go.
	c := &cairn.Compaction{Tenant: tenant, From: 2, To: 7, Cutoff: at(60)}
	update(t, s, func(tx cairn.Tx) error {
		ev := event(tenant, cairn.EventRetentionCompacted, "", "", 99)
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		c.Event = ev.Ledger.Index
		return tx.Compact(c, &cairn.CompactionPlan{Keep: map[uint64]bool{4: true}})
	})
	view(t, s, func(tx cairn.ReadTx) error {
		for _, raw := range []bool{false, true} {
			var got []*cairn.Event
			for after := int64(0); ; {
				page, err := tx.ListEvents(tenant, cairn.EventFilter{RunID: "r", WithPruned: true, RawOnly: raw, Page: cairn.Page{Limit: 2, After: after}})
				if err != nil {
					return err
				}
				got = append(got, page...)
				if len(page) < 2 {
					break
				}
				after = page[len(page)-1].Seq
			}
			eq(t, "timeline length", len(got), 5)
			for k, ev := range got {
				idx := uint64(2 * k)
				pruned := idx == 2 || idx == 6
				eq(t, "seq", ev.Seq, int64(k+1))
				eq(t, "ledger index", ev.Ledger.Index, idx)
				eq(t, "leaf hash", ev.Ledger.LeafHash, before[idx].LeafHash)
				eq(t, fmt.Sprintf("entry %d pruned", idx), ev.Pruned, pruned)
				if !raw && !pruned {
					eq(t, "job", string(ev.JobID), fmt.Sprintf("job-%d", idx))
				}
				if !pruned {
					continue
				}
				if ev.PrunedBy == nil || *ev.PrunedBy != c.Event {
					t.Fatalf("entry %d pruned_by = %v, want %d", idx, ev.PrunedBy, c.Event)
				}
				eq(t, "type", ev.Type, cairn.EventJobStateChanged)
				eq(t, "job", string(ev.JobID), fmt.Sprintf("job-%d", idx))
				if raw {
					want := fmt.Sprintf(`{"ledger":{"index":%d,"leaf_hash":"%s"},"seq":%d,"type":"job_state_changed","run_id":"r","job_id":"job-%d","pruned":true,"pruned_by":%d}`,
						idx, before[idx].LeafHash, k+1, idx, c.Event)
					eq(t, "marker JSON", string(ev.Raw), want)
				} else if ev.Raw != nil || ev.RunID != "r" {
					t.Fatalf("decoded marker: %+v", ev)
				}
			}
		}
		plain, err := tx.ListEvents(tenant, cairn.EventFilter{RunID: "r", Page: cairn.Page{Limit: 10}})
		if err != nil {
			return err
		}
		var seqs []string
		for _, ev := range plain {
			seqs = append(seqs, fmt.Sprint(ev.Seq))
		}
		eq(t, "timeline without pruned", strings.Join(seqs, ","), "1,3,5")
		return nil
	})
}
