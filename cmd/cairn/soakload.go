package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
)

// The operation kinds of the mixed load, in the order tables print them.
const (
	opSubmit   = "submit"
	opApprove  = "approve"
	opLease    = "lease"
	opComplete = "complete"
	opQuery    = "query"
	opExport   = "export"
)

var opKinds = []string{opSubmit, opApprove, opLease, opComplete, opQuery, opExport}

// soakCycle is one round of the mixed load (20 operations): submits that
// the soak policy ALLOWs (a), DENYs (d) and sends for approval (r), approvals
// (p), leases of up to three jobs (l), completions of one lease's jobs (c),
// the five audit queries in turn (q) and an evidence export of a job (e).
// Six jobs a round become runnable and three leases take up to nine, so the
// queue does not grow.
const soakCycle = "aaaadrrppllcccqqqqe"

// soakPolicy decides the soak's submits: db.read ALLOW, db.write in prod
// REQUIRE_APPROVAL, anything else (payments.transfer) DENY by default.
const soakPolicy = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver], expires_in: 720h}
  - id: reads-are-fine
    match: {actions: ["db.read"]}
    decision: ALLOW
    reason: Read-only actions
`

// soakKeys are the principals of the mixed load.
type soakKeys struct{ agent, approver, worker, auditor string }

// setupSoak publishes the soak policy and creates the load's keys with the
// admin client.
func setupSoak(ctx context.Context, admin *client.Client) (soakKeys, error) {
	var k soakKeys
	if _, err := admin.PublishPolicy(ctx, cairn.PublishRequest{Bundle: soakPolicy, Message: "soak"}); err != nil {
		return k, fmt.Errorf("publish soak policy: %w", err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	for _, s := range []struct {
		dst              *string
		name, kind, role string
	}{{&k.agent, "soak-agent", "agent", "agent"}, {&k.approver, "soak-approver", "human", "approver"},
		{&k.worker, "soak-worker", "service", "worker"}, {&k.auditor, "soak-auditor", "human", "auditor"}} {
		ck, err := admin.CreateKey(ctx, cairn.CreateKeyRequest{Principal: s.name + "-" + suffix, Kind: s.kind, Roles: []string{s.role}})
		if err != nil {
			return k, fmt.Errorf("create %s key: %w", s.role, err)
		}
		*s.dst = ck.Key
	}
	return k, nil
}

// mixedLoad drives the mixed workload against one base URL (or, through
// its HTTP client, a balancer) and records latencies, errors and every
// acknowledged submit. It is safe for concurrent use.
type mixedLoad struct {
	agent, approver, worker, auditor *client.Client
	hc                               *nethttp.Client
	base, auditorKey                 string
	prefix                           string

	seq      atomic.Int64
	pending  chan *cairn.Job         // REQUIRE_APPROVAL jobs to approve
	leased   chan []*cairn.LeasedJob // leases to complete
	recentMu sync.Mutex
	recent   *cairn.Job // a recently submitted job, for queries and exports

	mu     sync.Mutex
	lat    map[string][]time.Duration // since the last take
	errs   int
	errMsg []string
	acked  map[string]string // job_id → state answered
}

// newMixedLoad returns a load with clients for keys on base, all sending
// through hc (nil: a default client). retries bounds each client's
// retries of retryable failures.
func newMixedLoad(base string, keys soakKeys, hc *nethttp.Client, retries int) *mixedLoad {
	if hc == nil {
		tr := &nethttp.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
		hc = &nethttp.Client{Transport: tr, Timeout: time.Minute}
	}
	opts := []client.Option{client.WithHTTPClient(hc), client.WithRetries(retries), client.WithBackoff(50*time.Millisecond, time.Second)}
	return &mixedLoad{
		agent:      client.New(base, keys.agent, opts...),
		approver:   client.New(base, keys.approver, opts...),
		worker:     client.New(base, keys.worker, opts...),
		auditor:    client.New(base, keys.auditor, opts...),
		hc:         hc,
		base:       base,
		auditorKey: keys.auditor,
		prefix:     fmt.Sprintf("soak%d", time.Now().UnixNano()),
		pending:    make(chan *cairn.Job, 4096),
		leased:     make(chan []*cairn.LeasedJob, 4096),
		lat:        map[string][]time.Duration{},
		acked:      map[string]string{},
	}
}

// run performs the operation that position i of soakCycle names.
func (m *mixedLoad) run(ctx context.Context, i int64) {
	switch soakCycle[int(i)%len(soakCycle)] {
	case 'a':
		m.submit(ctx, "db.read", "prod")
	case 'd':
		m.submit(ctx, "payments.transfer", "prod")
	case 'r':
		m.submit(ctx, "db.write", "prod")
	case 'p':
		m.approve(ctx)
	case 'l':
		m.lease(ctx)
	case 'c':
		m.complete(ctx)
	case 'q':
		m.query(ctx, i/int64(len(soakCycle)))
	case 'e':
		m.export(ctx)
	}
}

// timed runs f, records its latency under kind and counts its error.
func (m *mixedLoad) timed(kind string, f func() error) error {
	t0 := time.Now()
	err := f()
	d := time.Since(t0)
	m.mu.Lock()
	m.lat[kind] = append(m.lat[kind], d)
	if err != nil {
		m.errs++
		if len(m.errMsg) < 20 {
			m.errMsg = append(m.errMsg, fmt.Sprintf("%s: %v", kind, err))
		}
	}
	m.mu.Unlock()
	return err
}

func (m *mixedLoad) submit(ctx context.Context, action, env string) {
	n := m.seq.Add(1)
	req := cairn.SubmitRequest{
		JobID:  fmt.Sprintf("%s-%d", m.prefix, n),
		RunID:  fmt.Sprintf("%s-run-%d", m.prefix, n/20),
		Action: action, Resource: "orders", Labels: map[string]string{"env": env},
		Input: json.RawMessage(fmt.Sprintf(`{"query":"SELECT * FROM orders WHERE id = %d","amount":%d}`, n, n%50000)),
	}
	var job *cairn.Job
	err := m.timed(opSubmit, func() (err error) {
		job, err = m.agent.SubmitJob(ctx, req)
		return err
	})
	if err != nil {
		return
	}
	m.mu.Lock()
	m.acked[job.JobID] = job.State
	m.mu.Unlock()
	m.recentMu.Lock()
	m.recent = job
	m.recentMu.Unlock()
	if job.State == cairn.StatePendingApproval {
		select {
		case m.pending <- job:
		default:
		}
	}
}

func (m *mixedLoad) approve(ctx context.Context) {
	select {
	case job := <-m.pending:
		m.timed(opApprove, func() error {
			_, err := m.approver.Approve(ctx, job.JobID, cairn.ResolveRequest{JobHash: job.JobHash, Comment: "soak"})
			return err
		})
	default:
	}
}

func (m *mixedLoad) lease(ctx context.Context) {
	var lr *cairn.LeaseResponse
	err := m.timed(opLease, func() (err error) {
		lr, err = m.worker.Lease(ctx, cairn.LeaseRequest{WorkerID: "soak-worker", Actions: []string{"db.*"}, Max: 3, LeaseMS: 300000})
		return err
	})
	if err != nil || len(lr.Jobs) == 0 {
		return
	}
	select {
	case m.leased <- lr.Jobs:
	default:
	}
}

func (m *mixedLoad) complete(ctx context.Context) {
	select {
	case jobs := <-m.leased:
		for _, j := range jobs {
			m.timed(opComplete, func() error {
				_, err := m.worker.CompleteJob(ctx, j.JobID, cairn.CompleteRequest{LeaseID: j.LeaseID, Status: "succeeded", Result: json.RawMessage(`{"rows":1}`)})
				return err
			})
		}
	default:
	}
}

// query sends the k-th of the five audit queries (in turn) about the
// most recent job.
func (m *mixedLoad) query(ctx context.Context, k int64) {
	m.recentMu.Lock()
	job := m.recent
	m.recentMu.Unlock()
	if job == nil {
		return
	}
	idx := (k*4 + m.seq.Load()) % 5
	m.timed(opQuery, func() error {
		var err error
		switch idx {
		case 0:
			_, err = m.auditor.GetJob(ctx, job.JobID)
		case 1:
			_, err = m.auditor.ListDecisions(ctx, job.JobID, client.Page{})
		case 2:
			_, err = m.auditor.ListApprovals(ctx, client.ApprovalFilter{Page: client.Page{Limit: 100}})
		case 3:
			_, err = m.auditor.Timeline(ctx, string(job.RunID), client.TimelineFilter{Page: client.Page{Limit: 200}})
		default:
			_, err = m.auditor.PolicyAudit(ctx, client.AuditFilter{})
		}
		return err
	})
}

// export fetches the evidence export of the most recent job (a GET, so
// retried like one: on transport errors, 429, 502, 503 and 504).
func (m *mixedLoad) export(ctx context.Context) {
	m.recentMu.Lock()
	job := m.recent
	m.recentMu.Unlock()
	if job == nil {
		return
	}
	u := m.base + "/api/v1/evidence/export?job_id=" + url.QueryEscape(job.JobID)
	m.timed(opExport, func() error {
		var last error
		for attempt := 0; attempt < 10; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return last
				case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
				}
			}
			req, _ := nethttp.NewRequestWithContext(ctx, "GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+m.auditorKey)
			resp, err := m.hc.Do(req)
			if err != nil {
				last = err
				continue
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				last = err
			case resp.StatusCode == 200 && n > 0:
				return nil
			case resp.StatusCode == 429 || resp.StatusCode >= 502:
				last = fmt.Errorf("GET evidence/export: %d", resp.StatusCode)
			default:
				return fmt.Errorf("GET evidence/export: %d", resp.StatusCode)
			}
		}
		return last
	})
}

// take returns the latencies and the error count since the last take and
// resets them.
func (m *mixedLoad) take() (map[string][]time.Duration, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lat, errs := m.lat, m.errs
	m.lat, m.errs = map[string][]time.Duration{}, 0
	return lat, errs
}

// errors returns the first error messages seen.
func (m *mixedLoad) errors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.errMsg...)
}

// ackedJobs returns the job ids the server acknowledged, with the state it
// answered.
func (m *mixedLoad) ackedJobs() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.acked))
	for k, v := range m.acked {
		out[k] = v
	}
	return out
}

// drive runs the load at rate operations a second with the given number of
// concurrent senders until ctx ends or stop is closed; it returns once
// every operation in flight finished.
func (m *mixedLoad) drive(ctx context.Context, stop <-chan struct{}, rate, senders int) {
	work := make(chan int64)
	var wg sync.WaitGroup
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				m.run(ctx, i)
			}
		}()
	}
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
loop:
	for i := int64(0); ; i++ {
		select {
		case <-ctx.Done():
			break loop
		case <-stop:
			break loop
		case <-t.C:
		}
		select {
		case work <- i:
		case <-ctx.Done():
			break loop
		case <-stop:
			break loop
		}
	}
	close(work)
	wg.Wait()
}

// p99 is the 99th percentile of ds (0 for none).
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*0.99)]
}

// metricValue reads one unlabelled sample from Prometheus text output.
func metricValue(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}
