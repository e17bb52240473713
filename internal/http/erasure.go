package http

import (
	nethttp "net/http"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
)

// erase serves POST /api/v1/erasures (admin): crypto-shreds a data subject
// or some jobs' payloads (docs/data-protection.md).
func (s *Server) erase(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.ErasureRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.svc.Erase(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, out)
}

// tenantSettings serves GET /api/v1/tenant/settings (admin, auditor).
func (s *Server) tenantSettings(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	st, err := s.svc.TenantSettings(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, st)
}

// setTenantSettings serves PUT /api/v1/tenant/settings (admin).
func (s *Server) setTenantSettings(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req service.TenantSettingsRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.svc.SetTenantSettings(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, st)
}
