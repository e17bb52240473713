package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger/tree"
)

// TestCopyCompactedStore copies an embedded store that retention has
// compacted (ADR 0046) and whose bodies are batch rows (ADR 0045) to
// PostgreSQL: every ledger entry reads back the same (index, leaf hash,
// prev hash, body, pruned or not), the compaction record and the Merkle
// root are the same, a pruned job still answers pruned_by_retention and a
// kept job is unchanged.
func TestCopyCompactedStore(t *testing.T) {
	dsn := pgSchemaURL(t)
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	svc := service.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	svc.SetClock(clock)
	key, err := tree.LoadOrCreateKey(filepath.Join(dir, "ledger.key"), "cairn")
	if err != nil {
		t.Fatal(err)
	}
	svc.SetLedgerKey(key, "")
	admin := cairn.Principal{Tenant: "default", ID: "admin", Kind: "human", Roles: []string{cairn.RoleAdmin, cairn.RolePolicyAdmin}}
	agent := cairn.Principal{Tenant: "default", ID: "agent", Kind: "agent", Roles: []string{cairn.RoleAgent}}
	worker := cairn.Principal{Tenant: "default", ID: "worker", Kind: "service", Roles: []string{cairn.RoleWorker}}
	if _, err := svc.Bootstrap(ctx, "cairn_test_admin_key_00000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Publish(ctx, admin, cairn.PublishRequest{Bundle: "default: allow\n"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetRetention(183*24*time.Hour, false); err != nil {
		t.Fatal(err)
	}
	// finish submits n jobs at once (so their bodies share batch rows),
	// then leases and completes them.
	finish := func(prefix string, n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				req := cairn.SubmitRequest{JobID: fmt.Sprintf("%s-%d", prefix, i), RunID: prefix, Action: "tool.x", Input: []byte(fmt.Sprintf(`{"n":%d}`, i))}
				if _, _, err := svc.Submit(ctx, agent, req, ""); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		for done := 0; done < n; {
			js, err := svc.Lease(ctx, worker, cairn.LeaseRequest{Actions: []string{"tool.x"}, Max: 10})
			if err != nil || len(js) == 0 {
				t.Fatalf("lease: %v (%d of %d done)", err, done, n)
			}
			for _, j := range js {
				if _, err := svc.Complete(ctx, worker, j.JobID, cairn.CompleteRequest{LeaseID: j.LeaseID, Status: "succeeded", Result: []byte(`{"ok":true}`)}); err != nil {
					t.Fatal(err)
				}
				done++
			}
		}
	}
	finish("old", 12)
	if _, err := svc.IssueCheckpoint(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	advance(10 * 24 * time.Hour)
	finish("new", 6)
	if _, err := svc.IssueCheckpoint(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	advance(180 * 24 * time.Hour)
	cs, err := svc.Compact(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("compaction: %+v, %v", cs, err)
	}
	before := ledgerState(t, st)
	if before.pruned == 0 || before.pruned == len(before.entries) {
		t.Fatalf("%d of %d entries pruned: the test needs some of each", before.pruned, len(before.entries))
	}
	oldJob, newJob := readJob(st, "old-3"), readJob(st, "new-2")
	if cairn.ErrorCode(oldJob.err) != cairn.CodePrunedByRetention || newJob.err != nil {
		t.Fatalf("before the copy: old job %v, new job %v", oldJob.err, newJob.err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if err := copyStore(ctx, dir, dsn, io.Discard); err != nil {
		t.Fatalf("cairn copy of a compacted store: %v", err)
	}
	pg, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	after := ledgerState(t, pg)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the ledger after the copy differs:\nbefore %+v\nafter  %+v", before.compaction, after.compaction)
	}
	if got := readJob(pg, "old-3"); cairn.ErrorCode(got.err) != cairn.CodePrunedByRetention {
		t.Fatalf("pruned job after the copy: %v", got.err)
	}
	if got := readJob(pg, "new-2"); got.err != nil || got.job.JobHash != newJob.job.JobHash || got.job.State != newJob.job.State {
		t.Fatalf("kept job after the copy: %+v, %v", got.job, got.err)
	}
}

// copiedLedger is what a copy must keep of a tenant's ledger.
type copiedLedger struct {
	entries    []cairn.LedgerEntry
	pruned     int
	compaction cairn.Compaction
	root       [32]byte
}

func ledgerState(t *testing.T, s cairn.Store) copiedLedger {
	t.Helper()
	var out copiedLedger
	err := s.View(context.Background(), func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries("default", 0, 10000)
		if err != nil {
			return err
		}
		for _, e := range es {
			out.entries = append(out.entries, *e)
			if e.Pruned {
				out.pruned++
			}
		}
		c, err := tx.LastCompaction("default")
		if err != nil || c == nil {
			return fmt.Errorf("last compaction: %+v, %v", c, err)
		}
		out.compaction = *c
		out.compaction.Cutoff = c.Cutoff.UTC()
		out.root, err = tree.RootAt(uint64(len(es)), cairn.TenantNodes{Src: tx, Tenant: "default"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type jobRead struct {
	job *cairn.Job
	err error
}

func readJob(s cairn.Store, id string) jobRead {
	var r jobRead
	err := s.View(context.Background(), func(tx cairn.ReadTx) error {
		var err error
		r.job, err = tx.GetJob("default", id)
		if err == nil && r.job == nil {
			err = errors.New("no job")
		}
		if err == nil {
			// The pruned answer comes from the compaction record.
			return nil
		}
		if c, cerr := tx.PrunedJob("default", id); cerr == nil && c != nil {
			return &cairn.Error{Code: cairn.CodePrunedByRetention, Message: "pruned"}
		}
		return err
	})
	r.err = err
	return r
}
