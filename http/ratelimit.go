package http

import (
	"math"
	"strconv"
	"sync"
	"time"

	nethttp "net/http"

	"golang.org/x/time/rate"

	"github.com/cairnhq/cairn"
)

// SetRateLimit limits every principal (tenant and principal id, across its
// keys) to perSecond authenticated requests a second on average, with
// bursts of up to burst. A request over the limit is refused before it does
// anything: 429 too_many_requests with Retry-After, safe to retry.
// perSecond <= 0 turns the limit off (the default).
func (s *Server) SetRateLimit(perSecond float64, burst int) {
	if perSecond <= 0 {
		s.limits = nil
		return
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	s.limits = &principalLimits{every: rate.Limit(perSecond), burst: burst, m: map[string]*principalLimit{}}
}

// maxTrackedPrincipals bounds the limiter map; past it, principals idle for
// a minute (whose buckets are full again) are forgotten, and if that is not
// enough, a tenth of the others.
const maxTrackedPrincipals = 100_000

type principalLimits struct {
	every rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*principalLimit
}

type principalLimit struct {
	lim  *rate.Limiter
	last time.Time
}

// allow takes a token for p, or says how long until one is available.
func (l *principalLimits) allow(p cairn.Principal, now time.Time) (bool, time.Duration) {
	k := p.Tenant + "\x00" + p.ID
	l.mu.Lock()
	e := l.m[k]
	if e == nil {
		if len(l.m) >= maxTrackedPrincipals {
			for id, old := range l.m {
				if now.Sub(old.last) > time.Minute {
					delete(l.m, id)
				}
			}
			// Still full of active principals: forget some at random (map
			// order), so the next sweeps are far apart. They start again
			// with a full bucket.
			for id := range l.m {
				if len(l.m) < maxTrackedPrincipals*9/10 {
					break
				}
				delete(l.m, id)
			}
		}
		e = &principalLimit{lim: rate.NewLimiter(l.every, l.burst)}
		l.m[k] = e
	}
	e.last = now
	r := e.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if wait > 0 {
		r.CancelAt(now) // refused: it takes no token
	}
	l.mu.Unlock()
	return wait == 0, wait
}

// refuseOverLimit answers 429 when p is over its rate limit.
func (s *Server) refuseOverLimit(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) bool {
	l := s.limits
	if l == nil {
		return false
	}
	ok, wait := l.allow(p, time.Now())
	if ok {
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, cairn.Errorf(429, cairn.ETooMany, "rate limit of %g requests a second for principal %q exceeded; retry after %d s", float64(l.every), p.ID, secs))
	return true
}

// SetMaxInflight bounds the authenticated API requests the server works on
// at once (long-polling leases included); past it a request is refused at
// once with 503 unavailable and Retry-After: 1, before authentication and
// before doing anything, so clients may retry it. n <= 0 means no bound
// (the default). Call before serving.
func (s *Server) SetMaxInflight(n int) {
	s.maxInflight = int64(max(n, 0))
}

// admit counts a request in, or refuses it when the server is at its bound.
func (s *Server) admit(w nethttp.ResponseWriter, r *nethttp.Request) bool {
	if s.maxInflight == 0 {
		return true
	}
	if s.inflight.Add(1) <= s.maxInflight {
		return true
	}
	s.inflight.Add(-1)
	w.Header().Set("Retry-After", "1")
	s.writeError(w, r, cairn.Errorf(503, cairn.EUnavailable, "the server is at its limit of %d requests in flight; retry shortly", s.maxInflight))
	return false
}
