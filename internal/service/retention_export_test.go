package service

import (
	"slices"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/verify"
)

// TestRetentionTimedExport: a time-range export over pruned evidence lists
// the pruned entries that may fall in its range (their times are gone with
// their bodies) and leaves out those a checkpoint signed before `since`
// proves older; the bundle verifies, reporting them as pruned.
func TestRetentionTimedExport(t *testing.T) {
	h := newHarness(t)
	withLedgerKey(t, h)
	if err := h.s.SetRetention(400*day, false); err != nil {
		t.Fatal(err)
	}
	idx := map[string][]uint64{}
	for _, id := range []string{"early", "mid", "late"} {
		finishJob(t, h, id, nil)
		if _, err := h.s.IssueCheckpoint(h.ctx, "default"); err != nil {
			t.Fatal(err)
		}
		idx[id] = h.jobIndexes(id)
		h.advance(10 * day)
	}
	h.advance(400 * day)
	if cs, err := h.s.Compact(h.ctx); err != nil || len(cs) != 1 {
		t.Fatalf("compaction: %+v, %v", cs, err)
	}
	finishJob(t, h, "after", nil)

	// early at t0, mid at t0+10d, late at t0+20d: [t0+5d, t0+15d) holds mid.
	b, err := h.s.Export(h.ctx, hAuditor, ExportFilter{Since: t0.Add(5 * day), Until: t0.Add(15 * day)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Bundle(b, verify.Options{})
	if err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep.Problems)
	}
	var listed []uint64
	for _, e := range b.Entries {
		if e.PrunedBy == nil {
			t.Fatalf("entry %d has a body in a range that is all pruned", e.Index)
		}
		listed = append(listed, e.Index)
	}
	for _, i := range idx["mid"] {
		if !slices.Contains(listed, i) {
			t.Fatalf("mid's pruned entry %d is not in the export (listed %v)", i, listed)
		}
	}
	for _, i := range idx["early"] {
		if slices.Contains(listed, i) {
			t.Fatalf("early's entry %d, older than since, is listed", i)
		}
	}
	if rep.Pruned != len(listed) {
		t.Fatalf("verify reports %d pruned, want %d", rep.Pruned, len(listed))
	}

	// After the compaction's cutoff nothing pruned can fall in range.
	b, err = h.s.Export(h.ctx, hAuditor, ExportFilter{Since: h.clock.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entries {
		if e.PrunedBy != nil {
			t.Fatalf("recent export lists pruned entry %d", e.Index)
		}
	}
	if len(b.Entries) == 0 {
		t.Fatal("recent export is empty")
	}
}

// jobIndexes are the ledger indexes of a job's entries.
func (h *harness) jobIndexes(jobID string) []uint64 {
	h.t.Helper()
	var out []uint64
	err := h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
		evs, err := tx.ListEvents("default", cairn.EventFilter{JobID: jobID, Page: cairn.Page{Limit: 1000}})
		for _, ev := range evs {
			out = append(out, ev.Ledger.Index)
		}
		return err
	})
	if err != nil || len(out) == 0 {
		h.t.Fatalf("%s's entries: %v, %v", jobID, out, err)
	}
	return out
}
