package main

import (
	"context"
	"errors"
	"net"
	nethttp "net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
)

// lbTransport sends each request to a ready replica of the balancer. A
// request whose connection could not be made was not sent, so it is tried
// on another replica whatever its method; everything else is the Go
// client's to retry (it resends only what is safe).
type lbTransport struct {
	b  *balancer
	rt nethttp.RoundTripper
}

func (t *lbTransport) RoundTrip(req *nethttp.Request) (*nethttp.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		host := strings.TrimPrefix(t.b.pick(), "http://")
		r.URL.Host, r.Host = host, host
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		resp, err := t.rt.RoundTrip(r)
		var op *net.OpError
		if err != nil && errors.As(err, &op) && op.Op == "dial" && attempt < 40 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return resp, err
	}
}

// TestRollingRestartMixedLoad restarts three PostgreSQL replicas in turn
// with --drain under the soak's mixed load (ALLOW, DENY and
// REQUIRE_APPROVAL submits, approvals, leases, completions, the five audit
// queries, evidence exports) sent through the Go client, which retries
// what is retryable. No request fails; every acknowledged job exists
// exactly once and was submitted once; the ledger verifies on every
// replica.
func TestRollingRestartMixedLoad(t *testing.T) {
	c := newCluster(t, 3, "--drain", "1s")
	ctx := context.Background()
	keys, err := setupSoak(ctx, client.New(c.procs[0].base, testAdminKey))
	if err != nil {
		t.Fatal(err)
	}
	lb := newBalancer(c)
	defer close(lb.stop)
	hc := &nethttp.Client{Timeout: 30 * time.Second, Transport: &lbTransport{b: lb, rt: &nethttp.Transport{MaxIdleConnsPerHost: 16}}}
	load := newMixedLoad("http://cairn-replicas", keys, hc, 10)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { load.drive(ctx, stop, 60, 8); close(done) }()
	ops := map[string]int{}
	count := func() {
		lat, _ := load.take()
		for k, ds := range lat {
			ops[k] += len(ds)
		}
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
	<-done
	count()
	if errs := load.errors(); len(errs) > 0 {
		for _, e := range errs {
			t.Error(e)
		}
		t.Fatalf("requests failed during the rolling restart")
	}
	for _, k := range opKinds {
		if ops[k] == 0 {
			t.Errorf("no %s request during the rolling restart", k)
		}
	}
	t.Logf("during the rolling restart: %v requests, none failed", ops)

	// Every acknowledged job exists exactly once, in the state it was
	// acknowledged in or one it moves to.
	acked := load.ackedJobs()
	auditor := client.New(c.procs[1].base, keys.auditor)
	stored := map[string]int{}
	for j, err := range auditor.AllJobs(ctx, client.JobFilter{Page: client.Page{Limit: 1000}}) {
		if err != nil {
			t.Fatal(err)
		}
		stored[j.JobID]++
		if a, ok := acked[j.JobID]; ok && a == cairn.StateDenied && j.State != cairn.StateDenied {
			t.Errorf("job %s was denied, now %s", j.JobID, j.State)
		}
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged job %s is stored %d times", id, stored[id])
		}
	}
	for id, n := range stored {
		if _, ok := acked[id]; !ok || n != 1 {
			t.Errorf("job %s stored %d times, acknowledged %v", id, n, ok)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	bodies := checkCluster(t, c, []int{0, 1, 2}, keys.auditor)
	submits := map[string]int{}
	for _, b := range bodies {
		if b.Event.Type == cairn.EventJobSubmitted && b.Event.JobID != nil {
			submits[*b.Event.JobID]++
		}
	}
	for id := range acked {
		if submits[id] != 1 {
			t.Errorf("job %s has %d job_submitted ledger entries, want 1", id, submits[id])
		}
	}
	t.Logf("%d acknowledged jobs, each stored and submitted once", len(acked))
}
