package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// BenchmarkJobEvents reads one job's events (two entries, as a submit
// appends) from a store whose transactions held perTx submits: the cost of
// decoding a body row of 2·perTx entries to return two (ADR 0045).
func BenchmarkJobEvents(b *testing.B) {
	for _, perTx := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("submits_per_tx=%d", perTx), func(b *testing.B) {
			s, err := sqlite.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			const jobs = 2048
			for j := 0; j < jobs; j += perTx {
				err := s.Update(ctx, func(tx cairn.Tx) error {
					for k := j; k < j+perTx; k++ {
						for _, typ := range []string{cairn.EventJobSubmitted, cairn.EventPolicyDecided} {
							ev := &cairn.Event{Tenant: "default", Type: typ, Timestamp: time.Unix(int64(k), 0), Actor: "agent-7",
								JobID: cairn.Opt(fmt.Sprintf("job-%d", k)), RunID: cairn.Opt(fmt.Sprintf("run-%d", k/100)),
								Data: map[string]any{"policy_snapshot": "cfg:system:policy#sha256:6a065ad1ee74f8bb7368b22db52432a28883162d182a881e91483ab7e35ac9fe", "explanation": "rule reads-are-fine matched: action db.read matches db.read", "job_hash": fmt.Sprintf("%064d", k)}}
							if err := tx.AppendEvent(ev); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				err := s.View(ctx, func(tx cairn.ReadTx) error {
					evs, err := tx.ListEvents("default", cairn.EventFilter{JobID: fmt.Sprintf("job-%d", i%jobs), Page: cairn.Page{Limit: 10}})
					if err == nil && len(evs) != 2 {
						err = fmt.Errorf("%d events", len(evs))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
