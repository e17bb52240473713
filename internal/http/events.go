package http

import (
	"bufio"
	"strconv"

	nethttp "net/http"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger"
)

// eventsRoute is the durable event feed (docs/api.md, "Event feed").
const eventsRoute = "GET /api/v1/events"

// isEventsLongPoll reports whether a feed request waits (wait_ms > 0); the
// handler validates the value.
func isEventsLongPoll(r *nethttp.Request) bool {
	n, err := strconv.Atoi(r.URL.Query().Get("wait_ms"))
	return err == nil && n > 0
}

// events answers NDJSON: one line per ledger entry of the caller's tenant,
// in ledger order, {"index", "leaf_hash", "body"}, where body is the
// entry's canonical body as stored (docs/evidence.md §2.1), so that
// SHA-256(0x00 || body) is the leaf hash. The header X-Cairn-Ledger-Size
// is the tenant's ledger size when the entries were read.
func (s *Server) events(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "after", "wait_ms")
	after, waitMS := q.str("after"), q.str("wait_ms")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	req, err := service.ParseEventsRequest(after, q.v.Get("limit"), waitMS)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.svc.Events(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Cairn-Ledger-Size", strconv.FormatUint(page.Size, 10))
	w.WriteHeader(200)
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for _, e := range page.Entries {
		line = appendEventLine(line[:0], e)
		bw.Write(line)
	}
	bw.Flush()
}

// appendEventLine appends the feed line of e. The body is written as
// stored (it is canonical JSON, an object); the leaf hash is recomputed
// from it when the stored one is missing.
func appendEventLine(b []byte, e *cairn.LedgerEntry) []byte {
	leaf := e.LeafHash
	if leaf == "" && !e.Pruned {
		leaf = ledger.HashHex(ledger.LeafHash(e.Body))
	}
	b = append(b, `{"index":`...)
	b = strconv.AppendUint(b, e.Index, 10)
	b = append(b, `,"leaf_hash":"`...)
	b = append(b, leaf...)
	if e.Pruned {
		return append(b, `","body":null,"pruned":true}`+"\n"...) // pruned by retention
	}
	b = append(b, `","body":`...)
	b = append(b, e.Body...)
	return append(b, "}\n"...)
}
