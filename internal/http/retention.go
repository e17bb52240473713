package http

import (
	nethttp "net/http"

	"github.com/cairnhq/cairn"
)

// Retention and legal hold (issue 14 §2; docs/data-protection.md).

func (s *Server) placeHold(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.PlaceHoldRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.svc.PlaceHold(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, h)
}

func (s *Server) listHolds(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "active")
	page := q.page("holds")
	var active bool
	switch q.str("active") {
	case "", "false":
	case "true":
		active = true
	default:
		if q.err == nil {
			q.err = cairn.Invalid("active", "must be true or false")
		}
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	hs, err := s.svc.ListHolds(r.Context(), p, cairn.HoldFilter{ActiveOnly: active, Page: page})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "holds", hs, page.Limit, func(h *cairn.Hold) int64 { return h.Seq })
}

func (s *Server) releaseHold(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.ReleaseHoldRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.svc.ReleaseHold(r.Context(), p, pathID(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, h)
}

func (s *Server) getRetention(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	v, err := s.svc.TenantRetention(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, v)
}

func (s *Server) setRetention(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.SetRetentionRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.svc.SetTenantRetention(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, v)
}
