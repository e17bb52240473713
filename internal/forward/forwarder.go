package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Forwarder tails the feed and delivers to each sink independently: every
// sink has its own cursor, its own reader and its own retries, so a sink
// that is down holds up no other.
type Forwarder struct {
	Feed      *Feed
	State     *State
	Sinks     []Sink
	BatchSize int
	Wait      time.Duration
	Backoff   Backoff
	Log       *slog.Logger
	Metrics   *Metrics
}

// IntegrityError is a feed answer that must not be delivered: a gap, an
// entry out of order, a body that does not hash to its leaf hash. The
// forwarder stops on it (fail closed).
type IntegrityError struct{ Err error }

func (e *IntegrityError) Error() string { return e.Err.Error() }
func (e *IntegrityError) Unwrap() error { return e.Err }

// Run forwards until ctx ends (then it returns nil) or a sink's cursor
// cannot be recorded or the feed fails its integrity checks.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.BatchSize <= 0 {
		f.BatchSize = 1000
	}
	if f.Backoff == (Backoff{}) {
		f.Backoff = DefaultBackoff
	}
	if f.Log == nil {
		f.Log = slog.Default()
	}
	if f.Metrics == nil {
		f.Metrics = NewMetrics(nil)
	}
	// A key that cannot read the feed is a configuration error: say so at
	// once rather than retry it (later refusals, a key revoked while
	// running, are retried like any failure and show in the lag).
	if _, err := f.Feed.Next(ctx, 0, false, 1, 0); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403) {
			return fmt.Errorf("the API key cannot read the event feed (it needs the auditor or admin role): %w", err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, s := range f.Sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.runSink(ctx, s); err != nil {
				cancel(fmt.Errorf("sink %s: %w", s.Name(), err))
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// fetched is a page read ahead of delivery.
type fetched struct {
	page *Page
	err  error
}

// deliver delivers the page fp to s, retrying with backoff until it
// succeeds; it returns false when ctx ends first. While the sink fails it
// refreshes the page's ledger size, for the lag metrics.
func (f *Forwarder) deliver(ctx context.Context, s Sink, fp *fetched, cursor uint64, has bool) bool {
	name := s.Name()
	recs := fp.page.Records
	last := recs[len(recs)-1].Index
	oldest := recs[0].Time()
	for attempt := 1; ; attempt++ {
		f.Metrics.LagEntries.WithLabelValues(name).Set(float64(lagOf(fp.page.Size, cursor, has)))
		if !oldest.IsZero() {
			f.Metrics.LagSeconds.WithLabelValues(name).Set(max(0, time.Since(oldest).Seconds()))
		}
		err := s.Deliver(ctx, recs)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		f.Metrics.Failures.WithLabelValues(name).Inc()
		// The page's ledger size is stale while the sink is down: ask
		// the feed for the current one (one entry, no wait).
		if p, err := f.Feed.Next(ctx, cursor, has, 1, 0); err == nil && p.Size > fp.page.Size {
			fp.page.Size = p.Size
		}
		d := f.Backoff.Delay(attempt)
		f.Log.Warn("delivery failed; retrying the same batch", "sink", name, "first_index", recs[0].Index, "last_index", last, "attempt", attempt, "retry_in", d.String(), "err", err.Error())
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// runSink delivers to one sink: a reader goroutine fetches the next page
// while the current one is delivered.
func (f *Forwarder) runSink(ctx context.Context, s Sink) error {
	name := s.Name()
	cursor, has := f.State.Cursor(name)
	f.setCursor(name, cursor, has)
	pages := make(chan fetched, 2)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go f.read(rctx, cursor, has, pages)
	for {
		var fp fetched
		select {
		case <-ctx.Done():
			return nil
		case fp = <-pages:
		}
		if fp.err != nil {
			return fp.err // integrity: the reader retries everything else
		}
		recs := fp.page.Records
		if fp.page.Read == 0 {
			f.Metrics.LagEntries.WithLabelValues(name).Set(float64(lagOf(fp.page.Size, cursor, has)))
			f.Metrics.LagSeconds.WithLabelValues(name).Set(0)
			continue
		}
		last := fp.page.Last
		if fp.page.Pruned > 0 {
			f.Log.Info("skipping entries pruned by retention", "sink", name, "pruned", fp.page.Pruned, "through_index", last)
		}
		if len(recs) > 0 && !f.deliver(ctx, s, &fp, cursor, has) {
			return nil
		}
		if err := f.State.Advance(name, last); err != nil {
			return fmt.Errorf("recording the cursor after index %d: %w", last, err)
		}
		cursor, has = last, true
		f.setCursor(name, cursor, has)
		f.Metrics.Delivered.WithLabelValues(name).Add(float64(len(recs)))
		f.Metrics.LagEntries.WithLabelValues(name).Set(float64(lagOf(fp.page.Size, cursor, has)))
		if lagOf(fp.page.Size, cursor, has) == 0 {
			f.Metrics.LagSeconds.WithLabelValues(name).Set(0)
		}
	}
}

func (f *Forwarder) setCursor(name string, cursor uint64, has bool) {
	if has {
		f.Metrics.Cursor.WithLabelValues(name).Set(float64(cursor))
	} else {
		f.Metrics.Cursor.WithLabelValues(name).Set(-1)
	}
}

// lagOf is how many entries of a ledger of size entries come after the
// cursor.
func lagOf(size, cursor uint64, has bool) uint64 {
	next := uint64(0)
	if has {
		next = cursor + 1
	}
	if size <= next {
		return 0
	}
	return size - next
}

// read fetches pages after the cursor into out, retrying transport
// failures with backoff; an integrity failure is sent and ends it.
func (f *Forwarder) read(ctx context.Context, cursor uint64, has bool, out chan<- fetched) {
	for attempt := 0; ; {
		page, err := f.Feed.Next(ctx, cursor, has, f.BatchSize, f.Wait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ie *IntegrityError
			if errors.As(err, &ie) {
				select {
				case out <- fetched{err: err}:
				case <-ctx.Done():
				}
				return
			}
			attempt++
			d := f.Backoff.Delay(attempt)
			f.Log.Warn("reading the event feed failed; retrying", "after", cursor, "attempt", attempt, "retry_in", d.String(), "err", err.Error())
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		attempt = 0
		select {
		case out <- fetched{page: page}:
		case <-ctx.Done():
			return
		}
		if page.Read > 0 {
			cursor, has = page.Last, true
		}
	}
}
