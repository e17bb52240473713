package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// TestWALStaysBounded writes while readers overlap so that some snapshot
// always ends inside the WAL. PASSIVE checkpoints alone never rewind the
// log then, and it grows with every write (measured: ~60 MB/s at 1,500
// submits/s); the checkpointer's RESTART past walRestartAt keeps it short.
// With walRestartAt out of reach, the WAL's longest length is about every
// frame written, and the test fails.
func TestWALStaysBounded(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.walRestartAt.Store(64)
	ctx := context.Background()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 3; r++ {
		readers.Add(1)
		go func(r int) {
			defer readers.Done()
			time.Sleep(time.Duration(r) * 7 * time.Millisecond) // staggered: one always holds a snapshot
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.View(ctx, func(tx cairn.ReadTx) error {
					tx.GetPayload("default", "p0")
					time.Sleep(20 * time.Millisecond)
					return nil
				})
			}
		}(r)
	}
	data := make([]byte, 6000)
	const writes = 4000
	for i := 0; i < writes; i++ {
		data[i%len(data)] = byte(i)
		p := &cairn.Payload{Tenant: "default", Ptr: fmt.Sprintf("p%d", i), SHA256: ledger.SHA256Hex(data), Data: data, KeyID: cairn.TenantDataKey}
		if err := s.Update(ctx, func(tx cairn.Tx) error { return tx.PutPayload(p) }); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	readers.Wait()
	written := s.checkpoint("PASSIVE") // frames since the last rewind
	most, restarts := s.stats.walMaxFrames.Load(), s.stats.walRestarts.Load()
	t.Logf("%d writes: longest WAL %d frames, %d restarts, %d frames at the end", writes, most, restarts, written)
	// Each write adds about six frames (a payload of 6,000 bytes spans two
	// pages, and the index and commit pages follow), so a WAL that was never
	// rewound reaches ~6 frames a write; rewound, it holds what a few
	// checkpoint ticks' writes add.
	if restarts == 0 || most > 2*writes {
		t.Fatalf("the WAL was not kept short: longest %d frames over %d writes, %d restarts", most, writes, restarts)
	}
}
