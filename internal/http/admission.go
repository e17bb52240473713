package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	nethttp "net/http"

	"golang.org/x/time/rate"

	"github.com/cairnhq/cairn"
)

// InflightLimits bound the API requests the server works on at once
// (ADR 0015). Zero fields take their defaults; Calls <= 0 means no bound at
// all.
type InflightLimits struct {
	// Calls bounds ordinary requests at once; past it, 503 unavailable.
	Calls int
	// Polls bounds long-polling leases (wait_ms > 0) at once, counted apart
	// from Calls so that waiting workers never crowd out other requests.
	// Default: Calls.
	Polls int
	// PerPrincipal bounds what one principal (tenant and principal id,
	// across its keys) may hold of each; past it, 429 too_many_requests.
	// Default: a quarter of each bound, at least 1.
	PerPrincipal int
}

// SetMaxInflight bounds ordinary requests at n and long polls at n, each
// principal at a quarter of each (at least 1); n <= 0 means no bound (the
// default). Call before serving.
func (s *Server) SetMaxInflight(n int) { s.SetInflight(InflightLimits{Calls: n}) }

// SetInflight sets the in-flight bounds. Call before serving.
func (s *Server) SetInflight(l InflightLimits) {
	if l.Calls <= 0 {
		s.calls, s.polls = nil, nil
		return
	}
	if l.Polls <= 0 {
		l.Polls = l.Calls
	}
	share := func(n int) int {
		if l.PerPrincipal > 0 {
			return min(l.PerPrincipal, n)
		}
		return max(1, n/4)
	}
	s.calls = &slots{what: "requests", max: l.Calls, share: share(l.Calls), by: map[string]int{}}
	s.polls = &slots{what: "long-polling leases", max: l.Polls, share: share(l.Polls), by: map[string]int{}}
}

// slots counts requests in flight, in all and by principal.
type slots struct {
	what       string
	max, share int
	mu         sync.Mutex
	n          int
	by         map[string]int
}

// take takes a slot for principal k; it reports false and an error when the
// server or the principal is at its bound.
func (sl *slots) take(k string, p cairn.Principal) error {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.by[k] >= sl.share {
		return cairn.Errorf(cairn.ETooMany, "principal %q already has %d %s in flight, its share of this server; retry shortly", p.ID, sl.share, sl.what)
	}
	if sl.n >= sl.max {
		return cairn.Errorf(cairn.EUnavailable, "the server is at its limit of %d %s in flight; retry shortly", sl.max, sl.what)
	}
	sl.n++
	sl.by[k]++
	return nil
}

func (sl *slots) release(k string) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.n--
	if sl.by[k]--; sl.by[k] <= 0 {
		delete(sl.by, k)
	}
}

// admit takes the request's slot: a long-polling lease's among the polls,
// any other's among the calls. It returns the release, or false once it
// has answered the refusal (with Retry-After: 1).
func (s *Server) admit(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal, body []byte) (func(), bool) {
	sl := s.calls
	if sl == nil {
		return func() {}, true
	}
	if r.Pattern == "POST /api/v1/workers/lease" && isLongPoll(body) ||
		r.Pattern == eventsRoute && isEventsLongPoll(r) {
		sl = s.polls
	}
	k := principalKeyOf(p)
	if err := sl.take(k, p); err != nil {
		w.Header().Set("Retry-After", "1")
		s.writeError(w, r, err)
		return nil, false
	}
	return func() { sl.release(k) }, true
}

// isLongPoll reads wait_ms from a lease body (the handler validates it).
func isLongPoll(body []byte) bool {
	var req struct {
		WaitMS json.Number `json:"wait_ms"`
	}
	if json.Unmarshal(body, &req) != nil {
		return false
	}
	n, err := req.WaitMS.Float64()
	return err == nil && n > 0
}

func principalKeyOf(p cairn.Principal) string { return p.Tenant + "\x00" + p.ID }

// DefaultBodyTimeout is how long an authenticated request's body may take
// to arrive (SetBodyTimeout).
const DefaultBodyTimeout = 10 * time.Second

// maxAnyBody is the largest body any route accepts; each route's decode
// applies its own, smaller or equal, limit.
const maxAnyBody = MaxCompleteBytes

// SetBodyTimeout sets how long an authenticated request's body may take to
// arrive. The body is read before the request takes an in-flight slot, so
// a slow sender holds none; past the deadline it gets 408 request_timeout
// and its connection is closed. d <= 0 means DefaultBodyTimeout.
func (s *Server) SetBodyTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	s.bodyTimeout = d
}

// readBody reads r's whole body (up to maxAnyBody+1 bytes) under the body
// deadline and puts it back as a replayable reader. It returns false once
// it has answered an error.
func (s *Server) readBody(w nethttp.ResponseWriter, r *nethttp.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == nethttp.NoBody {
		return nil, true
	}
	rc := nethttp.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.bodyTimeout)) == nil
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAnyBody+1))
	if deadline {
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			s.writeError(w, r, cairn.Errorf(cairn.ETimeout, "the request body did not arrive within %s", s.bodyTimeout))
			return nil, false
		}
		s.writeError(w, r, cairn.Invalid("body", "could not be read"))
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true
}

// Failed authentication is throttled by client address (ADR 0015).
const (
	DefaultAuthFailRate  = 1.0 // failures a second an address may make on average
	DefaultAuthFailBurst = 20  // failures an address may make at once
)

// SetAuthFailLimit lets each client address (an IPv4 address, or an IPv6
// /64) fail authentication perSecond times a second on average, in bursts
// of burst. Past it, every API request from that address gets 429
// too_many_requests with Retry-After, before its key is even looked at,
// until a failure is allowed again. perSecond <= 0 turns the throttle off.
// New sets the defaults.
func (s *Server) SetAuthFailLimit(perSecond float64, burst int) {
	if perSecond <= 0 {
		s.authFails = nil
		return
	}
	s.authFails = newKeyedLimits(perSecond, max(burst, 1))
}

// clientAddr is the throttled address of r's client: its IP, or the /64
// of an IPv6 address (one host's usual allocation).
func clientAddr(r *nethttp.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// refuseAuthThrottled answers 429 when r's address has used up its failures.
func (s *Server) refuseAuthThrottled(w nethttp.ResponseWriter, r *nethttp.Request) bool {
	l := s.authFails
	if l == nil {
		return false
	}
	wait := l.peek(clientAddr(r), time.Now())
	if wait == 0 {
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, cairn.Errorf(cairn.ETooMany, "too many failed authentications from this address; retry after %d s", secs))
	return true
}

// authFailed counts a failed authentication against r's address.
func (s *Server) authFailed(r *nethttp.Request) {
	if l := s.authFails; l != nil {
		l.allow(clientAddr(r), time.Now())
	}
}

// keyedLimits is a bounded map of token buckets.
type keyedLimits struct {
	every rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*keyedLimit
}

type keyedLimit struct {
	lim  *rate.Limiter
	last time.Time
}

func newKeyedLimits(perSecond float64, burst int) *keyedLimits {
	return &keyedLimits{every: rate.Limit(perSecond), burst: burst, m: map[string]*keyedLimit{}}
}

// maxTrackedKeys bounds a limiter map; past it, keys idle for a minute
// (whose buckets are full again) are forgotten, and if that is not enough,
// a tenth of the others.
const maxTrackedKeys = 100_000

// entry returns k's bucket; l.mu is held.
func (l *keyedLimits) entry(k string, now time.Time) *keyedLimit {
	e := l.m[k]
	if e == nil {
		if len(l.m) >= maxTrackedKeys {
			for id, old := range l.m {
				if now.Sub(old.last) > time.Minute {
					delete(l.m, id)
				}
			}
			// Still full of active keys: forget some at random (map order),
			// so the next sweeps are far apart. They start again with a
			// full bucket.
			for id := range l.m {
				if len(l.m) < maxTrackedKeys*9/10 {
					break
				}
				delete(l.m, id)
			}
		}
		e = &keyedLimit{lim: rate.NewLimiter(l.every, l.burst)}
		l.m[k] = e
	}
	e.last = now
	return e
}

// allow takes a token for k, or says how long until one is available.
func (l *keyedLimits) allow(k string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.entry(k, now).lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if wait > 0 {
		r.CancelAt(now) // refused: it takes no token
	}
	return wait == 0, wait
}

// peek says how long until k has a token, without taking it (0: now).
func (l *keyedLimits) peek(k string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[k]
	if e == nil {
		return 0
	}
	if t := e.lim.TokensAt(now); t < 1 {
		return time.Duration((1 - t) / float64(l.every) * float64(time.Second))
	}
	return 0
}
