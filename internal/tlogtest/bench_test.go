//go:build unix

package tlogtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/tlogwitness"
	"github.com/transparency-dev/witness/persistence/inmemory"
)

// BenchmarkSubmitWitnesses measures durable submits through the service
// (16 concurrent submitters) on a server without witnesses and on one
// pushing every checkpoint (issued each second) to two omniwitnesses at
// the default interval. The witnesses run in the test process, so their
// own work (verifying, signing) is counted against the "two" case, in
// submits/s and in the process CPU time per submit (cpu-µs/submit).
//
//	go test -run '^$' -bench BenchmarkSubmitWitnesses -benchtime 4000x -count 4 .
func BenchmarkSubmitWitnesses(b *testing.B) {
	for _, witnesses := range []int{0, 2} {
		b.Run(fmt.Sprintf("witnesses=%d", witnesses), func(b *testing.B) {
			vk := logVKey(b)
			var ws []*tlogwitness.Witness
			for i := 0; i < witnesses; i++ {
				k := witnessKey(b, fmt.Sprintf("bench.test/w%d", i), byte(20+i))
				o := startOmni(b, "", inmemory.New(), origin, vk, k)
				ws = append(ws, parseWitness(b, o.URL(), cosigV1Key(b, k)))
			}
			s := startServer(b, b.TempDir(), serverOpts{witnesses: ws, interval: tlogwitness.DefaultInterval})
			agent := cairn.Principal{Tenant: "default", ID: "agent-1", Kind: "agent", Roles: []string{cairn.RoleAgent}}
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, _, err := s.svc.Submit(ctx, agent, cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", i), Action: "db.read", Input: []byte(`{"q":1}`)}, ""); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/submit")
			b.StopTimer()
			if witnesses > 0 {
				if c, _ := s.svc.LatestCheckpoint(ctx, "default"); c != nil {
					b.Logf("latest checkpoint %d, cosigned by %v", c.Size, s.cosigners(c.Size))
				}
			}
		})
	}
}

// processCPU is the CPU time (user + system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
