package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// buildBinary compiles cairn once per test binary run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func cairnBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "cairn")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// freeAddr binds a loopback port for the test and keeps it bound: servers
// started on the address inherit the listening socket (--listen-fd), so no
// other process can take the port between tests' restarts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // f holds the socket
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	heldPorts.Store(addr, f)
	t.Cleanup(func() { heldPorts.Delete(addr); f.Close() })
	return addr
}

// heldPorts maps the addresses freeAddr bound to their listening sockets.
var heldPorts sync.Map

type proc struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
}

const testAdminKey = "cairn_durability_admin_key_0000"

func startServer(t *testing.T, dataDir, addr string) *proc {
	t.Helper()
	return startServerArgs(t, dataDir, addr)
}

var httpc = &nethttp.Client{Timeout: 30 * time.Second}

func call(base, key, method, path string, body any, out any) (int, error) {
	return callCtx(context.Background(), base, key, method, path, body, out)
}

// callCtx is call, given up when ctx ends: on a held port (freeAddr) a
// request to a killed server waits in the backlog for the next one.
func callCtx(ctx context.Context, base, key, method, path string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := nethttp.NewRequestWithContext(ctx, method, base+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// TestSIGKILLDurability kills the server while clients submit, restarts it,
// and checks that every acknowledged job is there with its decision,
// timeline and ledger entries, and that neither sequence has gaps.
func TestSIGKILLDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server")
	}
	dataDir := t.TempDir()
	addr := freeAddr(t)
	p := startServer(t, dataDir, addr)
	if st, err := call(p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: `default: deny
rules:
  - id: reads
    match: {actions: ["db.read"]}
    decision: ALLOW
    reason: reads
  - id: writes
    match: {actions: ["db.write"]}
    decision: REQUIRE_APPROVAL
    reason: writes need approval
    approval: {approver_roles: [approver]}
`}, nil); err != nil || st != 201 {
		t.Fatalf("publish: %d %v", st, err)
	}
	var agent cairn.CreatedKey
	if st, err := call(p.base, testAdminKey, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "agent-k", Kind: "agent", Roles: []string{"agent"}}, &agent); err != nil || st != 201 {
		t.Fatalf("key: %d %v", st, err)
	}

	const clients = 16
	type ack struct {
		id, state, decision string
		run                 string
	}
	var mu sync.Mutex
	var acked []ack
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 100000; i++ {
				action := "db.read"
				if i%3 == 0 {
					action = "db.write"
				}
				req := cairn.SubmitRequest{JobID: fmt.Sprintf("c%d-j%d", c, i), RunID: fmt.Sprintf("run-%d-%d", c, i/10), Action: action, Input: json.RawMessage(`{"i":1}`)}
				var j cairn.Job
				st, err := callCtx(ctx, p.base, agent.Key, "POST", "/api/v1/jobs", req, &j)
				if err != nil {
					return // the server died
				}
				if st == 201 {
					mu.Lock()
					acked = append(acked, ack{j.JobID, j.State, j.Decision, req.RunID})
					mu.Unlock()
				}
			}
		}(c)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	cancel()
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d submits were acknowledged before the kill", len(acked))
	}
	t.Logf("%d submits acknowledged before SIGKILL", len(acked))

	p = startServer(t, dataDir, addr)
	runs := map[string]bool{}
	for _, a := range acked {
		var j cairn.Job
		st, err := call(p.base, testAdminKey, "GET", "/api/v1/jobs/"+a.id, nil, &j)
		if err != nil || st != 200 {
			t.Fatalf("acknowledged job %s lost after SIGKILL: %d %v", a.id, st, err)
		}
		if j.State != a.state || j.Decision != a.decision {
			t.Fatalf("job %s: %s/%s, acknowledged %s/%s", a.id, j.State, j.Decision, a.state, a.decision)
		}
		var ds cairn.List[*cairn.Decision]
		if st, err := call(p.base, testAdminKey, "GET", "/api/v1/jobs/"+a.id+"/decisions", nil, &ds); err != nil || st != 200 || len(ds.Items) != 1 {
			t.Fatalf("job %s decisions: %d %v %d", a.id, st, err, len(ds.Items))
		}
		runs[a.run] = true
	}
	// Timelines: seq 1..n without gaps, each acknowledged job present.
	inTimeline := map[string]bool{}
	for run := range runs {
		var tl cairn.List[*cairn.Event]
		if st, err := call(p.base, testAdminKey, "GET", "/api/v1/workflow-runs/"+run+"/timeline?limit=1000", nil, &tl); err != nil || st != 200 {
			t.Fatalf("timeline %s: %d %v", run, st, err)
		}
		for i, ev := range tl.Items {
			if ev.Seq != int64(i+1) {
				t.Fatalf("run %s: event %d has seq %d", run, i, ev.Seq)
			}
			if ev.Type == cairn.EventJobSubmitted {
				inTimeline[string(ev.JobID)] = true
			}
		}
	}
	for _, a := range acked {
		if !inTimeline[a.id] {
			t.Fatalf("job %s has no job_submitted event on its timeline", a.id)
		}
	}
	// Ledger: indexes 0..n-1, each leaf hash recomputes, each prev_hash chains.
	var prev string
	var next uint64
	for {
		var page cairn.List[*cairn.LedgerEntry]
		if st, err := call(p.base, testAdminKey, "GET", fmt.Sprintf("/api/v1/ledger/entries?from=%d&limit=1000", next), nil, &page); err != nil || st != 200 {
			t.Fatalf("ledger: %d %v", st, err)
		}
		for _, e := range page.Items {
			if e.Index != next {
				t.Fatalf("ledger gap: got index %d, want %d", e.Index, next)
			}
			leaf := ledger.LeafHash(e.Body)
			if hex.EncodeToString(leaf[:]) != e.LeafHash {
				t.Fatalf("ledger entry %d: leaf hash does not recompute", e.Index)
			}
			if e.PrevHash != prev {
				t.Fatalf("ledger entry %d: prev_hash breaks the chain", e.Index)
			}
			prev = e.LeafHash
			next++
		}
		if page.NextCursor == nil {
			break
		}
	}
	t.Logf("ledger has %d gap-free entries", next)
}
