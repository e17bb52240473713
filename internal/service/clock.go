package service

import (
	"time"

	"github.com/cairnhq/cairn"
)

// Clock is where a Service reads the time: every timestamp it records and
// every deadline it compares (approval, gate, lease, run and retry
// deadlines, the key cache's freshness) is read from it. It returns UTC.
// The stores take the time from the caller. Waits (the expiry loop's
// timer, a lease's long poll, the policy and checkpoint tickers) run on
// real time: they only decide when to look again, never what is due (ADR
// 0043).
type Clock func() time.Time

// SetClock replaces the service's clock (cairn.Now by default). Call it
// before Start and before the service serves anything; tests use it to
// move time by hand.
func (s *Service) SetClock(c Clock) {
	if c == nil {
		c = cairn.Now
	}
	s.clock = c
}

// now is the service's current time.
func (s *Service) now() time.Time { return s.clock() }
