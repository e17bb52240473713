package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
)

// maxLeaseBatch is the most jobs one lease call may ask for.
const maxLeaseBatch = 100

// ReceiptInvalid is the error a Worker completes a job with when
// VerifyReceipt rejects the job's dispatch receipt.
const ReceiptInvalid = "receipt_invalid"

// Handler runs one leased job and returns its result, which must be JSON
// (nil sends no result). An error completes the job as failed with the
// error's message.
type Handler func(ctx context.Context, job *cairn.LeasedJob) (result json.RawMessage, err error)

// Worker leases jobs for Actions and runs them with Handler, Concurrency at
// a time, completing each one. Its zero optional fields get defaults.
type Worker struct {
	Client   *Client
	WorkerID string   // default: <hostname>-<pid>
	Actions  []string // action globs, e.g. "db.*"
	Handler  Handler

	Concurrency int // jobs run at once; default 1
	WaitMS      int // long-poll wait per lease call; default 20000
	LeaseMS     int // lease duration asked for; 0 = the server's default

	// VerifyReceipt, if set, checks a job's dispatch receipt before the job
	// runs. When it fails the job does not run: it is completed as failed
	// with error "receipt_invalid".
	VerifyReceipt func(*cairn.LeasedJob) error

	// Logf, if set, receives one line per lease error and per completed
	// job. Lines name jobs by id; they never contain inputs, results or keys.
	Logf func(format string, args ...any)

	// CompleteTimeout bounds the completion call; default 30s.
	CompleteTimeout time.Duration
}

// Run leases and runs jobs until ctx ends, then waits for the jobs in
// flight and returns nil. It returns early with the error if the server
// refuses the worker for good (401, 403, 400 and other 4xx answers except
// 408 and 429); transport errors and 5xx answers are retried with backoff.
//
// A handler whose job was interrupted by ctx ending is not completed: its
// lease expires and the server returns the job to the queue. A handler that
// finished is completed even while the worker shuts down.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.validate(); err != nil {
		return err
	}
	wait := w.WaitMS
	if wait <= 0 {
		wait = 20000
	}
	l := &leaseSlots{n: max(w.Concurrency, 1)}
	l.sem = make(chan struct{}, l.n)
	idle := min(time.Duration(wait)*time.Millisecond, time.Second)
	id := w.workerID()
	defer l.wg.Wait()
	failures := 0
	for {
		free, ok := l.acquire(ctx)
		if !ok {
			return nil
		}
		start := time.Now()
		resp, err := w.Client.Lease(ctx, cairn.LeaseRequest{
			WorkerID: id, Actions: w.Actions, Max: free, WaitMS: wait, LeaseMS: w.LeaseMS,
		})
		if err != nil {
			l.release(free)
			if ctx.Err() != nil {
				return nil
			}
			if fatalLeaseError(err) {
				return fmt.Errorf("cairn worker: lease: %w", err)
			}
			failures++
			d := w.Client.delay(min(failures-1, 5), 0)
			w.logf("lease failed (retrying in %s): %v", d.Round(time.Millisecond), err)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		failures = 0
		w.dispatch(ctx, l, resp.Jobs, free)
		if len(resp.Jobs) == 0 && time.Since(start) < idle/4 {
			// The server did not long-poll; do not spin.
			if !sleep(ctx, idle) {
				return nil
			}
		}
	}
}

// validate checks the worker's required fields.
func (w *Worker) validate() error {
	if w.Client == nil {
		return errors.New("cairn worker: Client is nil")
	}
	if w.Handler == nil {
		return errors.New("cairn worker: Handler is nil")
	}
	if len(w.Actions) == 0 {
		return errors.New("cairn worker: no Actions to lease")
	}
	return nil
}

// workerID is WorkerID, or host name and process id.
func (w *Worker) workerID() string {
	if w.WorkerID != "" {
		return w.WorkerID
	}
	h, _ := os.Hostname()
	if h == "" {
		h = "worker"
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}

// leaseSlots bounds the jobs in flight: a slot is held from the lease that
// asks for a job until its handler is done.
type leaseSlots struct {
	n   int
	sem chan struct{}
	wg  sync.WaitGroup
}

// acquire holds at least one slot, then takes every other free one (up to
// maxLeaseBatch); ok is false when ctx ends first.
func (l *leaseSlots) acquire(ctx context.Context) (free int, ok bool) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	free = 1
	for free < l.n && free < maxLeaseBatch {
		select {
		case l.sem <- struct{}{}:
			free++
		default:
			return free, true
		}
	}
	return free, true
}

func (l *leaseSlots) release(k int) {
	for range k {
		<-l.sem
	}
}

// dispatch runs the leased jobs, each in its slot, and frees the slots
// leased for nothing.
func (w *Worker) dispatch(ctx context.Context, l *leaseSlots, jobs []*cairn.LeasedJob, free int) {
	if len(jobs) < free {
		l.release(free - len(jobs))
	}
	for i, job := range jobs {
		if job == nil {
			if i < free {
				l.release(1)
			}
			continue
		}
		if i >= free {
			// The server handed out more than asked for: run them
			// anyway rather than let their leases lapse.
			l.sem <- struct{}{}
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.release(1)
			w.process(ctx, job)
		}()
	}
}

func (w *Worker) process(ctx context.Context, job *cairn.LeasedJob) {
	req := cairn.CompleteRequest{LeaseID: job.LeaseID}
	if w.VerifyReceipt != nil {
		if err := w.VerifyReceipt(job); err != nil {
			w.logf("job %s: receipt rejected: %v", job.JobID, err)
			req.Status, req.Error = "failed", ReceiptInvalid
			w.complete(ctx, job, req)
			return
		}
	}
	res, err := w.handle(ctx, job)
	switch {
	case err != nil && ctx.Err() != nil:
		w.logf("job %s: interrupted by shutdown; its lease will expire and it will be re-queued", job.JobID)
		return
	case err != nil:
		req.Status, req.Error = "failed", truncate(err.Error(), 4096)
	case len(res) > 0 && !json.Valid(res):
		req.Status, req.Error = "failed", "handler returned a result that is not valid JSON"
	default:
		req.Status, req.Result = "succeeded", res
	}
	w.complete(ctx, job, req)
}

// handle runs the handler, turning a panic into an error.
func (w *Worker) handle(ctx context.Context, job *cairn.LeasedJob) (res json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return w.Handler(ctx, job)
}

func (w *Worker) complete(ctx context.Context, job *cairn.LeasedJob, req cairn.CompleteRequest) {
	d := w.CompleteTimeout
	if d <= 0 {
		d = 30 * time.Second
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	if _, err := w.Client.CompleteJob(cctx, job.JobID, req); err != nil {
		w.logf("job %s: complete %s failed: %v", job.JobID, req.Status, err)
		return
	}
	w.logf("job %s: %s", job.JobID, req.Status)
}

func (w *Worker) logf(format string, args ...any) {
	if w.Logf != nil {
		w.Logf(format, args...)
	}
}

func fatalLeaseError(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	if e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests {
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
