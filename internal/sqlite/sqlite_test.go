package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/transparency-dev/merkle/compact"
)

func event(tenant, run string, i int) *cairn.Event {
	return &cairn.Event{Tenant: tenant, Type: cairn.EventJobSubmitted, Timestamp: time.Unix(int64(i), 0).UTC(), RunID: cairn.Opt(run), Actor: "t", Data: map[string]any{"i": i}}
}

// checkLedger asserts indexes 0..n-1, recomputable leaf hashes and an intact prev_hash chain.
func checkLedger(t *testing.T, s *sqlite.Store, tenant string, want uint64) {
	t.Helper()
	err := s.View(context.Background(), func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries(tenant, 0, 100000)
		if err != nil {
			return err
		}
		if uint64(len(es)) != want {
			return fmt.Errorf("ledger has %d entries, want %d", len(es), want)
		}
		prev := ""
		for i, e := range es {
			if e.Index != uint64(i) {
				return fmt.Errorf("entry %d has index %d", i, e.Index)
			}
			if got := ledger.HashHex(ledger.LeafHash(e.Body)); got != e.LeafHash {
				return fmt.Errorf("entry %d: leaf hash does not recompute", i)
			}
			if e.PrevHash != prev {
				return fmt.Errorf("entry %d: prev_hash breaks the chain", i)
			}
			prev = e.LeafHash
		}
		size, err := tx.LedgerSize(tenant)
		if err != nil || size != want {
			return fmt.Errorf("LedgerSize = %d, %v", size, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitIsolatesFailures runs many concurrent Updates, half of
// which fail after writing: only the successful ones may be committed, and
// the ledger and run timelines must stay gap-free.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(context.Background(), func(tx cairn.Tx) error {
				if err := tx.AppendEvent(event("default", fmt.Sprintf("run-%d", i%5), i)); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom
				}
				if i%7 == 0 {
					panic("update panics")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case i%2 == 1:
			if !errors.Is(err, boom) {
				t.Fatalf("op %d: err %v, want boom", i, err)
			}
		case i%7 == 0:
			if err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Fatalf("op %d: err %v, want a panic error", i, err)
			}
		default:
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			ok++
		}
	}
	checkLedger(t, s, "default", uint64(ok))
	// Timelines: seq 1..n per run.
	total := 0
	for r := 0; r < 5; r++ {
		s.View(context.Background(), func(tx cairn.ReadTx) error {
			evs, err := tx.ListEvents("default", cairn.EventFilter{RunID: fmt.Sprintf("run-%d", r), Page: cairn.Page{Limit: 1000}})
			if err != nil {
				t.Fatal(err)
			}
			for i, ev := range evs {
				if ev.Seq != int64(i+1) {
					t.Fatalf("run-%d event %d has seq %d", r, i, ev.Seq)
				}
			}
			total += len(evs)
			return nil
		})
	}
	if total != ok {
		t.Fatalf("timelines hold %d events, want %d", total, ok)
	}
	s.Close()

	// Reopened, the ledger continues where it stopped.
	s, err = sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), func(tx cairn.Tx) error { return tx.AppendEvent(event("default", "run-0", 999)) }); err != nil {
		t.Fatal(err)
	}
	checkLedger(t, s, "default", uint64(ok+1))
}

// TestEvidenceIsAppendOnly checks that the database itself refuses updates
// and deletes of evidence, whoever issues them.
func TestEvidenceIsAppendOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = s.Update(ctx, func(tx cairn.Tx) error {
		if err := tx.AppendEvent(event("default", "", 1)); err != nil {
			return err
		}
		if err := tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j", SHA256: "x", Data: []byte("{}")}); err != nil {
			return err
		}
		if err := tx.InsertPolicyAudit(&cairn.PolicyAudit{AuditID: "pa_1", Action: "publish", SnapshotAfter: "cfg:system:policy#sha256:ab", Actor: "t", Timestamp: time.Now()}); err != nil {
			return err
		}
		if err := tx.InsertWorkflow(&cairn.Workflow{WorkflowID: "wf:default:w#sha256:ab", Tenant: "default", Name: "w", Version: 1, SHA256: "ab", Definition: "name: w\n", CreatedAt: time.Now()}); err != nil {
			return err
		}
		return tx.InsertSnapshot(&cairn.Snapshot{ID: "cfg:system:policy#sha256:ab", SHA256: "ab", Text: "default: deny\n", CreatedAt: time.Now(), CreatedBy: "t"})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`UPDATE ledger SET type = 'x'`, `DELETE FROM ledger`,
		`UPDATE ledger_bodies SET body = '{}'`, `DELETE FROM ledger_bodies`,
		`UPDATE payloads SET data = 'x'`, `DELETE FROM payloads`,
		`UPDATE snapshots SET text = 'default: allow'`, `DELETE FROM snapshots`,
		`UPDATE policy_audit SET actor = 'x'`, `DELETE FROM policy_audit`,
		`UPDATE workflows SET body = '{}'`, `DELETE FROM workflows`,
	} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err %v, want append-only refusal", q, err)
		}
	}
}

// TestPutPayloadIsInsertOnly: a second payload under the same pointer is a conflict.
func TestPutPayloadIsInsertOnly(t *testing.T) {
	s, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func() error {
		return s.Update(context.Background(), func(tx cairn.Tx) error {
			return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "res:j", SHA256: "x", Data: []byte("{}")})
		})
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	if err := put(); cairn.ErrorCode(err) != cairn.EConflict {
		t.Fatalf("second put: %v", err)
	}
}

// TestMerkleTreeMatchesLeaves appends entries in concurrent batches (some
// failing), then checks the stored tree: its root equals a root rebuilt from
// the leaves, and every inclusion and consistency proof verifies.
func TestMerkleTreeMatchesLeaves(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s.Update(ctx, func(tx cairn.Tx) error {
				if err := tx.AppendEvent(event("default", "", i)); err != nil {
					return err
				}
				if i%5 == 4 {
					return errors.New("fail")
				}
				return tx.AppendEvent(event("default", "", i+1000))
			})
		}(i)
	}
	wg.Wait()
	s.Close()
	// Reopen so part of the tree is resumed from storage.
	if s, err = sqlite.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 17; i++ {
		if err := s.Update(ctx, func(tx cairn.Tx) error { return tx.AppendEvent(event("default", "", 5000+i)) }); err != nil {
			t.Fatal(err)
		}
	}
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries("default", 0, 100000)
		if err != nil {
			return err
		}
		size := uint64(len(es))
		if size != 120*2+17 {
			return fmt.Errorf("size %d", size)
		}
		ref := tree.NewAppender()
		roots := map[uint64][32]byte{}
		leaves := make([][32]byte, size)
		for i, e := range es {
			leaves[i] = ledger.LeafHash(e.Body)
			if _, err := ref.Append(leaves[i]); err != nil {
				return err
			}
			roots[uint64(i+1)] = ref.Root()
		}
		nodes := readerOf(tx)
		for _, n := range []uint64{1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 128, size} {
			got, err := tree.RootAt(n, nodes)
			if err != nil {
				return fmt.Errorf("root at %d: %w", n, err)
			}
			if got != roots[n] {
				return fmt.Errorf("root at %d differs from the root rebuilt from leaves", n)
			}
		}
		for i := uint64(0); i < size; i += 7 {
			p, err := tree.InclusionProof(i, size, nodes)
			if err != nil {
				return err
			}
			if err := tree.VerifyInclusion(i, size, leaves[i], p, roots[size]); err != nil {
				return fmt.Errorf("inclusion of %d: %w", i, err)
			}
		}
		for _, from := range []uint64{1, 16, 17, 100} {
			p, err := tree.ConsistencyProof(from, size, nodes)
			if err != nil {
				return err
			}
			if err := tree.VerifyConsistency(from, size, p, roots[from], roots[size]); err != nil {
				return fmt.Errorf("consistency %d→%d: %w", from, size, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type txNodes struct{ tx cairn.ReadTx }

func readerOf(tx cairn.ReadTx) txNodes { return txNodes{tx} }

func (r txNodes) Nodes(ids []compact.NodeID) ([][32]byte, error) {
	cids := make([]cairn.NodeID, len(ids))
	for i, id := range ids {
		cids[i] = cairn.NodeID{Level: id.Level, Index: id.Index}
	}
	return r.tx.LedgerNodes("default", cids)
}

// TestNodeCacheHoldsOnlyCommittedNodes writes through the cache without
// reopening the store: concurrent Updates, a fifth of which fail after
// appending (their nodes were computed, then rolled back). Every node read
// back, cached or not, must equal the node rebuilt from the committed
// leaves.
func TestNodeCacheHoldsOnlyCommittedNodes(t *testing.T) {
	s, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s.Update(ctx, func(tx cairn.Tx) error {
					if err := tx.AppendEvent(event("default", "", round*1000+i)); err != nil {
						return err
					}
					if i%5 == 4 {
						return errors.New("fail")
					}
					return tx.AppendEvent(event("default", "", round*1000+i+500))
				})
			}(i)
		}
		wg.Wait()
		err = s.View(ctx, func(tx cairn.ReadTx) error {
			es, err := tx.LedgerEntries("default", 0, 100000)
			if err != nil {
				return err
			}
			if len(es) != (round+1)*160 {
				return fmt.Errorf("size %d", len(es))
			}
			ref := tree.NewAppender()
			var want []tree.Node
			for _, e := range es {
				ns, err := ref.Append(ledger.LeafHash(e.Body))
				if err != nil {
					return err
				}
				want = append(want, ns...)
			}
			// Twice: the first read loads (and caches) what the writer
			// did not put, the second is served from the cache.
			for pass := 0; pass < 2; pass++ {
				ids := make([]cairn.NodeID, len(want))
				for i, n := range want {
					ids[i] = cairn.NodeID{Level: n.Level, Index: n.Index}
				}
				got, err := tx.LedgerNodes("default", ids)
				if err != nil {
					return err
				}
				for i, n := range want {
					if got[i] != n.Hash {
						return fmt.Errorf("pass %d: node level %d index %d differs from the committed leaves", pass, n.Level, n.Index)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	// An Update alone in its batch that appends and then fails: the leaves
	// and nodes it computed were rolled back and must not be served.
	var size uint64
	s.View(ctx, func(tx cairn.ReadTx) error { size, err = tx.LedgerSize("default"); return err })
	if err := s.Update(ctx, func(tx cairn.Tx) error {
		for i := 0; i < 4; i++ {
			if err := tx.AppendEvent(event("default", "", 9000+i)); err != nil {
				return err
			}
		}
		return errors.New("fail")
	}); err == nil {
		t.Fatal("the failing update succeeded")
	}
	s.View(ctx, func(tx cairn.ReadTx) error {
		for _, id := range []cairn.NodeID{{Level: 0, Index: size}, {Level: 0, Index: size + 1}, {Level: 1, Index: size / 2}} {
			if _, err := tx.LedgerNodes("default", []cairn.NodeID{id}); err == nil {
				t.Errorf("node level %d index %d of a rolled-back append was served", id.Level, id.Index)
			}
		}
		return nil
	})
}
