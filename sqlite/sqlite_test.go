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
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/sqlite"
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
		`UPDATE ledger SET body = '{}'`, `DELETE FROM ledger`,
		`UPDATE payloads SET data = 'x'`, `DELETE FROM payloads`,
		`UPDATE snapshots SET text = 'default: allow'`, `DELETE FROM snapshots`,
		`UPDATE policy_audit SET actor = 'x'`, `DELETE FROM policy_audit`,
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
