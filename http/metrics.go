package http

import (
	"net"
	nethttp "net/http"
	"net/netip"
	"strings"

	"github.com/cairnhq/cairn"
)

// MetricsHandler serves the server's Prometheus registry without
// authentication: for a listener of its own (cairn serve --metrics-addr).
func (s *Server) MetricsHandler() nethttp.Handler { return s.metricsHandler() }

// metrics serves /metrics on the API listener: without a key to loopback
// clients (a Prometheus or agent on the same host), otherwise only to a key
// that may read everything in its tenant (auditor or admin). The metrics
// carry no tenant's data, but their counts say what a tenant's agents do
// (ADR 0037).
func (s *Server) metrics() nethttp.Handler {
	h := s.MetricsHandler()
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if loopback(r.RemoteAddr) {
			h.ServeHTTP(w, r)
			return
		}
		if s.refuseAuthThrottled(w, r) {
			return
		}
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			s.authFailed(r)
			s.writeError(w, r, &cairn.Error{Code: cairn.EUnauthorized, Message: "/metrics needs an API key (auditor or admin) from outside loopback, or use cairn serve --metrics-addr"})
			return
		}
		p, err := s.svc.Authenticate(r.Context(), strings.TrimSpace(key))
		if err != nil {
			if cairn.ErrorCode(err) == cairn.EUnauthorized {
				s.authFailed(r)
			}
			s.writeError(w, r, err)
			return
		}
		if !p.Has(cairn.RoleAuditor) {
			s.writeError(w, r, cairn.Forbidden(cairn.EForbidden, "/metrics needs the auditor or admin role"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopback reports whether a request's remote address is a loopback address.
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
