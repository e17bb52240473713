package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// fakeQueue is a server that leases queued jobs once each and records
// completions.
type fakeQueue struct {
	t         *testing.T
	mu        sync.Mutex
	queue     []string // job ids
	leases    []cairn.LeaseRequest
	completed map[string]cairn.CompleteRequest
	done      chan struct{} // closed when every job is completed
	total     int
	leaseCode int // if set, lease answers this status
}

func newFakeQueue(t *testing.T, ids ...string) *fakeQueue {
	return &fakeQueue{t: t, queue: ids, total: len(ids), completed: map[string]cairn.CompleteRequest{}, done: make(chan struct{})}
}

func (q *fakeQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		q.t.Errorf("%s: Authorization = %q", r.URL.Path, r.Header.Get("Authorization"))
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/v1/workers/lease":
		if q.leaseCode != 0 {
			writeJSON(w, q.leaseCode, `{"error":{"code":"unauthorized","message":"bad key","request_id":"r"}}`)
			return
		}
		var req cairn.LeaseRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			q.t.Error(err)
		}
		q.mu.Lock()
		q.leases = append(q.leases, req)
		n := min(req.Max, len(q.queue))
		ids := q.queue[:n]
		q.queue = q.queue[n:]
		q.mu.Unlock()
		if len(ids) == 0 {
			// Long-poll: wait, then answer empty.
			select {
			case <-r.Context().Done():
			case <-time.After(time.Duration(req.WaitMS) * time.Millisecond):
			}
			writeJSON(w, 200, `{"jobs":[]}`)
			return
		}
		var jobs []*cairn.LeasedJob
		for _, id := range ids {
			jobs = append(jobs, &cairn.LeasedJob{
				JobID: id, Action: "db.read", LeaseID: "lease-" + id, JobHash: "hash-" + id,
				Input: json.RawMessage(fmt.Sprintf(`{"job":%q}`, id)),
			})
		}
		b, _ := json.Marshal(cairn.LeaseResponse{Jobs: jobs})
		writeJSON(w, 200, string(b))
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/api/v1/jobs/") && strings.HasSuffix(r.URL.Path, "/complete"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/jobs/"), "/complete")
		var req cairn.CompleteRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			q.t.Error(err)
		}
		if req.LeaseID != "lease-"+id {
			q.t.Errorf("complete %s with lease %q", id, req.LeaseID)
		}
		q.mu.Lock()
		if _, dup := q.completed[id]; dup {
			q.t.Errorf("job %s completed twice", id)
		}
		q.completed[id] = req
		if len(q.completed) == q.total {
			close(q.done)
		}
		q.mu.Unlock()
		writeJSON(w, 200, fmt.Sprintf(`{"job_id":%q,"state":"SUCCEEDED"}`, id))
	default:
		q.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(404)
	}
}

func runWorker(t *testing.T, q *fakeQueue, w *Worker) {
	t.Helper()
	w.Client = newTest(t, q.ServeHTTP)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	select {
	case <-q.done:
	case err := <-errc:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for completions")
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestWorkerLeaseHandleComplete(t *testing.T) {
	q := newFakeQueue(t, "j1", "j2", "j3")
	var mu sync.Mutex
	var seen []string
	w := &Worker{
		WorkerID: "w-test", Actions: []string{"db.*"}, Concurrency: 2, WaitMS: 50,
		Handler: func(ctx context.Context, job *cairn.LeasedJob) (json.RawMessage, error) {
			mu.Lock()
			seen = append(seen, job.JobID)
			mu.Unlock()
			if job.JobID == "j2" {
				return nil, errors.New("disk full")
			}
			return json.RawMessage(`{"echo":` + string(job.Input) + `}`), nil
		},
	}
	runWorker(t, q, w)
	q.mu.Lock() // a lease call may still be in the fake server
	defer q.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()

	if len(seen) != 3 {
		t.Errorf("handler saw %v", seen)
	}
	if got := q.completed["j1"]; got.Status != "succeeded" || string(got.Result) != `{"echo":{"job":"j1"}}` || got.Error != "" {
		t.Errorf("j1 completion = %+v", got)
	}
	if got := q.completed["j2"]; got.Status != "failed" || got.Error != "disk full" || got.Result != nil {
		t.Errorf("j2 completion = %+v", got)
	}
	first := q.leases[0]
	if first.WorkerID != "w-test" || first.Max != 2 || first.WaitMS != 50 || len(first.Actions) != 1 || first.Actions[0] != "db.*" {
		t.Errorf("first lease = %+v", first)
	}
	for _, l := range q.leases {
		if l.Max < 1 || l.Max > 2 {
			t.Errorf("lease asked for %d jobs with concurrency 2", l.Max)
		}
	}
}

func TestWorkerVerifyReceipt(t *testing.T) {
	q := newFakeQueue(t, "good", "bad")
	ran := map[string]bool{}
	var mu sync.Mutex
	w := &Worker{
		Actions: []string{"*"}, WaitMS: 50,
		VerifyReceipt: func(job *cairn.LeasedJob) error {
			if job.JobID == "bad" {
				return errors.New("leaf hash mismatch")
			}
			return nil
		},
		Handler: func(ctx context.Context, job *cairn.LeasedJob) (json.RawMessage, error) {
			mu.Lock()
			ran[job.JobID] = true
			mu.Unlock()
			return json.RawMessage(`true`), nil
		},
	}
	runWorker(t, q, w)
	q.mu.Lock()
	defer q.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if ran["bad"] || !ran["good"] {
		t.Errorf("ran = %v", ran)
	}
	if got := q.completed["bad"]; got.Status != "failed" || got.Error != "receipt_invalid" {
		t.Errorf("bad completion = %+v", got)
	}
	if got := q.completed["good"]; got.Status != "succeeded" {
		t.Errorf("good completion = %+v", got)
	}
}

func TestWorkerPanicAndInvalidResult(t *testing.T) {
	q := newFakeQueue(t, "p", "x")
	var logs []string
	var mu sync.Mutex
	w := &Worker{
		Actions: []string{"*"}, WaitMS: 50, Concurrency: 2,
		Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
		},
		Handler: func(ctx context.Context, job *cairn.LeasedJob) (json.RawMessage, error) {
			if job.JobID == "p" {
				panic("boom")
			}
			return json.RawMessage(`{not json`), nil
		},
	}
	runWorker(t, q, w)
	q.mu.Lock()
	defer q.mu.Unlock()
	if got := q.completed["p"]; got.Status != "failed" || got.Error != "handler panicked: boom" {
		t.Errorf("p completion = %+v", got)
	}
	if got := q.completed["x"]; got.Status != "failed" || !strings.Contains(got.Error, "not valid JSON") {
		t.Errorf("x completion = %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range logs {
		if strings.Contains(l, `"job":`) || strings.Contains(l, testKey) {
			t.Errorf("log line leaks payload or key: %q", l)
		}
	}
}

func TestWorkerStopsOnAuthError(t *testing.T) {
	q := newFakeQueue(t)
	q.leaseCode = 401
	w := &Worker{
		Client:  newTest(t, q.ServeHTTP),
		Actions: []string{"*"}, WaitMS: 50,
		Handler: func(context.Context, *cairn.LeasedJob) (json.RawMessage, error) { return nil, nil },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.Run(ctx)
	if !IsCode(err, "unauthorized") {
		t.Fatalf("Run = %v, want the 401", err)
	}
}

func TestWorkerInterruptedJobNotCompleted(t *testing.T) {
	q := newFakeQueue(t, "slow")
	started := make(chan struct{})
	w := &Worker{
		Client:  newTest(t, q.ServeHTTP),
		Actions: []string{"*"}, WaitMS: 50,
		Handler: func(ctx context.Context, job *cairn.LeasedJob) (json.RawMessage, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	<-started
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.completed) != 0 {
		t.Errorf("interrupted job was completed: %+v", q.completed)
	}
}

func TestWorkerValidates(t *testing.T) {
	for _, w := range []*Worker{
		{Actions: []string{"*"}, Handler: func(context.Context, *cairn.LeasedJob) (json.RawMessage, error) { return nil, nil }},
		{Client: New("http://x", ""), Actions: []string{"*"}},
		{Client: New("http://x", ""), Handler: func(context.Context, *cairn.LeasedJob) (json.RawMessage, error) { return nil, nil }},
	} {
		if err := w.Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) = nil", w)
		}
	}
}
