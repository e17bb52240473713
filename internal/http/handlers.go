package http

import (
	"encoding/json"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
)

// query reads and validates common query parameters.
type query struct {
	v   url.Values
	err error
}

func newQuery(r *nethttp.Request, allowed ...string) *query {
	q := &query{v: r.URL.Query()}
	ok := map[string]bool{"limit": true, "cursor": true}
	for _, a := range allowed {
		ok[a] = true
	}
	for k, vs := range q.v {
		if !ok[k] {
			q.err = cairn.Invalid(truncate(k, 64), "is not a known query parameter")
			return q
		}
		if len(vs) > 1 {
			q.err = cairn.Invalid(truncate(k, 64), "is given more than once")
			return q
		}
		if len(vs[0]) > 1024 {
			q.err = cairn.Invalid(truncate(k, 64), "is too long")
			return q
		}
	}
	return q
}

func (q *query) str(name string) string {
	if q.err != nil {
		return ""
	}
	v := q.v.Get(name)
	if err := checkParam(name, v); err != nil {
		q.err = err
	}
	return v
}

func checkParam(name, v string) error {
	for i, r := range v {
		if r < 0x20 || r == 0x7f || r == 0xFFFD {
			return cairn.Invalid(name, "contains an invalid character at byte %d", i)
		}
	}
	return nil
}

func (q *query) time(name string) (t timeVal) {
	raw := q.str(name)
	if q.err != nil {
		return
	}
	v, err := service.ParseTime(name, raw)
	if err != nil {
		q.err = err
	}
	return timeVal(v)
}

func (q *query) page(kind string) cairn.Page {
	if q.err != nil {
		return cairn.Page{}
	}
	limit, err := service.PageLimit(q.v.Get("limit"))
	if err != nil {
		q.err = err
		return cairn.Page{}
	}
	after, err := service.DecodeCursor(kind, q.v.Get("cursor"))
	if err != nil {
		q.err = err
		return cairn.Page{}
	}
	return cairn.Page{Limit: limit, After: after}
}

func (q *query) enum(name string, values []string) string {
	v := q.str(name)
	if v == "" || q.err != nil {
		return v
	}
	for _, a := range values {
		if v == a {
			return v
		}
	}
	q.err = cairn.Invalid(name, "must be one of %v", values)
	return ""
}

// list writes a page; next_cursor is set when the page is full.
func list[T any](w nethttp.ResponseWriter, kind string, items []T, limit int, seq func(T) int64) {
	if items == nil {
		items = []T{}
	}
	out := cairn.List[T]{Items: items}
	if len(items) == limit && limit > 0 {
		out.NextCursor = service.EncodeCursor(kind, seq(items[len(items)-1]))
	}
	if writeRawList(w, items, out.NextCursor) {
		return
	}
	writeJSON(w, 200, out)
}

// rawJSON is implemented by items a store served as stored JSON.
type rawJSON interface{ RawJSON() []byte }

// writeRawList writes a list whose items all carry their stored JSON
// without re-encoding (or re-validating) each item: the store wrote those
// bytes with encoding/json or JCS. It reports false when an item has none.
func writeRawList[T any](w nethttp.ResponseWriter, items []T, next *string) bool {
	size := 64
	for _, it := range items {
		r, ok := any(it).(rawJSON)
		if !ok || r.RawJSON() == nil {
			return false
		}
		size += len(r.RawJSON()) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, any(it).(rawJSON).RawJSON()...)
	}
	buf = append(buf, `],"next_cursor":`...)
	if next == nil {
		buf = append(buf, "null"...)
	} else {
		c, _ := json.Marshal(*next)
		buf = append(buf, c...)
	}
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(200)
	w.Write(buf)
	return true
}

func pathID(r *nethttp.Request) string { return r.PathValue("id") }

// --- jobs ---

func (s *Server) submit(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.SubmitRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	exec, ok := s.executor(w, r, req.Lease != nil)
	if !ok {
		return
	}
	job, leased, created, err := s.svc.SubmitAndLease(r.Context(), p, exec, req, r.Header.Get("traceparent"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := 201
	if !created {
		status = 200
	}
	if req.Lease != nil {
		writeJSON(w, status, cairn.SubmitResponse{Job: job, Lease: leased})
		return
	}
	writeJSON(w, status, job)
}

// executor authenticates the Cairn-Executor-Key of a submit that asks for
// a lease; nil when the request carries none (the submitter leases).
func (s *Server) executor(w nethttp.ResponseWriter, r *nethttp.Request, leasing bool) (*cairn.Principal, bool) {
	key := strings.TrimSpace(r.Header.Get(cairn.ExecutorKeyHeader))
	if key == "" {
		return nil, true
	}
	if !leasing {
		s.writeError(w, r, cairn.Invalid("lease", "is required with the %s header", cairn.ExecutorKeyHeader))
		return nil, false
	}
	exec, err := s.svc.Authenticate(r.Context(), key)
	if err != nil {
		if cairn.ErrorCode(err) == cairn.EUnauthorized {
			s.authFailed(r)
			err = &cairn.Error{Code: cairn.EUnauthorized, Message: "the " + cairn.ExecutorKeyHeader + " header does not carry a valid API key"}
		}
		s.writeError(w, r, err)
		return nil, false
	}
	return &exec, true
}

func (s *Server) listJobs(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "state", "action", "run_id", "decision", "policy_rule_id", "submitted_by", "since", "until")
	f := cairn.JobFilter{
		State: q.enum("state", cairn.AllStates), Action: q.str("action"), RunID: q.str("run_id"),
		Decision: q.enum("decision", cairn.AllDecisions), PolicyRuleID: q.str("policy_rule_id"), SubmittedBy: q.str("submitted_by"),
		Since: q.time("since").t(), Until: q.time("until").t(), Page: q.page("jobs"),
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	jobs, err := s.svc.ListJobs(r.Context(), p, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "jobs", jobs, f.Limit, func(j *cairn.Job) int64 { return j.Seq })
}

func (s *Server) getJob(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	j, err := s.svc.GetJob(r.Context(), p, pathID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, j)
}

func (s *Server) decisions(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r)
	page := q.page("decisions")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	ds, err := s.svc.Decisions(r.Context(), p, pathID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A job has a handful of decisions; page over them in memory, oldest first.
	// The cursor is the 1-based position of the last decision returned.
	if int(page.After) > len(ds) {
		ds = nil
	} else {
		ds = ds[page.After:]
	}
	if len(ds) > page.Limit {
		ds = ds[:page.Limit]
	}
	pos := page.After
	list(w, "decisions", ds, page.Limit, func(*cairn.Decision) int64 { return pos + int64(len(ds)) })
}

func (s *Server) evidence(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	rec, err := s.svc.Evidence(r.Context(), p, pathID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, rec)
}

func (s *Server) payload(result bool) func(nethttp.ResponseWriter, *nethttp.Request, cairn.Principal) {
	return func(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
		q := newQuery(r, "original")
		original := q.enum("original", []string{"true", "false"}) == "true"
		if q.err != nil {
			s.writeError(w, r, q.err)
			return
		}
		pl, err := s.svc.Payload(r.Context(), p, pathID(r), result, original)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-SHA256", pl.SHA256)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(200)
		w.Write(pl.Data)
	}
}

func (s *Server) complete(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.CompleteRequest
	if err := decode(w, r, MaxCompleteBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.svc.Complete(r.Context(), p, pathID(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, j)
}

// --- approvals ---

func (s *Server) listApprovals(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "include_resolved", "run_id", "policy_rule_id", "resolved_by", "since", "until")
	inc := q.enum("include_resolved", []string{"true", "false"})
	f := cairn.ApprovalFilter{
		IncludeResolved: inc == "true", RunID: q.str("run_id"), PolicyRuleID: q.str("policy_rule_id"),
		ResolvedBy: q.str("resolved_by"), Since: q.time("since").t(), Until: q.time("until").t(), Page: q.page("approvals"),
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	as, err := s.svc.ListApprovals(r.Context(), p, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "approvals", as, f.Limit, func(a *cairn.Approval) int64 { return a.Seq })
}

func (s *Server) resolve(approve bool) func(nethttp.ResponseWriter, *nethttp.Request, cairn.Principal) {
	return func(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
		var req cairn.ResolveRequest
		if err := decode(w, r, MaxBodyBytes, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		a, err := s.svc.Resolve(r.Context(), p, pathID(r), approve, req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, 200, a)
	}
}

// --- workers ---

func (s *Server) lease(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.LeaseRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.svc.Lease(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if jobs == nil {
		jobs = []*cairn.LeasedJob{}
	}
	writeJSON(w, 200, cairn.LeaseResponse{Jobs: jobs})
}

// --- runs ---

func (s *Server) getRun(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	run, err := s.svc.GetRun(r.Context(), p, pathID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if run.Jobs == nil {
		run.Jobs = []*cairn.Job{}
	}
	writeJSON(w, 200, run)
}

func (s *Server) timeline(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "after")
	page := q.page("timeline")
	if raw := q.str("after"); raw != "" && q.err == nil {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			q.err = cairn.Invalid("after", "must be a non-negative integer (a timeline seq)")
		} else if page.After != 0 {
			q.err = cairn.Invalid("after", "give after or cursor, not both")
		} else {
			page.After = n
		}
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if r.URL.Query().Get("limit") == "" {
		page.Limit = 200
	}
	evs, err := s.svc.Timeline(r.Context(), p, pathID(r), page)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "timeline", evs, page.Limit, func(e *cairn.Event) int64 { return e.Seq })
}

// --- policy ---

func (s *Server) activePolicy(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	snap, err := s.svc.Active(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if snap == nil {
		writeJSON(w, 200, map[string]any{"policy_snapshot": nil, "text": "", "message": "no policy is published; every action is denied"})
		return
	}
	writeJSON(w, 200, cairn.ActivePolicy{PolicySnapshot: cairn.Opt(snap.ID), Text: snap.Text, ActivatedAt: snap.CreatedAt})
}

func (s *Server) publish(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.PublishRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ch, err := s.svc.Publish(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := 201
	if !ch.Changed {
		status = 200
	}
	writeJSON(w, status, ch)
}

func (s *Server) rollback(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.RollbackRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ch, err := s.svc.Rollback(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, ch)
}

func (s *Server) listSnapshots(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r)
	page := q.page("snapshots")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	snaps, err := s.svc.Snapshots(r.Context(), p, page)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "snapshots", snaps, page.Limit, func(s *cairn.Snapshot) int64 { return s.Seq })
}

func (s *Server) getSnapshot(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	snap, err := s.svc.Snapshot(r.Context(), p, pathID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, snap)
}

func (s *Server) policyAudit(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "action", "actor", "since", "until")
	f := cairn.AuditFilter{Action: q.enum("action", []string{"publish", "rollback"}), Actor: q.str("actor"),
		Since: q.time("since").t(), Until: q.time("until").t(), Page: q.page("policy_audit")}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	as, err := s.svc.PolicyAudit(r.Context(), p, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "policy_audit", as, f.Limit, func(a *cairn.PolicyAudit) int64 { return a.Seq })
}

func (s *Server) simulate(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.SimulateRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.Simulate(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, d)
}

// --- keys ---

func (s *Server) createKey(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.CreateKeyRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	k, err := s.svc.CreateKey(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, k)
}

func (s *Server) listKeys(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r)
	page := q.page("keys")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	ks, err := s.svc.ListKeys(r.Context(), p, page)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "keys", ks, page.Limit, func(k *cairn.Key) int64 { return k.Seq })
}

func (s *Server) revokeKey(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	if err := s.svc.RevokeKey(r.Context(), p, pathID(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"key_id": pathID(r), "revoked": true})
}

// --- ledger ---

func (s *Server) ledgerEntries(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "from")
	page := q.page("ledger")
	var from uint64
	if raw := q.str("from"); raw != "" && q.err == nil {
		n, err := strconv.ParseUint(raw, 10, 63)
		if err != nil {
			q.err = cairn.Invalid("from", "must be a non-negative integer (a ledger index)")
		}
		from = n
	}
	if page.After > 0 {
		if q.v.Get("from") != "" && q.err == nil {
			q.err = cairn.Invalid("from", "give from or cursor, not both")
		}
		from = uint64(page.After)
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	es, err := s.svc.LedgerEntries(r.Context(), p, from, page.Limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "ledger", es, page.Limit, func(e *cairn.LedgerEntry) int64 { return int64(e.Index) + 1 })
}

type timeVal time.Time

func (t timeVal) t() time.Time { return time.Time(t) }

func (s *Server) cancelJob(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.CancelRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.svc.Cancel(r.Context(), p, pathID(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, j)
}

func (s *Server) denies(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.DeniesRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.svc.Denies(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, out)
}
