package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/serve"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// benchOptions are the flags of cairn bench.
type benchOptions struct {
	Target     string
	Data       string
	Clients    int
	Duration   time.Duration
	Rate       int
	Seed       int
	Queries    int
	CPUProfile string
	Store      string
	CSV        string
	Interval   time.Duration
	Judge      string
	Load       int

	g *clientOptions
}

const benchLong = `bench measures, over HTTP on loopback:

  submit     durable POST /api/v1/jobs on the ALLOW path with --clients
             concurrent clients for --duration (throughput, p50/p99), or at a
             fixed --rate (submits/s) to measure latency under a given load;
  audit      the five audit queries after seeding --seed jobs (p50/p99 each),
             while --load submits/s continue (default none);
  soak       a mixed load (ALLOW, DENY and REQUIRE_APPROVAL submits,
             approvals, leases, completions, the five audit queries and
             evidence exports) at --rate ops/s (default 100) for --duration,
             with a row every --interval (default 1m): the server's RSS,
             goroutines, open descriptors, WAL and database size, p99 per
             operation kind and errors. It ends with the table (--csv FILE
             writes it as CSV) and fails unless there were no errors and
             RSS, goroutines and descriptors were flat after warm-up;
             --judge FILE gives the verdict on a recorded CSV.

With no --target it starts its own server on a fresh embedded store in a
temporary directory (or --data), or on --store (a postgres:// URL of an
empty database or schema), so the figures include durable commits; when
that server has stopped, submit and audit print the store's bytes at rest
per job, in all and table by table (embedded: the database file and WAL
after the graceful stop's checkpoint; PostgreSQL: pg_total_relation_size
of the schema's tables).
soak starts it as a separate cairn serve process (on --store, if given, a
postgres:// URL of an empty database) so that it measures the server alone.
With --target, soak reads the resources from the server's /metrics and the
WAL size from --data (its data directory) or the database size from --store.`

func newBenchCmd(g *clientOptions) *cobra.Command {
	o := &benchOptions{g: g}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a Cairn server: durable submits and the five audit queries",
		Long:  benchLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "base URL of a running server (default: start one); its admin key from --key/CAIRN_KEY")
	f.StringVar(&o.Data, "data", "", "data directory for the server bench starts (default: a new temporary directory)")
	f.IntVar(&o.Clients, "clients", 32, "concurrent clients")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to submit")
	f.IntVar(&o.Rate, "rate", 0, "fixed submit rate per second (0: as fast as the clients go)")
	f.IntVar(&o.Seed, "seed", 100000, "jobs to seed before the audit benchmark")
	f.IntVar(&o.Queries, "queries", 2000, "requests per audit query")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run (server included when bench starts it)")
	f.StringVar(&o.Store, "store", "", "the store of the server bench starts (a postgres:// URL of an empty database or schema; default the embedded store)")
	f.IntVar(&o.Load, "load", 0, "audit: submits per second that continue while the queries are measured (0: none)")
	f.StringVar(&o.CSV, "csv", "", "soak: also write the per-interval table to this CSV file")
	f.DurationVar(&o.Interval, "interval", time.Minute, "soak: one row of the table per interval")
	f.StringVar(&o.Judge, "judge", "", "soak: judge a recorded --csv FILE instead of running a soak")
	return cmd
}

// run runs the named benchmark.
func (o *benchOptions) run(ctx context.Context, name string, out io.Writer) error {
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if name == "soak" {
		return o.soak(ctx, out)
	}
	if name != "submit" && name != "audit" {
		return fmt.Errorf("unknown benchmark %q: use submit, audit or soak", name)
	}
	base, key, stop, err := o.target(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if name == "submit" {
		return o.submit(ctx, base, key)
	}
	return o.audit(ctx, base, key)
}

const benchPolicy = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver], expires_in: 720h}
  - id: reads-are-fine
    match: {actions: ["db.read", "http.get"]}
    decision: ALLOW
    reason: Read-only actions
`

// target is the server to measure: --target, or a server started in this
// process on the embedded store under --data (or a temporary directory)
// and a loopback port this function binds.
func (o *benchOptions) target(ctx context.Context) (string, string, func(), error) {
	if o.Target != "" {
		key, err := o.g.resolveKey()
		return o.Target, key, func() {}, err
	}
	dir := o.Data
	cleanup := func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			return "", "", nil, err
		}
		dir = d
		cleanup = func() { os.RemoveAll(d) }
	}
	store, err := o.openBenchStore(ctx, dir)
	if err != nil {
		cleanup()
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		cleanup()
		return "", "", nil, err
	}
	cfg := serve.DefaultConfig()
	cfg.DataDir, cfg.LogLevel, cfg.Listener, cfg.OpenedStore = dir, "error", ln, store
	cfg.AdminKey = "cairn_bench_admin_key_00000000"
	if os.Getenv("GOGC") == "" {
		cfg.GCPercent = serve.DefaultGCPercent
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve.Run(sctx, cfg) }()
	base := "http://" + ln.Addr().String()
	waitReady(base)
	fmt.Fprintf(os.Stderr, "bench: server on %s, %s store, data %s\n", base, serve.StoreName(o.benchServeStore()), dir)
	return base, cfg.AdminKey, func() {
		if ls, ok := store.(*sqlite.Store); ok {
			printStoreStats(ls.Stats())
		}
		cancel()
		<-done
		store.Close()
		o.atRest(ctx, dir)
		cleanup()
	}, nil
}

// waitReady waits up to 5 s for base/readyz to answer 200.
func waitReady(base string) {
	for i := 0; i < 200; i++ {
		resp, err := nethttp.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// printStoreStats prints how the embedded store batched its commits.
func printStoreStats(st sqlite.Stats) {
	if st.Batches == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "bench: store wrote %d updates in %d transactions (%.1f per commit); per commit %s running updates, %s committing\n",
		st.Ops, st.Batches, float64(st.Ops)/float64(st.Batches), (st.Work / time.Duration(st.Batches)).Round(time.Microsecond), (st.Commit / time.Duration(st.Batches)).Round(time.Microsecond))
}

type benchClient struct {
	base, key string
	hc        *nethttp.Client
}

func newBenchClient(base, key string, conns int) *benchClient {
	tr := &nethttp.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: time.Minute}
	return &benchClient{base: base, key: key, hc: &nethttp.Client{Transport: tr, Timeout: time.Minute}}
}

func (c *benchClient) do(method, path string, body []byte, out any) (int, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, _ := nethttp.NewRequest(method, c.base+path, r)
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

func benchSetup(c *benchClient) (agentKey, approverKey string, err error) {
	raw, _ := json.Marshal(cairn.PublishRequest{Bundle: benchPolicy, Message: "bench"})
	if _, err := c.do("POST", "/api/v1/policy/publish", raw, nil); err != nil {
		return "", "", err
	}
	var k cairn.CreatedKey
	raw, _ = json.Marshal(cairn.CreateKeyRequest{Principal: fmt.Sprintf("bench-agent-%d", time.Now().UnixNano()), Kind: "agent", Roles: []string{"agent"}})
	if _, err := c.do("POST", "/api/v1/keys", raw, &k); err != nil {
		return "", "", err
	}
	return k.Key, "", nil
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	i := int(float64(len(l.d)-1) * p)
	return l.d[i]
}

func (o *benchOptions) submit(ctx context.Context, base, key string) error {
	admin := newBenchClient(base, key, 1)
	agentKey, _, err := benchSetup(admin)
	if err != nil {
		return err
	}
	c := newBenchClient(base, agentKey, o.Clients)
	var n, fails atomic.Int64
	var lat latencies
	prefix := fmt.Sprintf("b%d", time.Now().UnixNano())
	deadline := time.Now().Add(o.Duration)
	var tick <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(o.Rate))
		defer t.Stop()
		tick = t.C
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.Clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				if tick != nil {
					select {
					case <-tick:
					case <-ctx.Done():
						return
					}
				}
				body := fmt.Sprintf(`{"job_id":"%s-%d-%d","run_id":"%s-run-%d-%d","action":"db.read","resource":"orders","labels":{"env":"prod"},"input":%s}`, prefix, w, i, prefix, w, i/100, benchInput(w*1000003+i))
				t0 := time.Now()
				_, err := c.do("POST", "/api/v1/jobs", []byte(body), nil)
				lat.add(time.Since(t0))
				if err != nil {
					fails.Add(1)
					continue
				}
				n.Add(1)
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	mode := "max throughput"
	if o.Rate > 0 {
		mode = fmt.Sprintf("fixed rate %d/s", o.Rate)
	}
	fmt.Printf("submit (%s, ALLOW path, %d clients, %s): %d ok, %d failed, %.0f durable submits/s, p50 %s, p99 %s, max %s\n",
		mode, o.Clients, el.Round(time.Millisecond), n.Load(), fails.Load(), float64(n.Load())/el.Seconds(),
		lat.pct(0.50).Round(time.Microsecond), lat.pct(0.99).Round(time.Microsecond), lat.pct(1).Round(time.Microsecond))
	return nil
}

// benchInput is the input of the n-th ALLOW job the submit benchmarks send:
// a database query with its reason, about 260 bytes of JSON (issue 14's
// load shape), whose numbers vary from job to job as real inputs do.
func benchInput(n int) string {
	customer := 1000 + n%977*613
	return fmt.Sprintf(`{"query":"SELECT id, status, total_cents, created_at FROM orders WHERE customer_id = %d AND status IN ('open', 'shipped') ORDER BY created_at DESC LIMIT %d","reason":"summarise recent orders of customer %d for ticket T-%d","max_rows":%d}`,
		customer, 20+n%31, customer, 10000+n%89999, 20+n%31)
}

func (o *benchOptions) audit(ctx context.Context, base, key string) error {
	admin := newBenchClient(base, key, 4)
	agentKey, _, err := benchSetup(admin)
	if err != nil {
		return err
	}
	// Seed: mostly ALLOW, every 10th a pending approval, runs of 20 jobs.
	agent := newBenchClient(base, agentKey, 16)
	prefix := fmt.Sprintf("s%d", time.Now().UnixNano())
	var seeded atomic.Int64
	var wg sync.WaitGroup
	perWorker := o.Seed / 16
	t0 := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker && ctx.Err() == nil; i++ {
				action := "db.read"
				if i%10 == 0 {
					action = "db.write"
				}
				body := fmt.Sprintf(`{"job_id":"%s-%d-%d","run_id":"%s-%d-%d","action":"%s","labels":{"env":"prod"},"input":{"n":%d}}`, prefix, w, i, prefix, w, i/20, action, i)
				if _, err := agent.do("POST", "/api/v1/jobs", []byte(body), nil); err == nil {
					seeded.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	fmt.Printf("seeded %d jobs in %s\n", seeded.Load(), time.Since(t0).Round(time.Millisecond))
	jobID := fmt.Sprintf("%s-7-%d", prefix, perWorker/2)
	runID := fmt.Sprintf("%s-7-%d", prefix, perWorker/40)
	queries := []struct{ name, path string }{
		{"1 GET /jobs/{id}", "/api/v1/jobs/" + jobID},
		{"2 GET /jobs/{id}/decisions", "/api/v1/jobs/" + jobID + "/decisions"},
		{"3 GET /approvals (pending, 100)", "/api/v1/approvals?include_resolved=false"},
		{"4 GET /workflow-runs/{id}/timeline", "/api/v1/workflow-runs/" + runID + "/timeline?limit=200"},
		{"5 GET /policy/audit", "/api/v1/policy/audit"},
		{"  GET /jobs/{id}/evidence", "/api/v1/jobs/" + jobID + "/evidence"},
	}
	stopLoad := auditLoad(ctx, newBenchClient(base, agentKey, 32), o.Load)
	defer stopLoad()
	for _, q := range queries {
		var lat latencies
		for i := 0; i < o.Queries; i++ {
			t := time.Now()
			if _, err := admin.do("GET", q.path, nil, nil); err != nil {
				return err
			}
			lat.add(time.Since(t))
		}
		fmt.Printf("%-38s p50 %8s  p99 %8s  (%d requests, %d jobs in store)\n", q.name, lat.pct(0.5).Round(time.Microsecond), lat.pct(0.99).Round(time.Microsecond), o.Queries, seeded.Load())
	}
	if s := stopLoad(); s != "" {
		fmt.Println(s)
	}
	return nil
}
