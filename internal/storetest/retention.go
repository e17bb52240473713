package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// Retention and legal hold (issue 14 §2): holds, tenant retention, and a
// compaction that prunes bodies, payloads, job and approval rows while the
// leaf hashes and the Merkle tree stay as they were.

func testHolds(t *testing.T, s cairn.Store) {
	h1 := &cairn.Hold{HoldID: "hold_1", Tenant: "default", Scope: cairn.HoldRun, ID: "run-1", Reason: "litigation", Status: cairn.HoldActive, PlacedBy: "auditor", PlacedAt: at(1)}
	h2 := &cairn.Hold{HoldID: "hold_2", Tenant: "default", Scope: cairn.HoldSubject, ID: "alice", Reason: "dsar", Status: cairn.HoldActive, PlacedBy: "admin", PlacedAt: at(2)}
	other := &cairn.Hold{HoldID: "hold_1", Tenant: "acme", Scope: cairn.HoldTenant, ID: "acme", Reason: "r", Status: cairn.HoldActive, PlacedBy: "x", PlacedAt: at(3)}
	update(t, s, func(tx cairn.Tx) error {
		for _, h := range []*cairn.Hold{h1, h2, other} {
			if err := tx.InsertHold(h); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		dup := *h1
		wantCode(t, tx.InsertHold(&dup), cairn.EConflict)
		return nil
	})
	view(t, s, func(tx cairn.ReadTx) error {
		hs, err := tx.ListHolds("default", cairn.HoldFilter{Page: cairn.Page{Limit: 10}})
		if err != nil {
			return err
		}
		eqList(t, "holds newest first", holdIDs(hs), []string{"hold_2", "hold_1"})
		page, err := tx.ListHolds("default", cairn.HoldFilter{Page: cairn.Page{Limit: 10, After: hs[0].Seq}})
		if err != nil {
			return err
		}
		eqList(t, "holds after the first", holdIDs(page), []string{"hold_1"})
		g, err := tx.GetHold("acme", "hold_1")
		if err != nil {
			return err
		}
		eq(t, "acme hold scope", g.Scope, cairn.HoldTenant)
		_, err = tx.GetHold("default", "hold_9")
		wantCode(t, err, cairn.ENotFound)
		return nil
	})
	released := *h1
	now := at(10)
	released.Status, released.ReleasedBy, released.ReleasedAt, released.ReleaseReason = cairn.HoldReleased, "admin", &now, "settled"
	update(t, s, func(tx cairn.Tx) error { return tx.ReleaseHold(&released) })
	update(t, s, func(tx cairn.Tx) error {
		again := released
		wantCode(t, tx.ReleaseHold(&again), cairn.EConflict)
		return nil
	})
	view(t, s, func(tx cairn.ReadTx) error {
		hs, err := tx.ListHolds("default", cairn.HoldFilter{ActiveOnly: true, Page: cairn.Page{Limit: 10}})
		if err != nil {
			return err
		}
		eqList(t, "active holds", holdIDs(hs), []string{"hold_2"})
		g, err := tx.GetHold("default", "hold_1")
		if err != nil {
			return err
		}
		eq(t, "released status", g.Status, cairn.HoldReleased)
		eq(t, "release reason", string(g.ReleaseReason), "settled")
		a, err := tx.GetHold("acme", "hold_1")
		if err != nil {
			return err
		}
		eq(t, "the other tenant's hold of the same id", a.Status, cairn.HoldActive)
		return nil
	})
}

func holdIDs(hs []*cairn.Hold) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.HoldID
	}
	return out
}

func testTenantRetention(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		tr, err := tx.TenantRetention("default")
		if tr != nil || err != nil {
			t.Fatalf("TenantRetention before any = %+v, %v", tr, err)
		}
		return nil
	})
	for _, d := range []time.Duration{400 * 24 * time.Hour, 200 * 24 * time.Hour} {
		update(t, s, func(tx cairn.Tx) error {
			return tx.SetTenantRetention(&cairn.TenantRetention{Tenant: "default", Period: d, SetBy: "admin", SetAt: at(int(d / time.Hour))})
		})
		view(t, s, func(tx cairn.ReadTx) error {
			tr, err := tx.TenantRetention("default")
			if err != nil {
				return err
			}
			eq(t, "retention", tr.Period, d)
			eq(t, "set at", tr.SetAt.Equal(at(int(d/time.Hour))), true)
			other, err := tx.TenantRetention("acme")
			if other != nil || err != nil {
				t.Fatalf("another tenant's retention = %+v, %v", other, err)
			}
			return nil
		})
	}
}

// testCompaction prunes [4, 20) of a 40-entry ledger with two jobs' rows
// and payloads, keeping entry 7 (held), and checks what went and what
// stayed: leaf hashes, the root and proofs, checkpoints.
func testCompaction(t *testing.T, s cairn.Store) {
	const tenant = "default"
	// One entry per transaction: each body is a row of its own (a batch
	// row goes whole or not at all: testCompactionBatchRows).
	for i := 0; i < 40; i++ {
		jobID := ""
		switch {
		case i >= 4 && i < 8:
			jobID = "job-a"
		case i >= 8 && i < 12:
			jobID = "job-b"
		case i >= 12 && i < 14:
			jobID = "job-c" // its last entry is past the range: its row stays
		case i >= 30 && i < 32:
			jobID = "job-c"
		}
		update(t, s, func(tx cairn.Tx) error {
			return tx.AppendEvent(event(tenant, cairn.EventJobStateChanged, "", jobID, i))
		})
	}
	update(t, s, func(tx cairn.Tx) error {
		for _, id := range []string{"job-a", "job-b", "job-c"} {
			j := job(tenant, id, cairn.StateSucceeded, 1)
			j.ResultPtr = cairn.Opt(cairn.ResultPtr(id))
			if err := tx.InsertJob(j); err != nil {
				return err
			}
			for _, ptr := range []string{cairn.ContextPtr(id), cairn.ResultPtr(id)} {
				if err := tx.PutPayload(&cairn.Payload{Tenant: tenant, Ptr: ptr, SHA256: "x", Data: []byte(`{"secret":1}`)}); err != nil {
					return err
				}
			}
			if err := tx.InsertApproval(approval(tenant, id, 1, nil)); err != nil {
				return err
			}
		}
		return tx.InsertCheckpoint(&cairn.Checkpoint{Tenant: tenant, Size: 40, RootHash: "r", Note: "n", CreatedAt: at(50)})
	})
	var before []*cairn.LedgerEntry
	var root [32]byte
	view(t, s, func(tx cairn.ReadTx) error {
		var err error
		if before, err = tx.LedgerEntries(tenant, 0, 100); err != nil {
			return err
		}
		root, err = tree.RootAt(40, cairn.TenantNodes{Src: tx, Tenant: tenant})
		return err
	})

	var jobs []*cairn.Job
	view(t, s, func(tx cairn.ReadTx) error {
		for _, id := range []string{"job-a", "job-b"} {
			j, err := tx.GetJob(tenant, id)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		size, err := tx.CheckpointSizeAt(tenant, at(49))
		eq(t, "checkpoint size before its time", size, uint64(0))
		if err != nil {
			return err
		}
		size, err = tx.CheckpointSizeAt(tenant, at(50))
		eq(t, "checkpoint size at its time", size, uint64(40))
		return err
	})
	c := &cairn.Compaction{Tenant: tenant, From: 4, To: 20, Cutoff: at(60)}
	update(t, s, func(tx cairn.Tx) error {
		ev := event(tenant, cairn.EventRetentionCompacted, "", "", 99)
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		c.Event = ev.Ledger.Index
		return tx.Compact(c, &cairn.CompactionPlan{Jobs: jobs, Keep: map[uint64]bool{7: true}})
	})
	view(t, s, func(tx cairn.ReadTx) error { return checkCompacted(t, tx, c, before, root) })

	// A compaction whose transaction fails leaves nothing pruned.
	err := s.Update(ctx, func(tx cairn.Tx) error {
		ev := event(tenant, cairn.EventRetentionCompacted, "", "", 100)
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		c2 := &cairn.Compaction{Tenant: tenant, Event: ev.Ledger.Index, From: 20, To: 30, Cutoff: at(70)}
		if err := tx.Compact(c2, &cairn.CompactionPlan{}); err != nil {
			return err
		}
		return errBoom
	})
	if !isBoom(err) {
		t.Fatalf("failing compaction: %v", err)
	}
	// Ranges never overlap: a second compaction of the same start fails.
	err = s.Update(ctx, func(tx cairn.Tx) error {
		ev := event(tenant, cairn.EventRetentionCompacted, "", "", 101)
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		return tx.Compact(&cairn.Compaction{Tenant: tenant, Event: ev.Ledger.Index, From: 4, To: 30, Cutoff: at(70)}, &cairn.CompactionPlan{})
	})
	if err == nil {
		t.Fatal("a second compaction from the same index was recorded")
	}
	view(t, s, func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries(tenant, 20, 10)
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.Pruned {
				t.Fatalf("entry %d pruned by a compaction that failed", e.Index)
			}
		}
		last, err := tx.LastCompaction(tenant)
		if err != nil {
			return err
		}
		eq(t, "last compaction after a failed one", last.To, uint64(20))
		return nil
	})
}

// checkCompacted checks the state after compaction c of testCompaction.
func checkCompacted(t *testing.T, tx cairn.ReadTx, c *cairn.Compaction, before []*cairn.LedgerEntry, root [32]byte) error {
	after, err := tx.LedgerEntries(c.Tenant, 0, 100)
	if err != nil {
		return err
	}
	for i, e := range before {
		a := after[i]
		pruned := e.Index >= c.From && e.Index < c.To && e.Index != 7
		if a.LeafHash != e.LeafHash || a.PrevHash != e.PrevHash || a.Pruned != pruned {
			return fmt.Errorf("entry %d after compaction: pruned %v leaf %s, want pruned %v leaf %s", e.Index, a.Pruned, a.LeafHash, pruned, e.LeafHash)
		}
		if !pruned && string(a.Body) != string(e.Body) {
			return fmt.Errorf("entry %d: a kept body changed", e.Index)
		}
	}
	got, err := tree.RootAt(40, cairn.TenantNodes{Src: tx, Tenant: c.Tenant})
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("root at 40 changed by compaction")
	}
	p, err := tree.InclusionProof(5, 40, cairn.TenantNodes{Src: tx, Tenant: c.Tenant})
	if err != nil {
		return err
	}
	leaf := ledger.LeafHash(before[5].Body)
	if err := tree.VerifyInclusion(5, 40, leaf, p, root); err != nil {
		return fmt.Errorf("inclusion of a pruned entry: %w", err)
	}
	for _, id := range []string{"job-a", "job-b"} {
		_, err := tx.GetJob(c.Tenant, id)
		wantCode(t, err, cairn.ENotFound)
		_, err = tx.GetApproval(c.Tenant, id)
		if !cairn.IsNotFound(err) {
			t.Fatalf("approval of pruned %s: %v", id, err)
		}
		for _, ptr := range []string{cairn.ContextPtr(id), cairn.ResultPtr(id)} {
			if _, err := tx.GetPayload(c.Tenant, ptr); !cairn.IsNotFound(err) {
				t.Fatalf("payload %s after compaction: %v", ptr, err)
			}
		}
		pc, err := tx.PrunedJob(c.Tenant, id)
		if err != nil || pc == nil || pc.Event != c.Event {
			t.Fatalf("PrunedJob(%s) = %+v, %v; want event %d", id, pc, err, c.Event)
		}
	}
	if _, err := tx.GetJob(c.Tenant, "job-c"); err != nil {
		t.Fatalf("job-c, whose last entry is past the range: %v", err)
	}
	if _, err := tx.GetPayload(c.Tenant, cairn.ContextPtr("job-c")); err != nil {
		t.Fatalf("job-c's payload: %v", err)
	}
	if pc, err := tx.PrunedJob(c.Tenant, "job-c"); pc != nil || err != nil {
		t.Fatalf("PrunedJob(job-c) = %+v, %v", pc, err)
	}
	for idx, want := range map[uint64]bool{3: false, 4: true, 7: false, 19: true, 20: false} {
		got, err := tx.CompactionOf(c.Tenant, idx)
		if err != nil {
			return err
		}
		if (got != nil) != want || got != nil && (got.From != c.From || got.To != c.To || got.Event != c.Event) {
			t.Fatalf("CompactionOf(%d) = %+v, want pruned %v", idx, got, want)
		}
	}
	evs, err := tx.ListEvents(c.Tenant, cairn.EventFilter{JobID: "job-a", Page: cairn.Page{Limit: 10}})
	if err != nil {
		return err
	}
	if len(evs) != 1 || evs[0].Ledger.Index != 7 {
		t.Fatalf("job-a's events after compaction: %d, want only the held entry 7", len(evs))
	}
	rows, err := tx.LedgerRange(c.Tenant, 6, 9)
	if err != nil {
		return err
	}
	if len(rows) != 3 || !rows[0].Pruned || rows[1].Pruned || rows[2].JobID != "job-b" {
		t.Fatalf("LedgerRange(6, 9) = %+v", rows)
	}
	last, err := tx.LastCompaction(c.Tenant)
	if err != nil {
		return err
	}
	if last == nil || *last != *c && !(last.Event == c.Event && last.From == c.From && last.To == c.To && last.Cutoff.Equal(c.Cutoff)) {
		t.Fatalf("LastCompaction = %+v, want %+v", last, c)
	}
	return nil
}
