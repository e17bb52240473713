package http

import (
	"encoding/base64"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger/tree"
)

// uintParam parses a non-negative integer query parameter.
func (q *query) uint(name string, required bool) uint64 {
	raw := q.str(name)
	if q.err != nil {
		return 0
	}
	if raw == "" {
		if required {
			q.err = cairn.Invalid(name, "is required")
		}
		return 0
	}
	n, err := strconv.ParseUint(raw, 10, 63)
	if err != nil {
		q.err = cairn.Invalid(name, "must be a non-negative integer")
	}
	return n
}

// checkpointView is a checkpoint as served: the stored note plus the note
// with every witness signature merged in.
type checkpointView struct {
	*cairn.Checkpoint
	NoteWithCosignatures string `json:"note_with_cosignatures"`
}

func viewOf(c *cairn.Checkpoint) checkpointView {
	notes := make([][]byte, len(c.Cosignatures))
	for i, cs := range c.Cosignatures {
		notes[i] = []byte(cs.Note)
	}
	merged, err := tree.MergeSignatures([]byte(c.Note), notes...)
	if err != nil {
		merged = []byte(c.Note)
	}
	return checkpointView{Checkpoint: c, NoteWithCosignatures: string(merged)}
}

func (s *Server) ledgerKey(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	origin, key, err := s.svc.LedgerKey(p.Tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]string{"origin": origin, "public_key": key, "algorithm": "ed25519", "format": "C2SP signed-note verifier key"})
}

func (s *Server) checkpoint(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "fresh", "format")
	fresh := q.enum("fresh", []string{"true", "false"}) == "true"
	format := q.enum("format", []string{"json", "note"})
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	c, err := s.svc.Checkpoint(r.Context(), p, fresh)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := viewOf(c)
	if format == "note" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(v.NoteWithCosignatures))
		return
	}
	writeJSON(w, 200, v)
}

func (s *Server) issueCheckpoint(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	c, err := s.svc.IssueCheckpoint(r.Context(), p.Tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, viewOf(c))
}

func (s *Server) listCheckpoints(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r)
	page := q.page("checkpoints")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	cs, err := s.svc.Checkpoints(r.Context(), p, page)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	views := make([]checkpointView, len(cs))
	for i, c := range cs {
		views[i] = viewOf(c)
	}
	list(w, "checkpoints", views, page.Limit, func(v checkpointView) int64 { return int64(v.Size) })
}

func (s *Server) getCheckpoint(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	size, err := strconv.ParseUint(r.PathValue("size"), 10, 63)
	if err != nil {
		s.writeError(w, r, cairn.Invalid("size", "must be a non-negative integer"))
		return
	}
	c, err := s.svc.CheckpointAt(r.Context(), p, size)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, viewOf(c))
}

type cosignRequest struct {
	WitnessKey string `json:"witness_key"`
	Note       string `json:"note"`
}

func (s *Server) cosign(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cosignRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.WitnessKey == "" || req.Note == "" {
		s.writeError(w, r, cairn.Invalid("note", "witness_key and note are required"))
		return
	}
	c, err := s.svc.Cosign(r.Context(), p, req.WitnessKey, []byte(req.Note))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, viewOf(c))
}

func (s *Server) inclusionProof(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "index", "size")
	index, size := q.uint("index", true), q.uint("size", false)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if size == 0 {
		c, err := s.svc.Checkpoint(r.Context(), p, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		size = c.Size
	}
	pr, err := s.svc.InclusionProof(r.Context(), p, index, size)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, pr)
}

func (s *Server) consistencyProof(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "from", "to")
	from, to := q.uint("from", true), q.uint("to", true)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	pr, err := s.svc.ConsistencyProof(r.Context(), p, from, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, pr)
}

func (s *Server) verifyLedger(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "trusted_checkpoint")
	raw := q.str("trusted_checkpoint")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var trusted []byte
	if raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
		if err != nil {
			s.writeError(w, r, cairn.Invalid("trusted_checkpoint", "must be the checkpoint note in base64url"))
			return
		}
		trusted = b
	}
	rep, err := s.svc.VerifyLedger(r.Context(), p, trusted)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, rep)
}

func (s *Server) export(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "run_id", "job_id", "since", "until", "consistency_from")
	f := service.ExportFilter{RunID: q.str("run_id"), JobID: q.str("job_id"), Since: q.time("since").t(), Until: q.time("until").t()}
	if cf := q.uint("consistency_from", false); cf > 0 {
		f.ConsistencyFrom = []uint64{cf}
	}
	if q.err == nil && f.RunID != "" && f.JobID != "" {
		q.err = cairn.Invalid("job_id", "give run_id or job_id, not both")
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	out := &sentWriter{w: w, rc: nethttp.NewResponseController(w)}
	err := s.svc.ExportTo(r.Context(), p, f, func() io.Writer {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="cairn-evidence.json"`)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		return out
	})
	if err == nil {
		return
	}
	if out.n == 0 {
		// Nothing is out yet: the answer is still an error.
		w.Header().Del("Content-Disposition")
		s.writeError(w, r, err)
		return
	}
	// Part of the bundle is out: the answer can no longer become an error.
	// Cut the connection so that the client sees a truncated transfer, not
	// a complete answer.
	if r.Context().Err() == nil {
		rid, _ := r.Context().Value(requestIDKey).(string)
		s.log.Error("evidence export failed after it began; the connection is cut", "request_id", rid, "err", err.Error())
	}
	panic(nethttp.ErrAbortHandler)
}

// ExportWriteIdle is how long an export's client may go without taking
// any of it before the connection is closed. The server's write timeout
// would cut an export that is simply large; this one cuts only a stalled
// client (which holds an export slot and a store reader).
const ExportWriteIdle = 90 * time.Second

// sentWriter counts the bytes handed to the response and pushes the write
// deadline on before each write.
type sentWriter struct {
	w  nethttp.ResponseWriter
	rc *nethttp.ResponseController
	n  int64
}

func (s *sentWriter) Write(p []byte) (int, error) {
	// Servers without deadlines (ErrNotSupported) have nothing to push on.
	_ = s.rc.SetWriteDeadline(time.Now().Add(ExportWriteIdle))
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}
