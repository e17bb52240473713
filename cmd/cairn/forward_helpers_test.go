package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/service"
)

// forwardEnv is a Cairn server (in the test process) for the forwarder
// tests, with an auditor key in a file.
type forwardEnv struct {
	*apitest.Env
	keyFile string
	logKey  string // the log's verifier key
}

const forwardAdminKey = "cairn_test_admin_key_forward_0123456789"

func newForwardEnv(t testing.TB) *forwardEnv {
	t.Helper()
	e := &forwardEnv{Env: apitest.New(t, apitest.Options{AdminKey: forwardAdminKey, LedgerKey: true})}
	e.Key("auditor-1", "human", "auditor")
	e.Key("agent-1", "agent", "agent")
	e.keyFile = filepath.Join(t.TempDir(), "auditor.key")
	if err := os.WriteFile(e.keyFile, []byte(e.Keys["auditor-1"]), 0o600); err != nil {
		t.Fatal(err)
	}
	var k struct {
		PublicKey string `json:"public_key"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/key", nil, 200, &k)
	e.logKey = k.PublicKey
	return e
}

// size is the tenant's ledger size.
func (e *forwardEnv) size(t testing.TB) uint64 {
	t.Helper()
	p := cairn.Principal{Tenant: "default", ID: "auditor-1", Kind: "human", Roles: []string{cairn.RoleAuditor}}
	page, err := e.Svc.Events(context.Background(), p, service.EventsRequest{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return page.Size
}

// fill submits jobs (in the process, four at a time) until the ledger
// holds at least n entries, and returns its size then.
func (e *forwardEnv) fill(t testing.TB, n uint64) uint64 {
	t.Helper()
	p := cairn.Principal{Tenant: "default", ID: "agent-1", Kind: "agent", Roles: []string{cairn.RoleAgent}}
	var seq atomic.Int64
	for e.size(t) < n {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					req := cairn.SubmitRequest{Action: "db.read", Resource: fmt.Sprintf("db://orders/%d", seq.Add(1)), Input: json.RawMessage(`{"q":"select \"x\" from [t] where a\\b = 1"}`)}
					if _, _, err := e.Svc.Submit(context.Background(), p, req, ""); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	return e.size(t)
}

// forwarder is a running `cairn forward` (the built binary).
type forwarder struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func startForwarder(t testing.TB, e *forwardEnv, config, state string, extra ...string) *forwarder {
	t.Helper()
	args := append([]string{"forward", "--server", e.URL, "--key-file", e.keyFile, "--config", config, "--state", state}, extra...)
	cmd := exec.Command(cairnBinary(t), args...)
	f := &forwarder{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = &lockedWriter{w: f.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.stop() })
	return f
}

func (f *forwarder) kill(t *testing.T) {
	t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.cmd.Wait()
}

func (f *forwarder) stop() {
	if f.cmd.ProcessState != nil {
		return
	}
	f.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { f.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		f.cmd.Process.Kill()
		<-done
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitFor polls cond until it holds; after limit it fails the test with
// what describe says (a hang guard, not a timed assertion).
func waitFor(t *testing.T, limit time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting after %s: %s", limit, describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDelivery checks delivered ledger indexes, in arrival order: every
// index below total arrived, in order (each is the one after the last,
// except where delivery started again at an earlier index: a redelivery),
// there were at most maxRedeliveries redeliveries, each going back at most
// maxBack entries (one batch).
func checkDelivery(t *testing.T, got []uint64, total uint64, maxRedeliveries int, maxBack uint64) {
	t.Helper()
	seen := make([]bool, total)
	redeliveries := 0
	var dups int
	for i, idx := range got {
		if idx >= total {
			t.Fatalf("delivered index %d, beyond the %d entries", idx, total)
		}
		if seen[idx] {
			dups++
		}
		seen[idx] = true
		switch {
		case i == 0:
			if idx != 0 {
				t.Fatalf("delivery started at index %d, not 0", idx)
			}
		case idx == got[i-1]+1:
		case idx <= got[i-1]:
			redeliveries++
			if back := got[i-1] - idx + 1; back > maxBack {
				t.Fatalf("a redelivery went back %d entries (from %d to %d), more than one batch (%d)", back, got[i-1], idx, maxBack)
			}
		default:
			t.Fatalf("out of order or gap: index %d delivered right after %d (position %d)", idx, got[i-1], i)
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("index %d of %d never delivered", i, total)
		}
	}
	if redeliveries > maxRedeliveries {
		t.Fatalf("%d redeliveries, at most %d expected", redeliveries, maxRedeliveries)
	}
	t.Logf("%d entries delivered in order; %d deliveries in all, %d duplicates in %d redeliveries", total, len(got), dups, redeliveries)
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
