package forward

import (
	"context"
	"time"
)

// Sink delivers records to one destination. Deliver returns nil only once
// the destination has acknowledged every record of the batch (what
// acknowledgement means depends on the sink: docs/siem.md); any error means
// the batch is sent again, whole, after a backoff.
type Sink interface {
	// Name is the sink's name in the configuration, the state file, the
	// logs and the metrics.
	Name() string
	Deliver(ctx context.Context, recs []Record) error
	Close() error
}

// Backoff is the delay before the attempt'th retry (1-based): doubling
// from First up to Max.
type Backoff struct {
	First, Max time.Duration
}

// Delay is the delay before retry number attempt.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.First
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// DefaultBackoff is the retry schedule of a failing sink.
var DefaultBackoff = Backoff{First: 100 * time.Millisecond, Max: 30 * time.Second}
