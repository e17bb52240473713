package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// CheckLedger asserts that the tenant's ledger has indexes 0..want-1, leaf
// hashes that recompute from the bodies, an intact prev_hash chain,
// timelines numbered 1..n per run in ledger order, and a stored Merkle tree
// whose root at every power of two and at the full size equals the root
// rebuilt from the leaves. want < 0 accepts any size. It returns the size.
func CheckLedger(t testing.TB, s cairn.Store, tenant string, want int) uint64 {
	t.Helper()
	var size uint64
	err := s.View(ctx, func(tx cairn.ReadTx) error {
		var es []*cairn.LedgerEntry
		for {
			page, err := tx.LedgerEntries(tenant, uint64(len(es)), 1000)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			es = append(es, page...)
		}
		if want >= 0 && len(es) != want {
			return fmt.Errorf("ledger of %s has %d entries, want %d", tenant, len(es), want)
		}
		size = uint64(len(es))
		prev := ""
		runs := map[string]int64{}
		ref := tree.NewAppender()
		roots := map[uint64][32]byte{}
		for i, e := range es {
			if e.Index != uint64(i) {
				return fmt.Errorf("entry %d has index %d", i, e.Index)
			}
			leaf := ledger.LeafHash(e.Body)
			if got := ledger.HashHex(leaf); got != e.LeafHash {
				return fmt.Errorf("entry %d: leaf hash does not recompute", i)
			}
			if e.PrevHash != prev {
				return fmt.Errorf("entry %d: prev_hash breaks the chain", i)
			}
			prev = e.LeafHash
			var env struct {
				Index    uint64 `json:"index"`
				PrevHash string `json:"prev_hash"`
				RunSeq   int64  `json:"run_seq"`
				Tenant   string `json:"tenant"`
				Event    struct {
					RunID *string `json:"run_id"`
				} `json:"event"`
			}
			if err := json.Unmarshal(e.Body, &env); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			if env.Index != e.Index || env.PrevHash != e.PrevHash || env.Tenant != tenant {
				return fmt.Errorf("entry %d: envelope %+v does not match its row", i, env)
			}
			if env.Event.RunID != nil {
				runs[*env.Event.RunID]++
				if env.RunSeq != runs[*env.Event.RunID] {
					return fmt.Errorf("entry %d: run %s seq %d, want %d", i, *env.Event.RunID, env.RunSeq, runs[*env.Event.RunID])
				}
			} else if env.RunSeq != 0 {
				return fmt.Errorf("entry %d: run_seq without a run", i)
			}
			if _, err := ref.Append(leaf); err != nil {
				return err
			}
			if n := uint64(i + 1); n&(n-1) == 0 || n == uint64(len(es)) || n%17 == 0 {
				roots[n] = ref.Root()
			}
		}
		n, err := tx.LedgerSize(tenant)
		if err != nil || n != size {
			return fmt.Errorf("LedgerSize = %d, %v; want %d", n, err, size)
		}
		for n, root := range roots {
			got, err := tree.RootAt(n, cairn.TenantNodes{Src: tx, Tenant: tenant})
			if err != nil {
				return fmt.Errorf("root at %d: %w", n, err)
			}
			if got != root {
				return fmt.Errorf("stored tree root at %d differs from the root rebuilt from the leaves", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return size
}

func testLedgerAppend(t *testing.T, s cairn.Store) {
	var evs []*cairn.Event
	update(t, s, func(tx cairn.Tx) error {
		evs = evs[:0]
		for i := 0; i < 5; i++ {
			run := ""
			if i%2 == 0 {
				run = "r1"
			}
			e := event("default", cairn.EventJobSubmitted, run, "j"+itoa(i), i)
			if i == 3 {
				// Canonicalised ahead of the transaction, as Submit does.
				c, err := ledger.Canonical(e)
				if err != nil {
					return err
				}
				e.Canon = c
			}
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
			evs = append(evs, e)
		}
		return tx.AppendEvent(event("acme", cairn.EventKeyCreated, "r1", "", 0))
	})
	prev := ""
	for i, e := range evs {
		if e.Ledger == nil || e.Ledger.Index != uint64(i) || e.PrevHash != prev {
			t.Fatalf("event %d: ledger %+v prev %q", i, e.Ledger, e.PrevHash)
		}
		prev = e.Ledger.LeafHash
	}
	eq(t, "run seqs", fmt.Sprint(evs[0].Seq, evs[1].Seq, evs[2].Seq, evs[4].Seq), "1 0 2 3")
	// Another Update continues the chain and the run.
	e := event("default", cairn.EventJobCompleted, "r1", "j0", 9)
	update(t, s, func(tx cairn.Tx) error { return tx.AppendEvent(e) })
	if e.Ledger.Index != 5 || e.PrevHash != prev || e.Seq != 4 {
		t.Fatalf("next event: ledger %+v prev %q seq %d", e.Ledger, e.PrevHash, e.Seq)
	}
	view(t, s, func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries("default", 2, 2)
		if err != nil {
			return err
		}
		if len(es) != 2 || es[0].Index != 2 || es[1].Index != 3 || es[0].Tenant != "default" {
			t.Fatalf("LedgerEntries(2, 2) = %+v", es)
		}
		// The body is the canonical envelope of the event.
		c, _ := ledger.Canonical(event("default", cairn.EventJobSubmitted, "r1", "j2", 2))
		want, _ := ledger.EnvelopeBody("default", 2, evs[1].Ledger.LeafHash, 2, c)
		eq(t, "body", string(es[0].Body), string(want))
		c, _ = ledger.Canonical(event("default", cairn.EventJobSubmitted, "", "j3", 3))
		want, _ = ledger.EnvelopeBody("default", 3, evs[2].Ledger.LeafHash, 0, c)
		eq(t, "precomputed canon body", string(es[1].Body), string(want))
		es, err = tx.LedgerEntries("default", 6, 10)
		if err != nil || len(es) != 0 {
			t.Fatalf("LedgerEntries past the end = %d, %v", len(es), err)
		}
		n, err := tx.LedgerSize("nobody")
		if err != nil || n != 0 {
			t.Fatalf("LedgerSize of an empty tenant = %d, %v", n, err)
		}
		return nil
	})
	CheckLedger(t, s, "default", 6)
	CheckLedger(t, s, "acme", 1)
}

func testLedgerInsideUpdate(t *testing.T, s cairn.Store) {
	update(t, s, func(tx cairn.Tx) error {
		return tx.AppendEvent(event("default", cairn.EventJobSubmitted, "r", "j0", 0))
	})
	update(t, s, func(tx cairn.Tx) error {
		for i := 1; i <= 20; i++ {
			if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "r", "j"+itoa(i), i)); err != nil {
				return err
			}
		}
		// Reads inside the transaction see its own appends.
		n, err := tx.LedgerSize("default")
		if err != nil {
			return err
		}
		if n != 21 {
			return fmt.Errorf("LedgerSize inside the Update = %d, want 21", n)
		}
		es, err := tx.LedgerEntries("default", 19, 10)
		if err != nil {
			return err
		}
		if len(es) != 2 {
			return fmt.Errorf("LedgerEntries inside the Update = %d entries", len(es))
		}
		evs, err := tx.ListEvents("default", cairn.EventFilter{RunID: "r", Page: cairn.Page{Limit: 10, After: 18}})
		if err != nil {
			return err
		}
		if len(evs) != 3 || evs[2].Seq != 21 {
			return fmt.Errorf("ListEvents inside the Update = %d events", len(evs))
		}
		root, err := tree.RootAt(21, cairn.TenantNodes{Src: tx, Tenant: "default"})
		if err != nil {
			return fmt.Errorf("RootAt inside the Update: %w", err)
		}
		_ = root
		return tx.AppendEvent(event("default", cairn.EventJobSubmitted, "r", "j21", 21))
	})
	CheckLedger(t, s, "default", 22)
}

func testEvents(t *testing.T, s cairn.Store) {
	decision := &cairn.Decision{DecisionID: "dec_1", JobID: "j1", Phase: cairn.PhaseSubmit, Decision: cairn.Allow, PolicyRuleID: "reads",
		PolicyReason: "reads", PolicySnapshot: "snap", JobHash: "h", Constraints: json.RawMessage(`{"a":1}`), RulesTried: []cairn.RuleTrace{{RuleID: "reads", Matched: true, Why: "action"}},
		EvaluatedAt: at(1)}
	update(t, s, func(tx cairn.Tx) error {
		for i, typ := range []string{cairn.EventRunStarted, cairn.EventJobSubmitted, cairn.EventPolicyDecided, cairn.EventJobDispatched, cairn.EventJobCompleted} {
			e := event("default", typ, "r1", "j1", i)
			if typ == cairn.EventRunStarted {
				e.JobID = ""
			}
			if typ == cairn.EventPolicyDecided {
				e.Decision = cairn.Allow
				e.Data = map[string]any{"decision": decision, "phase": cairn.PhaseSubmit}
			}
			if typ == cairn.EventJobCompleted {
				e.OutputSafety = &cairn.OutputSafety{Decision: cairn.OutputRedact, RuleID: "pii", Findings: []cairn.Finding{{Scanner: "pii", Type: "email", Offset: 3, Length: 9, Hash: "ab"}}}
			}
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
			// Another job interleaved, outside the run.
			if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "j2", i)); err != nil {
				return err
			}
		}
		d2 := *decision
		d2.Phase, d2.DecisionID = cairn.PhaseDispatch, "dec_2"
		return tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventPolicyDecided, Timestamp: at(9), RunID: "r1", JobID: "j1", Actor: "worker:w", Data: map[string]any{"decision": &d2}})
	})
	view(t, s, func(tx cairn.ReadTx) error {
		evs, err := tx.ListEvents("default", cairn.EventFilter{RunID: "r1", Page: cairn.Page{Limit: 100}})
		if err != nil {
			return err
		}
		if len(evs) != 6 {
			t.Fatalf("run timeline has %d events, want 6", len(evs))
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.Tenant != "default" || e.RunID != "r1" || e.Ledger == nil || e.Ledger.Index != uint64(2*i) {
				t.Fatalf("timeline event %d = %+v", i, e)
			}
		}
		if evs[4].OutputSafety == nil || evs[4].OutputSafety.Findings[0].Type != "email" {
			t.Fatalf("output safety lost: %+v", evs[4])
		}
		page, err := tx.ListEvents("default", cairn.EventFilter{RunID: "r1", Page: cairn.Page{Limit: 2, After: 2}})
		if err != nil || len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
			t.Fatalf("timeline page = %+v, %v", page, err)
		}
		raw, err := tx.ListEvents("default", cairn.EventFilter{RunID: "r1", RawOnly: true, Page: cairn.Page{Limit: 100}})
		if err != nil || len(raw) != len(evs) {
			t.Fatalf("RawOnly timeline = %d, %v", len(raw), err)
		}
		for i := range raw {
			if raw[i].Raw == nil || raw[i].Seq != evs[i].Seq || raw[i].Ledger.Index != evs[i].Ledger.Index {
				t.Fatalf("raw event %d = %+v", i, raw[i])
			}
			var a, b any
			plain, _ := json.Marshal(evs[i])
			if err := json.Unmarshal(raw[i].Raw, &a); err != nil {
				t.Fatalf("raw event %d: %v", i, err)
			}
			json.Unmarshal(plain, &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("raw event %d\n%s\ndiffers from decoded\n%s", i, raw[i].Raw, plain)
			}
		}
		byJob, err := tx.ListEvents("default", cairn.EventFilter{JobID: "j2", Page: cairn.Page{Limit: 100}})
		if err != nil || len(byJob) != 5 || byJob[0].Ledger.Index != 1 || byJob[0].Seq != 0 {
			t.Fatalf("events of j2 = %d, %v", len(byJob), err)
		}
		byJob, err = tx.ListEvents("default", cairn.EventFilter{JobID: "j2", Page: cairn.Page{Limit: 2, After: 3}})
		if err != nil || len(byJob) != 2 || byJob[0].Ledger.Index != 3 || byJob[1].Ledger.Index != 5 {
			t.Fatalf("events of j2 from index 3 = %+v, %v", byJob, err)
		}
		ds, err := tx.ListDecisions("default", "j1")
		if err != nil {
			return err
		}
		if len(ds) != 2 || ds[0].DecisionID != "dec_1" || ds[1].Phase != cairn.PhaseDispatch || ds[0].Ledger == nil || ds[0].Ledger.Index != 4 ||
			string(ds[0].Constraints) != `{"a":1}` || ds[0].RulesTried[0].RuleID != "reads" || !ds[0].EvaluatedAt.Equal(at(1)) {
			t.Fatalf("ListDecisions = %+v", ds)
		}
		ds, err = tx.ListDecisions("default", "nope")
		if err != nil || len(ds) != 0 {
			t.Fatalf("ListDecisions of an unknown job = %v, %v", ds, err)
		}
		return nil
	})
	CheckLedger(t, s, "default", 11)
}

func testMerkle(t *testing.T, s cairn.Store) {
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s.Update(ctx, func(tx cairn.Tx) error {
				if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "", i)); err != nil {
					return err
				}
				if i%5 == 4 {
					return errBoom
				}
				return tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "", i+1000))
			})
		}(i)
	}
	wg.Wait()
	for i := 0; i < 17; i++ {
		update(t, s, func(tx cairn.Tx) error {
			return tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "", 5000+i))
		})
	}
	size := CheckLedger(t, s, "default", 48*2+17)
	view(t, s, func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries("default", 0, int(size))
		if err != nil {
			return err
		}
		ref := tree.NewAppender()
		roots := map[uint64][32]byte{}
		leaves := make([][32]byte, size)
		for i, e := range es {
			leaves[i] = ledger.LeafHash(e.Body)
			ref.Append(leaves[i])
			roots[uint64(i+1)] = ref.Root()
		}
		nr := cairn.TenantNodes{Src: tx, Tenant: "default"}
		// Twice: a store may cache the nodes it read (they never change).
		for pass := 0; pass < 2; pass++ {
			for i := uint64(0); i < size; i += 7 {
				p, err := tree.InclusionProof(i, size, nr)
				if err != nil {
					return err
				}
				if err := tree.VerifyInclusion(i, size, leaves[i], p, roots[size]); err != nil {
					return fmt.Errorf("pass %d: inclusion of %d: %w", pass, i, err)
				}
			}
		}
		for _, from := range []uint64{1, 16, 17, 100} {
			p, err := tree.ConsistencyProof(from, size, nr)
			if err != nil {
				return err
			}
			if err := tree.VerifyConsistency(from, size, p, roots[from], roots[size]); err != nil {
				return fmt.Errorf("consistency %d→%d: %w", from, size, err)
			}
		}
		// Stored nodes are the subtree hashes; a node past the end is missing.
		hs, err := tx.LedgerNodes("default", []cairn.NodeID{{Level: 4, Index: 0}, {Level: 0, Index: 5}})
		if err != nil {
			return err
		}
		if hs[1] != leaves[5] {
			return fmt.Errorf("level-0 node is not the leaf hash")
		}
		sub := tree.NewAppender()
		for _, l := range leaves[:16] {
			sub.Append(l)
		}
		if hs[0] != sub.Root() {
			return fmt.Errorf("level-4 node is not the root of leaves 0..15")
		}
		if _, err := tx.LedgerNodes("default", []cairn.NodeID{{Level: 4, Index: size}}); err == nil {
			return fmt.Errorf("a node past the end was found")
		}
		return nil
	})
}

func testCheckpoints(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		c, err := tx.LatestCheckpoint("default")
		if err != nil || c != nil {
			t.Fatalf("LatestCheckpoint on an empty store = %+v, %v", c, err)
		}
		return nil
	})
	for i, size := range []uint64{3, 10, 20} {
		update(t, s, func(tx cairn.Tx) error {
			return tx.InsertCheckpoint(&cairn.Checkpoint{Tenant: "default", Size: size, RootHash: fmt.Sprintf("%064d", size), Note: fmt.Sprintf("note %d", size), CreatedAt: at(i)})
		})
	}
	update(t, s, func(tx cairn.Tx) error { // no-op at an existing size
		return tx.InsertCheckpoint(&cairn.Checkpoint{Tenant: "default", Size: 10, RootHash: "other", Note: "other", CreatedAt: at(9)})
	})
	update(t, s, func(tx cairn.Tx) error {
		return tx.InsertCheckpoint(&cairn.Checkpoint{Tenant: "acme", Size: 99, RootHash: "x", Note: "acme", CreatedAt: at(9)})
	})
	for _, w := range []string{"zeta", "alpha"} {
		update(t, s, func(tx cairn.Tx) error {
			return tx.InsertCosignature("default", 10, &cairn.Cosignature{Witness: w, Note: "note 10\n— " + w, CreatedAt: at(5)})
		})
	}
	err := s.Update(ctx, func(tx cairn.Tx) error {
		return tx.InsertCosignature("default", 10, &cairn.Cosignature{Witness: "alpha", Note: "again", CreatedAt: at(6)})
	})
	wantCode(t, err, cairn.EConflict)
	view(t, s, func(tx cairn.ReadTx) error {
		c, err := tx.LatestCheckpoint("default")
		if err != nil || c == nil || c.Size != 20 || c.Note != "note 20" || c.Tenant != "default" || len(c.Cosignatures) != 0 || !c.CreatedAt.Equal(at(2)) {
			t.Fatalf("LatestCheckpoint = %+v, %v", c, err)
		}
		c, err = tx.GetCheckpoint("default", 10)
		if err != nil {
			return err
		}
		if c.Note != "note 10" || len(c.Cosignatures) != 2 || c.Cosignatures[0].Witness != "alpha" || c.Cosignatures[1].Witness != "zeta" || !c.Cosignatures[0].CreatedAt.Equal(at(5)) {
			t.Fatalf("GetCheckpoint(10) = %+v", c)
		}
		_, err = tx.GetCheckpoint("default", 11)
		wantCode(t, err, cairn.ENotFound)
		cs, err := tx.ListCheckpoints("default", cairn.Page{Limit: 2})
		if err != nil || len(cs) != 2 || cs[0].Size != 20 || cs[1].Size != 10 || len(cs[1].Cosignatures) != 2 {
			t.Fatalf("ListCheckpoints = %+v, %v", cs, err)
		}
		cs, err = tx.ListCheckpoints("default", cairn.Page{Limit: 10, After: 10})
		if err != nil || len(cs) != 1 || cs[0].Size != 3 {
			t.Fatalf("ListCheckpoints after 10 = %+v, %v", cs, err)
		}
		return nil
	})
}

func testDeadlines(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		d, err := tx.NextDeadline()
		if err != nil || !d.IsZero() {
			t.Fatalf("NextDeadline on an empty store = %v, %v", d, err)
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		for i, exp := range []int{30, 10, 20} {
			j := job([]string{"default", "acme"}[i%2], "l"+itoa(i), cairn.StateRunning, 0)
			j.LeaseExpiresAt = ptr(at(exp))
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		q := job("default", "q", cairn.StateQueued, 0)
		return tx.InsertJob(q)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		js, err := tx.ExpiredLeases(at(20), 10)
		if err != nil {
			return err
		}
		eqList(t, "ExpiredLeases", jobIDs(js), []string{"l1", "l2"})
		if js[0].Tenant != "acme" || js[0].Seq == 0 {
			t.Fatalf("ExpiredLeases[0] = %+v", js[0])
		}
		js, err = tx.ExpiredLeases(at(100), 1)
		if err != nil || len(js) != 1 {
			t.Fatalf("ExpiredLeases limit = %d, %v", len(js), err)
		}
		d, err := tx.NextDeadline()
		if err != nil || !d.Equal(at(10)) {
			t.Fatalf("NextDeadline = %v, %v; want %v", d, err, at(10))
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.InsertApproval(approval("default", "a", 0, ptr(at(5)))); err != nil {
			return err
		}
		return tx.InsertApproval(approval("default", "b", 0, ptr(at(1)))) // resolved below
	})
	update(t, s, func(tx cairn.Tx) error {
		a, err := tx.GetApproval("default", "b")
		if err != nil {
			return err
		}
		a.Status = cairn.ApprovalResolved
		return tx.ResolveApproval(a)
	})
	view(t, s, func(tx cairn.ReadTx) error {
		d, err := tx.NextDeadline()
		if err != nil || !d.Equal(at(5)) {
			t.Fatalf("NextDeadline with a pending approval = %v, %v; want %v", d, err, at(5))
		}
		return nil
	})
}

// testUpdateIsolation runs many concurrent Updates, some of which fail or
// panic after writing: only the successful ones are committed, each whole.
func testUpdateIsolation(t *testing.T, s cairn.Store) {
	var wg sync.WaitGroup
	errs := make([]error, 120)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx cairn.Tx) error {
				if err := tx.InsertJob(job("default", "j"+itoa(i), cairn.StateQueued, i)); err != nil {
					return err
				}
				if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "run-"+itoa(i%5), "j"+itoa(i), i)); err != nil {
					return err
				}
				switch {
				case i%2 == 1:
					return errBoom
				case i%7 == 0:
					panic("update panics")
				}
				return tx.AppendEvent(event("default", cairn.EventPolicyDecided, "run-"+itoa(i%5), "j"+itoa(i), i))
			})
		}(i)
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case i%2 == 1:
			if err != errBoom && !isBoom(err) {
				t.Fatalf("op %d: err %v, want boom", i, err)
			}
		case i%7 == 0:
			if err == nil || !containsStr(err.Error(), "panic") {
				t.Fatalf("op %d: err %v, want a panic error", i, err)
			}
		default:
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			ok++
		}
	}
	CheckLedger(t, s, "default", 2*ok)
	view(t, s, func(tx cairn.ReadTx) error {
		js, err := tx.ListJobs("default", cairn.JobFilter{Page: cairn.Page{Limit: 1000}})
		if err != nil {
			return err
		}
		eq(t, "committed jobs", len(js), ok)
		for _, j := range js {
			var i int
			fmt.Sscanf(j.JobID, "j%d", &i)
			if i%2 == 1 || i%7 == 0 {
				t.Fatalf("job of a failed Update was committed: %s", j.JobID)
			}
		}
		return nil
	})
}

func testAfterCommit(t *testing.T, s cairn.Store) {
	var mu sync.Mutex
	calls := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.Update(ctx, func(tx cairn.Tx) error {
				if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "", "", i)); err != nil {
					return err
				}
				tx.AfterCommit(func() {
					mu.Lock()
					calls[i]++
					mu.Unlock()
				})
				if i%3 == 0 {
					return errBoom // forces the others to be re-run
				}
				return nil
			})
			if (err == nil) == (i%3 == 0) {
				t.Errorf("op %d: err %v", i, err)
			}
			if err == nil {
				// Committed: visible to a read right away.
				var n uint64
				s.View(ctx, func(tx cairn.ReadTx) error { n, _ = tx.LedgerSize("default"); return nil })
				if n == 0 {
					t.Errorf("op %d: committed append not visible", i)
				}
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < 40; i++ {
		want := 1
		if i%3 == 0 {
			want = 0
		}
		if calls[i] != want {
			t.Fatalf("AfterCommit of op %d ran %d times, want %d", i, calls[i], want)
		}
	}
}

func testCancelled(t *testing.T, s cairn.Store) {
	cctx, cancel := contextWithCancel()
	cancel()
	err := s.Update(cctx, func(tx cairn.Tx) error { return tx.InsertJob(job("default", "j", cairn.StateQueued, 0)) })
	if err == nil {
		t.Fatal("Update with a cancelled context succeeded")
	}
	view(t, s, func(tx cairn.ReadTx) error {
		_, err := tx.GetJob("default", "j")
		wantCode(t, err, cairn.ENotFound)
		return nil
	})
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func testConcurrentAppendsOne(t *testing.T, s cairn.Store) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				err := s.Update(ctx, func(tx cairn.Tx) error {
					for k := 0; k < 2; k++ {
						if err := tx.AppendEvent(event("default", cairn.EventJobSubmitted, "r"+itoa((g+i)%3), "", i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	CheckLedger(t, s, "default", 8*25*2)
}

var _ = time.Second
