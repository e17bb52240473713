package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	nethttp "net/http"
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
	"github.com/cairnhq/cairn/internal/payloadkey"
	"github.com/cairnhq/cairn/internal/pgtest"
	"github.com/cairnhq/cairn/internal/postgres"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// These tests run cairn serve replicas on the PostgreSQL database named by
// CAIRN_TEST_POSTGRES, each test in a fresh schema.

func pgSchemaURL(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	return pgtest.Schema(t, "cairn_replicas_")
}

// startServerArgs is startServer with extra cairn serve arguments.
func startServerArgs(t *testing.T, dataDir, addr string, extra ...string) *proc {
	t.Helper()
	return startServerUntil(t, "/readyz", dataDir, addr, extra...)
}

// startServerUntil starts cairn serve and waits until GET probe answers 200.
func startServerUntil(t *testing.T, probePath, dataDir, addr string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--data", dataDir, "--addr", addr, "--log-level", "warn"}, extra...)
	held, ok := heldPorts.Load(addr)
	if ok {
		args = append(args, "--listen-fd", "3")
	}
	cmd := exec.Command(cairnBinary(t), args...)
	if ok {
		cmd.ExtraFiles = []*os.File{held.(*os.File)}
	}
	cmd.Env = append(os.Environ(), "CAIRN_ADMIN_KEY="+testAdminKey)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: "http://" + addr, logs: &logs.buf}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	// A held port accepts into its backlog before the server does: a
	// probe waits at most a second for the server to answer.
	probe := &nethttp.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := probe.Get(p.base + probePath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become ready: %s", logs.String())
	return nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cluster is N replicas on one PostgreSQL schema sharing a ledger key and
// a findings salt.
type cluster struct {
	t     *testing.T
	args  []string
	dirs  []string
	addrs []string
	procs []*proc
}

func newCluster(t *testing.T, n int, extra ...string) *cluster {
	dsn := pgSchemaURL(t)
	shared := t.TempDir()
	keyFile := filepath.Join(shared, "ledger.key")
	if _, err := tree.LoadOrCreateKey(keyFile, "cairn"); err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	saltFile := filepath.Join(shared, "findings.salt")
	os.WriteFile(saltFile, salt, 0o600)
	payloadKey := filepath.Join(shared, "payload.key")
	if _, err := payloadkey.LoadOrCreate(payloadKey); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, args: append([]string{"--store", dsn, "--ledger-key", keyFile, "--salt-file", saltFile, "--payload-key", payloadKey}, extra...)}
	c.procs = make([]*proc, n)
	for i := 0; i < n; i++ {
		c.dirs = append(c.dirs, t.TempDir())
		c.addrs = append(c.addrs, freeAddr(t))
	}
	// Start them together: migrations and bootstrap must not race.
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.procs[i] = startServerArgs(t, c.dirs[i], c.addrs[i], c.args...)
		}(i)
	}
	wg.Wait()
	return c
}

func (c *cluster) restart(i int) {
	c.procs[i] = startServerArgs(c.t, c.dirs[i], c.addrs[i], c.args...)
}

const replicaPolicy = `default: deny
rules:
  - id: reads
    match: {actions: ["db.read", "ops.victim"]}
    decision: ALLOW
    reason: reads
  - id: writes
    match: {actions: ["db.write"]}
    decision: REQUIRE_APPROVAL
    reason: writes need approval
    approval: {approver_roles: [approver]}
  - id: quick
    match: {actions: ["db.quick"]}
    decision: REQUIRE_APPROVAL
    reason: expires fast
    approval: {approver_roles: [approver], expires_in: 1s}
`

type replicaKeys struct{ agent, approver, worker, auditor string }

func setupReplicas(t *testing.T, c *cluster) replicaKeys {
	a := c.procs[0]
	mustCall(t, a.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: replicaPolicy}, nil, 201)
	var k replicaKeys
	for i, spec := range []struct {
		dst             *string
		principal, kind string
		role            string
	}{{&k.agent, "agent-1", "agent", "agent"}, {&k.approver, "boss", "human", "approver"}, {&k.worker, "worker-1", "service", "worker"}, {&k.auditor, "auditor", "human", "auditor"}} {
		var ck cairn.CreatedKey
		// Keys are created through different replicas.
		mustCall(t, c.procs[i%len(c.procs)].base, testAdminKey, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: spec.principal, Kind: spec.kind, Roles: []string{spec.role}}, &ck, 201)
		*spec.dst = ck.Key
	}
	return k
}

// ledgerEntries reads a tenant's whole ledger through a replica and checks
// that it is gap-free and chained; it returns the entries.
func ledgerEntries(t *testing.T, base, key string) []*cairn.LedgerEntry {
	t.Helper()
	var out []*cairn.LedgerEntry
	prev := ""
	for {
		var page cairn.List[*cairn.LedgerEntry]
		if st, err := call(base, key, "GET", fmt.Sprintf("/api/v1/ledger/entries?from=%d&limit=1000", len(out)), nil, &page); err != nil || st != 200 {
			t.Fatalf("ledger entries: %d %v", st, err)
		}
		for _, e := range page.Items {
			if e.Index != uint64(len(out)) {
				t.Fatalf("ledger gap: index %d, want %d", e.Index, len(out))
			}
			leaf := ledger.LeafHash(e.Body)
			if hex.EncodeToString(leaf[:]) != e.LeafHash || e.PrevHash != prev {
				t.Fatalf("ledger entry %d: leaf hash or chain broken", e.Index)
			}
			prev = e.LeafHash
			out = append(out, e)
		}
		if page.NextCursor == nil || len(page.Items) == 0 {
			return out
		}
	}
}

type entryBody struct {
	RunSeq int64 `json:"run_seq"`
	Event  struct {
		Type       string  `json:"type"`
		JobID      *string `json:"job_id"`
		RunID      *string `json:"run_id"`
		Resolution string  `json:"resolution"`
	} `json:"event"`
}

// checkCluster checks what every replica must agree on: the ledger is
// gap-free, its timelines are numbered in ledger (commit) order, no job
// was dispatched twice without its lease expiring in between, every
// checkpoint matches the ledger, and every replica's server-side verify
// passes.
func checkCluster(t *testing.T, c *cluster, live []int, auditor string) []entryBody {
	t.Helper()
	es := ledgerEntries(t, c.procs[live[0]].base, testAdminKey)
	bodies := make([]entryBody, len(es))
	runs := map[string]int64{}
	leased := map[string]int{}
	roots := map[uint64]string{}
	a := tree.NewAppender()
	for i, e := range es {
		if err := json.Unmarshal(e.Body, &bodies[i]); err != nil {
			t.Fatal(err)
		}
		b := bodies[i]
		if b.Event.RunID != nil {
			runs[*b.Event.RunID]++
			if b.RunSeq != runs[*b.Event.RunID] {
				t.Fatalf("entry %d: run %s seq %d, want %d (timeline out of commit order)", i, *b.Event.RunID, b.RunSeq, runs[*b.Event.RunID])
			}
		}
		if b.Event.JobID != nil {
			switch b.Event.Type {
			case cairn.EventJobDispatched:
				if leased[*b.Event.JobID] > 0 {
					t.Fatalf("job %s leased twice (entry %d)", *b.Event.JobID, i)
				}
				leased[*b.Event.JobID]++
			case cairn.EventLeaseExpired, cairn.EventJobCompleted:
				leased[*b.Event.JobID] = 0
			}
		}
		leaf := ledger.LeafHash(e.Body)
		a.Append(leaf)
		r := a.Root()
		roots[uint64(i+1)] = hex.EncodeToString(r[:])
	}
	var cps cairn.List[*cairn.Checkpoint]
	mustCall(t, c.procs[live[len(live)-1]].base, testAdminKey, "GET", "/api/v1/ledger/checkpoints?limit=1000", nil, &cps, 200)
	if len(cps.Items) == 0 {
		t.Fatal("no checkpoints were issued")
	}
	for _, cp := range cps.Items {
		if want, ok := roots[cp.Size]; !ok || want != cp.RootHash {
			t.Fatalf("checkpoint at size %d does not match the ledger", cp.Size)
		}
	}
	for _, i := range live {
		var rep struct {
			OK       bool   `json:"ok"`
			TreeSize uint64 `json:"tree_size"`
		}
		var raw json.RawMessage
		if st, err := call(c.procs[i].base, auditor, "GET", "/api/v1/ledger/verify", nil, &raw); err != nil || st != 200 {
			t.Fatalf("replica %d: GET /ledger/verify: %d %v", i, st, err)
		}
		json.Unmarshal(raw, &rep)
		if !rep.OK {
			t.Fatalf("replica %d: ledger verify reports problems: %s", i, raw)
		}
	}
	t.Logf("ledger: %d gap-free entries, %d runs, %d checkpoints consistent", len(es), len(runs), len(cps.Items))
	return bodies
}

func lease(base, key string, actions []string, waitMS, leaseMS int) ([]*cairn.LeasedJob, int, error) {
	var lr cairn.LeaseResponse
	st, err := call(base, key, "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w", Actions: actions, Max: 1, WaitMS: waitMS, LeaseMS: leaseMS}, &lr)
	return lr.Jobs, st, err
}

// TestReplicas runs three replicas on one PostgreSQL database and drives
// them together: jobs are submitted to one, approved on another and leased
// from a third; a long poll on one replica is woken by a submit on another;
// a replica killed mid-lease loses nothing; background work runs on all.
func TestReplicas(t *testing.T) {
	c := newCluster(t, 3)
	k := setupReplicas(t, c)
	A, B, C := c.procs[0], c.procs[1], c.procs[2]

	// A publish through A governs C within the policy refresh interval.
	t0 := time.Now()
	for i := 0; ; i++ {
		var j cairn.Job
		mustCall(t, C.base, k.agent, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: fmt.Sprintf("probe-%d", i), Action: "db.read"}, &j, 201)
		if j.Decision == cairn.Allow {
			// Finish it so it does not linger in the queue.
			break
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatal("a policy published on one replica did not reach another")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("policy published on A governs C after %s", time.Since(t0).Round(time.Millisecond))
	drain := func(base string, actions []string) {
		for {
			jobs, _, err := lease(base, k.worker, actions, 0, 0)
			if err != nil || len(jobs) == 0 {
				return
			}
			mustCall(t, base, k.worker, "POST", "/api/v1/jobs/"+jobs[0].JobID+"/complete", cairn.CompleteRequest{LeaseID: jobs[0].LeaseID, Status: "succeeded"}, nil, 200)
		}
	}
	drain(C.base, []string{"db.read"})

	// Long poll on C, woken by a submit on A (LISTEN/NOTIFY).
	type leaseResult struct {
		jobs []*cairn.LeasedJob
		at   time.Time
		err  error
	}
	done := make(chan leaseResult, 1)
	go func() {
		jobs, _, err := lease(C.base, k.worker, []string{"db.read"}, 15000, 0)
		done <- leaseResult{jobs, time.Now(), err}
	}()
	time.Sleep(500 * time.Millisecond)
	submitted := time.Now()
	mustCall(t, A.base, k.agent, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "wake-1", Action: "db.read"}, nil, 201)
	r := <-done
	if r.err != nil || len(r.jobs) != 1 || r.jobs[0].JobID != "wake-1" {
		t.Fatalf("long poll on C: %+v", r)
	}
	wake := r.at.Sub(submitted)
	t.Logf("long poll on C woken %s after the submit on A", wake.Round(time.Millisecond))
	if wake > 3*time.Second {
		t.Fatalf("long poll woken after %s: cross-replica wake-up does not work", wake)
	}
	mustCall(t, B.base, k.worker, "POST", "/api/v1/jobs/wake-1/complete", cairn.CompleteRequest{LeaseID: r.jobs[0].LeaseID, Status: "succeeded"}, nil, 200)

	// Workload: submits to A, approvals on B, leases and completions from C.
	const jobs = 60
	var wg sync.WaitGroup
	var leases atomic.Int64
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, st, err := lease(C.base, k.worker, []string{"db.*"}, 500, 0)
				if err != nil || st != 200 {
					t.Errorf("lease: %d %v", st, err)
					return
				}
				for _, j := range got {
					leases.Add(1)
					if st, err := call(C.base, k.worker, "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: j.LeaseID, Status: "succeeded", Result: json.RawMessage(`{"ok":true}`)}, nil); err != nil || st != 200 {
						t.Errorf("complete %s: %d %v", j.JobID, st, err)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // approver on B
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var page cairn.List[*cairn.Approval]
			if st, err := call(B.base, k.approver, "GET", "/api/v1/approvals?limit=100", nil, &page); err != nil || st != 200 {
				t.Errorf("approvals: %d %v", st, err)
				return
			}
			for _, a := range page.Items {
				if st, err := call(B.base, k.approver, "POST", "/api/v1/approvals/"+a.JobID+"/approve", cairn.ResolveRequest{JobHash: a.JobHash}, nil); err != nil || st != 200 {
					t.Errorf("approve %s: %d %v", a.JobID, st, err)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for i := 0; i < jobs; i++ {
		action := "db.read"
		if i%3 == 0 {
			action = "db.write"
		}
		mustCall(t, A.base, k.agent, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: fmt.Sprintf("job-%d", i), RunID: fmt.Sprintf("run-%d", i/10), Action: action, Input: json.RawMessage(`{"i":1}`)}, nil, 201)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page cairn.List[*cairn.Job]
		mustCall(t, B.base, testAdminKey, "GET", "/api/v1/jobs?limit=1000", nil, &page, 200)
		open := 0
		for _, j := range page.Items {
			if !cairn.IsFinalState(j.State) {
				open++
			}
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still open", open)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d jobs submitted on A, approved on B, leased and completed from C (%d leases)", jobs, leases.Load())

	// An approval that expires: every replica runs expiry; it is resolved once.
	mustCall(t, A.base, k.agent, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "quick", Action: "db.quick"}, nil, 201)

	// A replica killed mid-lease: the lease expires and the job is leased
	// again from another replica.
	mustCall(t, A.base, k.agent, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "victim", Action: "ops.victim"}, nil, 201)
	vj, _, err := lease(B.base, k.worker, []string{"ops.*"}, 5000, 1000)
	if err != nil || len(vj) != 1 || vj[0].JobID != "victim" {
		t.Fatalf("lease on B: %v %+v", err, vj)
	}
	B.cmd.Process.Signal(syscall.SIGKILL)
	B.cmd.Wait()
	killed := time.Now()
	again, _, err := lease(C.base, k.worker, []string{"ops.*"}, 10000, 0)
	if err != nil || len(again) != 1 || again[0].JobID != "victim" || again[0].Attempts != 1 {
		t.Fatalf("lease on C after the kill: %v %+v", err, again)
	}
	t.Logf("the killed replica's lease expired and the job was leased again from C %s after the kill", time.Since(killed).Round(time.Millisecond))
	mustCall(t, C.base, k.worker, "POST", "/api/v1/jobs/victim/complete", cairn.CompleteRequest{LeaseID: again[0].LeaseID, Status: "succeeded"}, nil, 200)
	c.restart(1)

	var victim, quick cairn.Job
	mustCall(t, A.base, testAdminKey, "GET", "/api/v1/jobs/victim", nil, &victim, 200)
	if victim.State != cairn.StateSucceeded || victim.Attempts != 1 {
		t.Fatalf("victim: state %s attempts %d; want SUCCEEDED after one expired lease", victim.State, victim.Attempts)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mustCall(t, A.base, testAdminKey, "GET", "/api/v1/jobs/quick", nil, &quick, 200)
		if quick.State == cairn.StateExpired {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if quick.State != cairn.StateExpired {
		t.Fatalf("quick: state %s, want EXPIRED", quick.State)
	}
	time.Sleep(1500 * time.Millisecond) // a checkpoint covers the end
	bodies := checkCluster(t, c, []int{0, 1, 2}, k.auditor)
	count := func(typ, job string) int {
		n := 0
		for _, b := range bodies {
			if b.Event.Type == typ && b.Event.JobID != nil && *b.Event.JobID == job {
				n++
			}
		}
		return n
	}
	if n := count(cairn.EventLeaseExpired, "victim"); n != 1 {
		t.Fatalf("victim: %d lease_expired events, want 1", n)
	}
	if n := count(cairn.EventApprovalResolved, "quick"); n != 1 {
		t.Fatalf("quick: %d approval_resolved events, want 1", n)
	}
	for i := 0; i < jobs; i++ {
		id := fmt.Sprintf("job-%d", i)
		if count(cairn.EventJobDispatched, id) != 1 || count(cairn.EventJobCompleted, id) != 1 {
			t.Fatalf("%s: dispatched %d times, completed %d times", id, count(cairn.EventJobDispatched, id), count(cairn.EventJobCompleted, id))
		}
	}
}

// balancer routes requests to ready replicas, as a load balancer would, and
// retries by the documented rules (docs/deploy.md): a refused connection
// (nothing was sent) and a 503 always, other transport errors only for
// requests that are safe to retry.
type balancer struct {
	c      *cluster
	mu     sync.Mutex
	ready  []bool
	next   atomic.Int64
	stop   chan struct{}
	client *nethttp.Client
}

func newBalancer(c *cluster) *balancer {
	b := &balancer{c: c, ready: make([]bool, len(c.addrs)), stop: make(chan struct{}),
		client: &nethttp.Client{Timeout: 30 * time.Second}}
	for i := range b.ready {
		b.ready[i] = true
	}
	go func() {
		hc := &nethttp.Client{Timeout: 300 * time.Millisecond}
		for {
			select {
			case <-b.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for i, addr := range c.addrs {
				ok := false
				if resp, err := hc.Get("http://" + addr + "/readyz"); err == nil {
					ok = resp.StatusCode == 200
					resp.Body.Close()
				}
				b.mu.Lock()
				b.ready[i] = ok
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := 0; k < len(b.ready); k++ {
		i := int(b.next.Add(1)) % len(b.ready)
		if b.ready[i] {
			return "http://" + b.c.addrs[i]
		}
	}
	return "http://" + b.c.addrs[int(b.next.Load())%len(b.ready)]
}

var errNotRetried = errors.New("request failed and is not safe to retry")

// do sends a request; safe says whether it may be resent after a transport
// error once it may have reached a server.
func (b *balancer) do(key, method, path string, body, out any, safe bool) (int, error) {
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		var r *bytes.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			r = bytes.NewReader(raw)
		} else {
			r = bytes.NewReader(nil)
		}
		req, _ := nethttp.NewRequest(method, b.pick()+path, r)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := b.client.Do(req)
		if err != nil {
			lastErr = err
			if strings.Contains(err.Error(), "connection refused") || safe {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return 0, fmt.Errorf("%w: %s %s: %v", errNotRetried, method, path, err)
		}
		raw := new(bytes.Buffer)
		raw.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			lastErr = fmt.Errorf("503 %s", raw)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if out != nil && resp.StatusCode < 300 {
			if err := json.Unmarshal(raw.Bytes(), out); err != nil {
				return resp.StatusCode, err
			}
		}
		return resp.StatusCode, nil
	}
	return 0, fmt.Errorf("gave up: %v", lastErr)
}

// TestRollingRestart restarts three replicas one at a time while clients
// submit, approve, lease and complete through a load balancer. No request
// fails: requests in flight when a replica is told to stop finish (it
// drains), and the only retries are those the docs call safe.
func TestRollingRestart(t *testing.T) {
	c := newCluster(t, 3, "--drain", "1s")
	k := setupReplicas(t, c)
	lb := newBalancer(c)
	defer close(lb.stop)

	var failures []string
	var fmu sync.Mutex
	fail := func(format string, args ...any) {
		fmu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		fmu.Unlock()
	}
	var submitted, completed, approved atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := 0; cl < 6; cl++ {
		wg.Add(1)
		go func(cl int) { // submitters: job_id makes a submit safe to retry
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				action := "db.read"
				if i%4 == 0 {
					action = "db.write"
				}
				req := cairn.SubmitRequest{JobID: fmt.Sprintf("c%d-%d", cl, i), RunID: fmt.Sprintf("r%d-%d", cl, i/10), Action: action, Input: json.RawMessage(`{"n":1}`)}
				st, err := lb.do(k.agent, "POST", "/api/v1/jobs", req, nil, true)
				if err != nil || (st != 201 && st != 200) {
					fail("submit %s: %d %v", req.JobID, st, err)
					continue
				}
				submitted.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		}(cl)
	}
	wg.Add(1)
	go func() { // approver: an approve is safe to retry
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var page cairn.List[*cairn.Approval]
			st, err := lb.do(k.approver, "GET", "/api/v1/approvals?limit=100", nil, &page, true)
			if err != nil || st != 200 {
				fail("list approvals: %d %v", st, err)
				continue
			}
			for _, a := range page.Items {
				st, err := lb.do(k.approver, "POST", "/api/v1/approvals/"+a.JobID+"/approve", cairn.ResolveRequest{JobHash: a.JobHash}, nil, true)
				if err != nil || st != 200 {
					fail("approve %s: %d %v", a.JobID, st, err)
					continue
				}
				approved.Add(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() { // workers: lease and complete are not resent after a transport error
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var lr cairn.LeaseResponse
				st, err := lb.do(k.worker, "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w", Max: 5, WaitMS: 500}, &lr, false)
				if err != nil || st != 200 {
					fail("lease: %d %v", st, err)
					continue
				}
				for _, j := range lr.Jobs {
					st, err := lb.do(k.worker, "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: j.LeaseID, Status: "succeeded"}, nil, false)
					if err != nil || st != 200 {
						fail("complete %s: %d %v", j.JobID, st, err)
						continue
					}
					completed.Add(1)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	for i := range c.procs {
		p := c.procs[i]
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("replica %d did not stop cleanly: %v\n%s", i, err, p.logs.String())
		}
		c.restart(i)
		time.Sleep(1500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the rolling restart", len(failures))
	}
	t.Logf("during the rolling restart: %d submits, %d approvals, %d completions, no failed request", submitted.Load(), approved.Load(), completed.Load())
	// Let the workers' leftovers settle, then check the store.
	time.Sleep(1500 * time.Millisecond)
	checkCluster(t, c, []int{0, 1, 2}, k.auditor)
}

// TestCopyToPostgres moves an embedded store to PostgreSQL with cairn copy
// and checks that the ledger is intact: a checkpoint signed before the move
// verifies an export made after it (cairn verify --trusted-checkpoint).
func TestCopyToPostgres(t *testing.T) {
	dsn := pgSchemaURL(t)
	dataDir := t.TempDir()
	p := startServer(t, dataDir, freeAddr(t))
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: replicaPolicy}, nil, 201)
	keys := map[string]string{}
	for _, r := range []string{"agent", "approver", "worker"} {
		var ck cairn.CreatedKey
		mustCall(t, p.base, testAdminKey, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: r + "-1", Kind: "service", Roles: []string{r}}, &ck, 201)
		keys[r] = ck.Key
	}
	for i := 0; i < 40; i++ {
		action := []string{"db.read", "db.write", "db.delete"}[i%3]
		mustCall(t, p.base, keys["agent"], "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: fmt.Sprintf("j%d", i), RunID: fmt.Sprintf("r%d", i/8), Action: action, Input: json.RawMessage(`{"i":1}`)}, nil, 201)
	}
	var j1 cairn.Job
	mustCall(t, p.base, keys["agent"], "GET", "/api/v1/jobs/j1", nil, &j1, 200)
	mustCall(t, p.base, keys["approver"], "POST", "/api/v1/approvals/j1/approve", cairn.ResolveRequest{JobHash: j1.JobHash}, nil, 200)
	for n := 0; n < 5; n++ {
		jobs, _, err := lease(p.base, keys["worker"], nil, 0, 0)
		if err != nil || len(jobs) == 0 {
			break
		}
		mustCall(t, p.base, keys["worker"], "POST", "/api/v1/jobs/"+jobs[0].JobID+"/complete", cairn.CompleteRequest{LeaseID: jobs[0].LeaseID, Status: "succeeded", Result: json.RawMessage(`{"rows":3}`)}, nil, 200)
	}
	var kept struct {
		Note string `json:"note"`
		Size uint64 `json:"size"`
	}
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, &kept, 200)
	var key struct {
		PublicKey string `json:"public_key"`
	}
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/ledger/key", nil, &key, 200)
	var before cairn.Job
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/jobs/j0", nil, &before, 200)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	runsBefore, wf := seedCopyWorkflows(t, dataDir)

	out, err := exec.Command(cairnBinary(t), "copy", "--from", dataDir, "--to", dsn).CombinedOutput()
	if err != nil {
		t.Fatalf("cairn copy: %v\n%s", err, out)
	}
	t.Logf("cairn copy:\n%s", out)
	checkCopiedWorkflows(t, dsn, runsBefore, wf)
	// Copying again into a store that is no longer empty is refused.
	if out, err := exec.Command(cairnBinary(t), "copy", "--from", dataDir, "--to", dsn).CombinedOutput(); err == nil || !strings.Contains(string(out), "empty") {
		t.Fatalf("a second copy into the same database: %v\n%s", err, out)
	}

	q := startServerArgs(t, t.TempDir(), freeAddr(t), "--store", dsn, "--ledger-key", filepath.Join(dataDir, "ledger.key"), "--salt-file", filepath.Join(dataDir, "findings.salt"), "--payload-key", filepath.Join(dataDir, "payload.key"))
	var after cairn.Job
	mustCall(t, q.base, testAdminKey, "GET", "/api/v1/jobs/j0", nil, &after, 200)
	if after.State != before.State || after.JobHash != before.JobHash || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("job j0 after the copy: %+v, before: %+v", after, before)
	}
	// The moved store keeps working: a new submit extends the same ledger.
	mustCall(t, q.base, keys["agent"], "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "after-move", Action: "db.read"}, nil, 201)
	var rep json.RawMessage
	trusted := base64.RawURLEncoding.EncodeToString([]byte(kept.Note))
	mustCall(t, q.base, testAdminKey, "GET", "/api/v1/ledger/verify?trusted_checkpoint="+trusted, nil, &rep, 200)
	if !strings.Contains(string(rep), `"ok":true`) {
		t.Fatalf("GET /ledger/verify after the move: %s", rep)
	}
	keptFile := filepath.Join(t.TempDir(), "kept.note")
	os.WriteFile(keptFile, []byte(kept.Note), 0o600)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	if out, err := exec.Command(cairnBinary(t), "export", "--server", q.base, "--key", testAdminKey, "-o", bundle).CombinedOutput(); err != nil {
		t.Fatalf("cairn export: %v: %s", err, out)
	}
	out, err = exec.Command(cairnBinary(t), "verify", "--key", key.PublicKey, "--trusted-checkpoint", keptFile, bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("cairn verify of the moved store: %v\n%s", err, out)
	}
	t.Logf("cairn verify after the move:\n%s", out)
}

// seedCopyWorkflows writes a registered workflow and a workflow run with
// every engine field into the stopped embedded store, and returns the
// tenant's runs (the ad-hoc ones the server made and that one) and the
// workflow as the store reads them.
func seedCopyWorkflows(t *testing.T, dataDir string) ([]*cairn.Run, *cairn.Workflow) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	wf := &cairn.Workflow{WorkflowID: "wf:default:copy-check#sha256:ab", Tenant: "default", Name: "copy-check", Version: 1, SHA256: "ab",
		Steps: []string{"plan"}, Definition: "name: copy-check\n", CreatedBy: "admin", CreatedAt: now, Ledger: &cairn.LedgerRef{Index: 1, LeafHash: "aa"}}
	wake := now.Add(time.Minute)
	run := &cairn.Run{RunID: "wr-copy", Tenant: "default", Status: cairn.RunWaitingApproval, StartedBy: "agent-1", CreatedAt: now, UpdatedAt: now,
		WorkflowID: wf.WorkflowID, InputPtr: "wfin:wr-copy", InputSHA256: "cd", StarterKind: "service", StarterRoles: []string{"agent"},
		TimeoutAt: &wake, WakeAt: &wake, Steps: []*cairn.StepState{{StepID: "plan", Status: cairn.StepWaitingApproval, Jobs: []string{},
			Gate: &cairn.GateState{Status: cairn.GatePending, ApproverRoles: []string{"approver"}, Quorum: 1, RequestedAt: now, ExpiresAt: &wake,
				Votes: []cairn.GateVote{}}}}}
	err = s.Update(ctx, func(tx cairn.Tx) error {
		if err := tx.InsertWorkflow(wf); err != nil {
			return err
		}
		return tx.InsertRun(run)
	})
	if err != nil {
		t.Fatal(err)
	}
	var runs []*cairn.Run
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		if runs, err = tx.ListRuns("default", cairn.RunFilter{Page: cairn.Page{Limit: 1000}}); err != nil {
			return err
		}
		wf, err = tx.GetWorkflow("default", wf.WorkflowID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 2 || runs[0].RunID != "wr-copy" {
		t.Fatalf("runs before the copy: %d, newest %+v", len(runs), runs[0])
	}
	return runs, wf
}

// checkCopiedWorkflows compares the copied runs and workflow with the
// source's, seqs included, checks that new ones are numbered after them,
// and leaves the synthetic run finished so that the server's engine
// ignores it.
func checkCopiedWorkflows(t *testing.T, dsn string, runsBefore []*cairn.Run, wf *cairn.Workflow) {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("%s after the copy:\n got %s\nwant %s", what, g, w)
		}
	}
	err = s.View(ctx, func(tx cairn.ReadTx) error {
		runs, err := tx.ListRuns("default", cairn.RunFilter{Page: cairn.Page{Limit: 1000}})
		if err != nil {
			return err
		}
		if len(runs) != len(runsBefore) {
			t.Fatalf("%d runs after the copy, %d before", len(runs), len(runsBefore))
		}
		for i, r := range runs {
			same("run "+r.RunID, r, runsBefore[i])
			if r.Seq != runsBefore[i].Seq {
				t.Fatalf("run %s: seq %d after the copy, %d before", r.RunID, r.Seq, runsBefore[i].Seq)
			}
		}
		due, err := tx.DueRuns(runsBefore[0].WakeAt.Add(time.Second), 10)
		if err != nil || len(due) != 1 || due[0].RunID != "wr-copy" {
			t.Fatalf("DueRuns after the copy = %v, %v", due, err)
		}
		got, err := tx.GetWorkflow("default", wf.WorkflowID)
		if err != nil {
			return err
		}
		same("workflow", got, wf)
		if got.Seq != wf.Seq {
			t.Fatalf("workflow seq %d after the copy, %d before", got.Seq, wf.Seq)
		}
		rs, err := tx.ListRuns("default", cairn.RunFilter{WorkflowID: wf.WorkflowID, Status: cairn.RunWaitingApproval, Page: cairn.Page{Limit: 10}})
		if err != nil || len(rs) != 1 {
			t.Fatalf("ListRuns by workflow and status after the copy = %v, %v", rs, err)
		}
		// The starter column came across: each starter lists exactly its runs.
		for _, by := range []string{runsBefore[0].StartedBy, "nobody"} {
			var want []string
			for _, r := range runsBefore {
				if r.StartedBy == by {
					want = append(want, r.RunID)
				}
			}
			rs, err := tx.ListRuns("default", cairn.RunFilter{StartedBy: by, Page: cairn.Page{Limit: 1000}})
			if err != nil {
				return err
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.RunID)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("ListRuns started by %q after the copy = %v, want %v", by, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wf2 := *wf
	wf2.WorkflowID, wf2.Version, wf2.Seq = "wf:default:copy-check#sha256:cd", 2, 0
	next := &cairn.Run{RunID: "wr-after-copy", Tenant: "default", Status: cairn.RunCancelled, StartedBy: "agent-1", CreatedAt: time.Now(), UpdatedAt: time.Now(), WorkflowID: wf2.WorkflowID}
	err = s.Update(ctx, func(tx cairn.Tx) error {
		if err := tx.InsertWorkflow(&wf2); err != nil {
			return err
		}
		if err := tx.InsertRun(next); err != nil {
			return err
		}
		r, err := tx.GetRun("default", "wr-copy")
		if err != nil {
			return err
		}
		r.Status, r.WakeAt = cairn.RunCancelled, nil
		return tx.UpdateRun(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if wf2.Seq <= wf.Seq || next.Seq <= runsBefore[0].Seq {
		t.Fatalf("seqs after the copy: workflow %d (copied %d), run %d (copied up to %d)", wf2.Seq, wf.Seq, next.Seq, runsBefore[0].Seq)
	}
}
