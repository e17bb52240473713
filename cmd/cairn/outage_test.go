package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pgtest"
)

// TestDatabaseRestartAnswers503 restarts a private PostgreSQL (fast
// shutdown) while 16 clients submit through a server on it. A request the
// database could not take answers 503 unavailable with Retry-After, never
// 500 (issue 11 §3); a write whose COMMIT was cut answers 504
// commit_outcome_unknown. The clients retry the same job ids, and every
// acknowledged job is there afterwards.
func TestDatabaseRestartAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server and a PostgreSQL")
	}
	pg := pgtest.Private(t)
	p := startServerArgs(t, t.TempDir(), freeAddr(t), "--store", pg.URL())
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: flipAllow}, nil, 201)
	var ck cairn.CreatedKey
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "agent-o", Kind: "agent", Roles: []string{"agent"}}, &ck, 201)

	var (
		stop                        atomic.Bool
		mu                          sync.Mutex
		acked                       []string
		n201, n503, n504, noRetryAf atomic.Int64
		wg                          sync.WaitGroup
	)
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("o%d-%d", c, i)
				for !stop.Load() {
					st, e, h := callError(t, p.base, ck.Key, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: id, Action: "db.flip"})
					switch {
					case st == 201 || st == 200:
						n201.Add(1)
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					case st == 503 && e.Code == cairn.EUnavailable:
						n503.Add(1)
						if h.Get("Retry-After") == "" {
							noRetryAf.Add(1)
						}
						time.Sleep(50 * time.Millisecond)
						continue
					case st == 504 && e.Code == cairn.CodeOutcomeUnknown:
						n504.Add(1)
						continue // idempotent: the same job_id again
					default:
						t.Errorf("submit %s during the restart: %d %+v", id, st, e)
						stop.Store(true)
					}
					break
				}
			}
		}(c)
	}
	time.Sleep(500 * time.Millisecond)
	before := n201.Load()
	pg.Restart()
	restarted := n201.Load()
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("acknowledged %d submits (%d before the restart began, %d more after it); 503: %d, 504: %d",
		n201.Load(), before, n201.Load()-restarted, n503.Load(), n504.Load())
	if noRetryAf.Load() > 0 {
		t.Errorf("%d answers 503 without Retry-After", noRetryAf.Load())
	}
	if n201.Load() == restarted {
		t.Fatal("no submit succeeded after the database came back")
	}
	// Nothing acknowledged is lost.
	for _, id := range acked {
		var j cairn.Job
		mustCall(t, p.base, testAdminKey, "GET", "/api/v1/jobs/"+id, nil, &j, 200)
	}
	if t.Failed() {
		p.cmd.Process.Signal(syscall.SIGTERM) // its log buffer is read once it has exited
		p.cmd.Wait()
		t.Log(p.logs.String())
	}
}
