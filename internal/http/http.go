// Package http serves Cairn's API (/api/v1) over net/http. Handlers decode
// and validate input, call the service, and encode the answer; they hold no
// SQL and no business rules. Errors are mapped to statuses in one place
// (writeError) from the codes of package cairn.
package http

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Body limits.
const (
	MaxBodyBytes     = 2 << 20 // ordinary requests (1 MiB input + envelope)
	MaxCompleteBytes = 6 << 20 // completions carry results up to 4 MiB
	MaxJSONDepth     = 64
)

//go:embed openapi.json
var openapiSpec []byte

// Server is the HTTP API.
type Server struct {
	svc     *service.Service
	log     *slog.Logger
	mux     *nethttp.ServeMux
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	// UI, when set, serves every path outside /api/ that no route matched
	// (the web console).
	UI nethttp.Handler
	// limits, when set, rate-limits each principal (SetRateLimit).
	limits *keyedLimits
	// calls and polls, when set, bound the requests in flight (SetInflight).
	calls, polls *slots
	// authFails throttles failed authentication by client address.
	authFails *keyedLimits
	// bodyTimeout bounds how long a request body may take to arrive.
	bodyTimeout time.Duration
	// tlog configures the tlog-tiles routes (SetTlogAccess).
	tlog TlogAccess
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
)

// New builds the API server.
func New(svc *service.Service, log *slog.Logger) *Server {
	s := &Server{svc: svc, log: log, mux: nethttp.NewServeMux(), reg: prometheus.NewRegistry()}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cairn_http_request_seconds", Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"})
	s.reg.MustRegister(s.reqs, s.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.SetAuthFailLimit(DefaultAuthFailRate, DefaultAuthFailBurst)
	s.SetBodyTimeout(DefaultBodyTimeout)
	s.routes()
	return s
}

// Registry is the server's Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handle registers an authenticated API route: pattern like "GET /api/v1/ledger/key".
func (s *Server) Handle(pattern string, h func(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal)) {
	s.mux.Handle(pattern, s.authed(h))
}

// HandlePublic registers a route without authentication.
func (s *Server) HandlePublic(pattern string, h nethttp.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() { s.register() }

func (s *Server) healthz(w nethttp.ResponseWriter, r *nethttp.Request) {
	writeJSON(w, 200, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w nethttp.ResponseWriter, r *nethttp.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Store.Ping(ctx); err != nil {
		s.writeError(w, r, cairn.Errorf(cairn.EUnavailable, "store is not reachable"))
		return
	}
	if err := s.svc.Integrity(); err != nil {
		s.writeError(w, r, err) // 500 ledger_truncated: no retry cures it
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler() nethttp.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

func (s *Server) openapi(w nethttp.ResponseWriter, r *nethttp.Request, _ cairn.Principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiSpec)
}

func (s *Server) whoami(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	writeJSON(w, 200, p)
}

// notFound answers unknown routes with 404, or 405 when another method would match.
func (s *Server) notFound(w nethttp.ResponseWriter, r *nethttp.Request) {
	if s.UI != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
		s.UI.ServeHTTP(w, r)
		return
	}
	var allowed []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := s.mux.Handler(r2); pat != "" && pat != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, r, cairn.Errorf(cairn.EMethod, "%s is not allowed here; use %s", r.Method, strings.Join(allowed, " or ")))
		return
	}
	s.writeError(w, r, cairn.NotFound("no such endpoint: %s", truncate(r.URL.Path, 200)))
}

// ServeHTTP adds the request id, metrics, logging and panic recovery.
func (s *Server) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id")
	if rid == "" || len(rid) > 64 || !isToken(rid) {
		rid = newRequestID()
	}
	w.Header().Set("X-Request-Id", rid)
	sw := &statusWriter{ResponseWriter: w, status: 200}
	_, route := s.mux.Handler(r)
	if route == "" || route == "/" {
		route = "unmatched"
	}
	// One copy of the request carries both the request id and, when
	// tracing, the request's span.
	base := context.WithValue(r.Context(), requestIDKey, rid)
	ctx, endSpan := tracing.StartRequest(base, r, route)
	r = r.WithContext(ctx)
	if ctx != base {
		defer func() { endSpan(sw.status) }() // runs after the deferred function below
	}
	defer func() {
		rec := recover()
		// ErrAbortHandler: a streamed answer failed after it began; it is
		// passed on to net/http, which cuts the connection so the client
		// sees a truncated answer, never a complete-looking one.
		abort := rec == nethttp.ErrAbortHandler
		if rec != nil && !abort {
			s.log.Error("panic serving request", "request_id", rid, "route", route, "panic", fmt.Sprint(rec))
			if !sw.wrote {
				s.writeError(sw, r, cairn.Errorf(cairn.EInternal, "internal error"))
			}
		}
		if abort {
			defer panic(rec)
		}
		d := time.Since(start)
		s.reqs.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		if sw.status >= 500 && r.Context().Err() == nil {
			s.log.Error("request", "request_id", rid, "method", r.Method, "route", route, "status", sw.status, "ms", d.Milliseconds())
		} else {
			s.log.Debug("request", "request_id", rid, "method", r.Method, "route", route, "status", sw.status, "ms", d.Milliseconds())
		}
	}()
	s.mux.ServeHTTP(sw, r)
}

type statusWriter struct {
	nethttp.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *statusWriter) Unwrap() nethttp.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(nethttp.Flusher); ok {
		f.Flush()
	}
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("req_%x", b)
}

// authed authenticates a request and admits it (ADR 0015): an address
// that failed authentication too often is refused before its key is looked
// at; the body is read, under the body deadline, before the request takes
// an in-flight slot (a long poll's among the polls), so a slow sender
// holds none.
// bearer authenticates the request's Authorization: Bearer key. A request
// from an address that failed too often is refused first (429); a missing
// key is a 401 saying missing, and a missing or wrong key counts against
// the address's budget of failed authentications.
func (s *Server) bearer(w nethttp.ResponseWriter, r *nethttp.Request, missing string) (cairn.Principal, bool) {
	if s.refuseAuthThrottled(w, r) {
		return cairn.Principal{}, false
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		s.authFailed(r)
		s.writeError(w, r, &cairn.Error{Code: cairn.EUnauthorized, Message: missing})
		return cairn.Principal{}, false
	}
	p, err := s.svc.Authenticate(r.Context(), strings.TrimSpace(key))
	if err != nil {
		if cairn.ErrorCode(err) == cairn.EUnauthorized {
			s.authFailed(r)
		}
		s.writeError(w, r, err)
		return cairn.Principal{}, false
	}
	return p, true
}

func (s *Server) authed(h func(nethttp.ResponseWriter, *nethttp.Request, cairn.Principal)) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		p, ok := s.bearer(w, r, "a valid API key is required: Authorization: Bearer <key>")
		if !ok {
			return
		}
		if s.refuseOverLimit(w, r, p) {
			return
		}
		body, ok := s.readBody(w, r)
		if !ok {
			return
		}
		release, ok := s.admit(w, r, p, body)
		if !ok {
			return
		}
		defer release()
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)), p)
	})
}

// --- encoding ---

func writeJSON(w nethttp.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Exact bytes: canonical ledger bodies must hash as stored. Responses
	// are application/json with nosniff, never HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		io.WriteString(w, `{"error":{"code":"internal_error","message":"response could not be encoded"}}`+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Field     string `json:"field,omitempty"`
	Line      int    `json:"line,omitempty"`
	// LedgerIndex names the ledger entry the error refers to (for
	// pruned_by_retention, the retention_compacted event; for erased, the
	// erasure event).
	LedgerIndex *uint64 `json:"ledger_index,omitempty"`
}

// writeError maps any error to the contract's error body. Errors without a
// code are internal: logged, never shown.
func (s *Server) writeError(w nethttp.ResponseWriter, r *nethttp.Request, err error) {
	rid, _ := r.Context().Value(requestIDKey).(string)
	var e *cairn.Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = cairn.Errorf(cairn.EUnavailable, "the request was cancelled or timed out")
	default:
		s.log.Error("internal error", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err.Error())
		e = cairn.Errorf(cairn.EInternal, "internal error; quote request id %s", rid)
	}
	status, known := StatusOf(e.Code)
	if !known {
		s.log.Error("error with an unknown code", "request_id", rid, "code", e.Code)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if status == 503 {
		if e.Cause != nil {
			s.log.Warn("store unavailable", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", e.Cause.Error())
		}
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	writeJSON(w, status, errorBody{errorDetail{Code: e.Code, Message: e.Message, RequestID: rid, Field: e.Field, Line: e.Line, LedgerIndex: e.LedgerIndex}})
}

// decode reads a JSON body strictly: size-limited, valid UTF-8, bounded
// nesting, no unknown fields, no trailing data.
func decode(w nethttp.ResponseWriter, r *nethttp.Request, limit int64, v any) error {
	body, err := io.ReadAll(nethttp.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *nethttp.MaxBytesError
		if errors.As(err, &mbe) {
			return cairn.Errorf(cairn.ETooLarge, "request body exceeds %d bytes", limit)
		}
		return cairn.Invalid("body", "could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return cairn.Invalid("body", "is empty; a JSON object is required")
	}
	if !utf8.Valid(body) {
		return cairn.Invalid("body", "is not valid UTF-8 at byte %d", invalidUTF8At(body))
	}
	if d := jsonDepth(body); d > MaxJSONDepth {
		return cairn.Invalid("body", "nests deeper than %d levels", MaxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return cairn.Invalid("body", "has data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return cairn.Invalid("body", "has data after the JSON value")
	}
	return nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// jsonDepth returns the maximum nesting depth of arrays/objects in b.
func jsonDepth(b []byte) int {
	depth, max := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > max {
				max = depth
			}
		case '}', ']':
			depth--
		}
	}
	return max
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return cairn.Invalid("body", "is not valid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return cairn.Invalid(field, "must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cairn.Invalid("body", "ends before the JSON value is complete")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil || f == "" {
			return cairn.Invalid("body", "has a member with an empty name, which is not a known field")
		}
		return cairn.Invalid(truncate(f, 64), "is not a known field")
	}
	return cairn.Invalid("body", "is not valid JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "int", "int64", "uint64", "float64":
		return "a number"
	}
	return k
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
