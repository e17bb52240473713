package http

import (
	"net"
	nethttp "net/http"
	"net/netip"

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
		p, ok := s.bearer(w, r, "/metrics needs an API key (auditor or admin) from outside loopback, or use cairn serve --metrics-addr")
		if !ok {
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
