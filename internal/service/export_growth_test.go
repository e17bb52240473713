package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
)

// growingStore appends to the ledger after every read transaction, as a
// steady stream of writes from other clients does between any two reads.
// Background loops read too; one growth runs at a time and the reads it
// makes itself do not grow the ledger again.
type growingStore struct {
	cairn.Store
	grow    atomic.Pointer[func()]
	growing atomic.Bool
}

func (g *growingStore) View(ctx context.Context, fn func(cairn.ReadTx) error) error {
	err := g.Store.View(ctx, fn)
	if grow := g.grow.Load(); grow != nil && g.growing.CompareAndSwap(false, true) {
		(*grow)()
		g.growing.Store(false)
	}
	return err
}

// TestExportWhileTheLedgerGrows exports a job while every read is followed
// by a write to the ledger: the export still answers, and its checkpoint,
// entries and job rows agree (the offline verifier passes). Before, the
// export signed a checkpoint, then read, and answered 503 when the ledger
// had moved in between six times running.
func TestExportWhileTheLedgerGrows(t *testing.T) {
	st, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &growingStore{Store: st}
	svc := New(g, slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	key, err := tree.NewKeyFromSeed("cairn", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc.SetLedgerKey(key, "")
	ctx := context.Background()
	admin, err := svc.Bootstrap(ctx, "cairn_test_admin_key_0000000000")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	p, err := svc.Authenticate(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Publish(ctx, p, cairn.PublishRequest{Bundle: "default: allow\n"}); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	submit := func() {
		if _, _, err := svc.Submit(ctx, p, cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", n.Add(1)), RunID: "r", Action: "db.read", Input: json.RawMessage(`{}`)}, ""); err != nil {
			t.Errorf("submit: %v", err)
		}
	}
	submit()
	g.grow.Store(&submit)
	for i := 0; i < 3; i++ {
		b, err := svc.Export(ctx, p, ExportFilter{JobID: "j1"})
		if err != nil {
			t.Fatalf("export %d while the ledger grows: %v", i, err)
		}
		rep, err := verify.Bundle(b, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Fatalf("export %d does not verify: %+v", i, rep)
		}
	}
	g.grow.Store(nil)
	if n.Load() < 4 {
		t.Fatalf("the ledger grew by %d submits during the exports; the test did not interleave writes", n.Load()-1)
	}
}
