package http

import (
	"crypto/sha256"
	"encoding/hex"
	nethttp "net/http"
	"strings"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// TlogAccess says who may read the C2SP tlog-tiles view of each tenant's
// ledger under /tlog/<tenant>/ and what it contains.
type TlogAccess struct {
	// Public serves every tenant's checkpoint and tiles without a key. By
	// default a key of the tenant with the auditor role (or admin) is
	// needed, sent as a bearer token.
	Public bool
	// HashesOnly serves the checkpoint and hash tiles but no entry bundles:
	// enough for witnesses and monitors to check consistency and
	// inclusion, without the entries' bodies.
	HashesOnly bool
}

// Cache lifetimes of tlog resources.
const (
	// A full tile never changes.
	tlogImmutable = "max-age=31536000, immutable"
	// A partial tile of a given width never changes either, but clients
	// should move on to wider ones; the checkpoint changes every second.
	tlogPartial    = "max-age=60"
	tlogCheckpoint = "max-age=1"
)

// SetTlogAccess configures the /tlog/ routes (authenticated, with entry
// bundles, by default).
func (s *Server) SetTlogAccess(a TlogAccess) { s.tlog = a }

// tlogHandler authenticates a tlog request unless the log is public; an
// authenticated one must come from the tenant's auditor (or admin).
func (s *Server) tlogHandler(h func(w nethttp.ResponseWriter, r *nethttp.Request, tenant string)) nethttp.Handler {
	authed := s.authed(func(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
		tenant := r.PathValue("tenant")
		if p.Tenant != tenant {
			s.writeError(w, r, cairn.NotFound("no tlog for tenant %q here", truncate(tenant, 100)))
			return
		}
		if !p.HasAny(cairn.RoleAuditor) {
			s.writeError(w, r, cairn.Forbidden(cairn.EForbidden, "reading the tlog needs the auditor role"))
			return
		}
		h(w, r, tenant)
	})
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if !s.tlog.Public {
			authed.ServeHTTP(w, r)
			return
		}
		tenant := r.PathValue("tenant")
		// Anonymous readers share one principal's share of the in-flight
		// bound (--max-inflight), so they cannot crowd out the API.
		release, ok := s.admit(w, r, cairn.Principal{Tenant: "", ID: "public-tlog"}, nil)
		if !ok {
			return
		}
		defer release()
		exists, err := s.svc.TenantExists(r.Context(), tenant)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !exists {
			s.writeError(w, r, cairn.NotFound("no tlog for tenant %q here", truncate(tenant, 100)))
			return
		}
		h(w, r, tenant)
	})
}

func (s *Server) tlogCheckpoint(w nethttp.ResponseWriter, r *nethttp.Request, tenant string) {
	b, err := s.svc.TlogCheckpoint(r.Context(), tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeTlog(w, r, "text/plain; charset=utf-8", tlogCheckpoint, b)
}

func (s *Server) tlogTile(w nethttp.ResponseWriter, r *nethttp.Request, tenant string) {
	t, err := tree.ParseTilePath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, cairn.NotFound("no such tlog resource: %s", truncate(r.URL.Path, 200)))
		return
	}
	if t.Entries && s.tlog.HashesOnly {
		s.writeError(w, r, cairn.NotFound("this server serves hash tiles only, no entry bundles"))
		return
	}
	b, err := s.svc.TlogTile(r.Context(), tenant, t)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cache := tlogImmutable
	if t.Partial() {
		cache = tlogPartial
	}
	s.writeTlog(w, r, "application/octet-stream", cache, b)
}

// writeTlog answers with body, its ETag and cache lifetime (shared caches
// may keep it only when the log is public), or 304 when the client has it.
func (s *Server) writeTlog(w nethttp.ResponseWriter, r *nethttp.Request, contentType, cache string, body []byte) {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	scope := "private, "
	if s.tlog.Public {
		scope = "public, "
	}
	h := w.Header()
	h.Set("Cache-Control", scope+cache)
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if !s.tlog.Public {
		h.Set("Vary", "Authorization")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(nethttp.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	w.WriteHeader(200)
	w.Write(body)
}

// etagMatch reports whether an If-None-Match list names etag (or is "*").
func etagMatch(list, etag string) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
