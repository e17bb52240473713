package http

import (
	"math"
	"strconv"
	"time"

	nethttp "net/http"

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
	s.limits = newKeyedLimits(perSecond, burst)
}

// refuseOverLimit answers 429 when p is over its rate limit.
func (s *Server) refuseOverLimit(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) bool {
	l := s.limits
	if l == nil {
		return false
	}
	ok, wait := l.allow(principalKeyOf(p), time.Now())
	if ok {
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, cairn.Errorf(cairn.ETooMany, "rate limit of %g requests a second for principal %q exceeded; retry after %d s", float64(l.every), p.ID, secs))
	return true
}
