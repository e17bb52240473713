package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http/httptest"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/pgtest"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// TestTlogPostgresReplicasServeTheSameBytes: two replicas on one
// PostgreSQL database serve byte-identical checkpoints and tiles, and the
// tiles agree with the ledger's leaf hashes.
func TestTlogPostgresReplicasServeTheSameBytes(t *testing.T) {
	url := pgtest.Schema(t, "cairn_tlog_")
	ctx := context.Background()
	key, _ := tree.NewKeyFromSeed("cairn", make([]byte, 32))
	var apis []*cairnhttp.Server
	var stores []*postgres.Store
	for i := 0; i < 2; i++ {
		st, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		svc := service.New(st, log, []byte("salt"))
		svc.SetLedgerKey(key, "")
		if _, err := svc.Bootstrap(ctx, "admin-key-tlog-pg-0123456789"); err != nil {
			t.Fatal(err)
		}
		api := cairnhttp.New(svc, log)
		api.SetTlogAccess(cairnhttp.TlogAccess{Public: true})
		apis, stores = append(apis, api), append(stores, st)
		if i == 0 {
			err := st.Update(ctx, func(tx cairn.Tx) error {
				for k := 0; k < 700; k++ {
					if err := tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Unix(1_780_000_000+int64(k), 0).UTC(), Actor: "pg", JobID: cairn.Opt(fmt.Sprintf("j%d", k))}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.IssueCheckpoint(ctx, "default"); err != nil {
				t.Fatal(err)
			}
		}
	}
	var size uint64
	stores[1].View(ctx, func(tx cairn.ReadTx) error { size, _ = tx.LedgerSize("default"); return nil })
	paths := []string{"checkpoint", "tile/0/000", "tile/0/001", fmt.Sprintf("tile/0/002.p/%d", size-512), "tile/1/000.p/2", "tile/entries/001", fmt.Sprintf("tile/entries/002.p/%d", size-512)}
	for _, p := range paths {
		var got [][]byte
		for _, api := range apis {
			w := nethttp.NewRecorder()
			api.ServeHTTP(w, nethttp.NewRequest("GET", "/tlog/default/"+p, nil))
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", p, w.Code, w.Body.String())
			}
			got = append(got, w.Body.Bytes())
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Fatalf("%s: the replicas serve different bytes", p)
		}
	}
	// The level-0 tile holds the ledger's leaf hashes.
	w := nethttp.NewRecorder()
	apis[1].ServeHTTP(w, nethttp.NewRequest("GET", "/tlog/default/tile/0/001", nil))
	var es []*cairn.LedgerEntry
	stores[0].View(ctx, func(tx cairn.ReadTx) error { es, _ = tx.LedgerEntries("default", 256, 256); return nil })
	for i, e := range es {
		lh := ledger.LeafHash(e.Body)
		if ledger.HashHex(lh) != e.LeafHash || !bytes.Equal(w.Body.Bytes()[32*i:32*i+32], lh[:]) {
			t.Fatalf("tile 0/001 hash %d is not entry %d's leaf hash", i, 256+i)
		}
	}
}
