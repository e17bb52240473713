package tracing

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Stamp gives evidence events of one job, built ahead of the transaction
// that writes them, the ids of the spans that write them (their "trace"
// member). start is when the work they record began; jobTraceID is the
// job's trace_id. Events must be stamped before they are canonicalised.
// Without tracing, or outside a traced request, it does nothing (the store
// wrapper stamps what reaches it unstamped).
func Stamp(ctx context.Context, start time.Time, jobTraceID string, evs ...*cairn.Event) {
	if !Enabled() {
		return
	}
	sc := scopeFrom(ctx)
	if sc == nil {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, ev := range evs {
		sc.stamp(ctx, ev, start, jobTraceID, nil)
	}
}

// stamp chooses the span that writes ev (see the package documentation and
// docs/evidence.md §2.6) and stamps ev with its ids. approval is the
// pending approval an approval_resolved event resolves.
func (s *scope) stamp(ctx context.Context, ev *cairn.Event, start time.Time, jobTrace string, approval *cairn.Approval) {
	cur := trace.SpanContextFromContext(ctx)
	if s.req != nil {
		cur = s.req.sc // the request's span (perhaps become a job's anchor)
	}
	if ev.JobID == "" {
		s.stampOther(ev, cur, start, "")
		return
	}
	// job keys the job's spans; it is not kept in j, so that it stays on
	// the stack.
	job := ev.Tenant + "\x00" + string(ev.JobID)
	j := s.jobStampFor(ev, cur, start, jobTrace, job)
	switch ev.Type {
	case cairn.EventJobSubmitted:
		j.submitted(job)
	case cairn.EventPolicyDecided:
		o := s.open(SpanPolicyEvaluate+"\x00"+job, j.child(SpanPolicyEvaluate))
		var phase string
		if d, ok := ev.Data.(*cairn.DecidedData); ok {
			phase = d.Phase
		}
		if o.sc.IsSampled() {
			o.attrs = spanAttrs(AttrDecision.String(ev.Decision), AttrRuleID.String(ev.PolicyRuleID),
				AttrSnapshot.String(ev.PolicySnapshot), AttrJobHash.String(ev.JobHash), AttrPhase.String(phase))
		}
		s.add(o, ev)
	case cairn.EventApprovalRequested:
		j.approvalRequested(job)
	case cairn.EventApprovalResolved:
		j.approvalResolved(job, approval)
	case cairn.EventJobDispatched:
		o := s.open(SpanJobDispatch+"\x00"+job, j.child(SpanJobDispatch))
		var worker string
		if d, ok := ev.Data.(*cairn.DispatchedData); ok {
			worker = d.WorkerID
		}
		if o.sc.IsSampled() {
			o.attrs = spanAttrs(AttrJobID.String(j.jobID), AttrWorkerID.String(worker), AttrJobHash.String(ev.JobHash), AttrJobState.String(ev.State))
		}
		s.add(o, ev)
	case cairn.EventJobCompleted, cairn.EventOutputChecked:
		j.completed(job)
	case cairn.EventLeaseExpired:
		o := s.open(SpanLeaseExpire+"\x00"+job, j.child(SpanLeaseExpire))
		if o.sc.IsSampled() {
			o.attrs = spanAttrs(AttrJobID.String(j.jobID), AttrJobState.String(ev.State))
		}
		s.add(o, ev)
	default:
		if cur.IsValid() {
			s.stampOther(ev, cur, start, job)
			return
		}
		o := s.open(SpanEvidence+"\x00"+job, j.child(SpanEvidence))
		s.add(o, ev)
	}
}

// jobStamp is what stamping one event of a job needs: the current span,
// the job's anchor span, and the parent and links of the job's spans.
type jobStamp struct {
	s                   *scope
	ev                  *cairn.Event
	cur, anchor, parent trace.SpanContext
	links               []trace.Link
	start               time.Time
	jobID               string
}

// jobStampFor works out where the spans of ev's job go: under the job's
// anchor, or, when the current span is in the job's trace and did not
// submit the job, under the current span (linked to it when it is in
// another trace).
func (s *scope) jobStampFor(ev *cairn.Event, cur trace.SpanContext, start time.Time, jobTrace, job string) jobStamp {
	jobID := string(ev.JobID)
	anchor := s.jobAnchor(ev.Tenant, jobID, jobTrace)
	if r := s.req; r != nil && sameSpan(r.sc, anchor) {
		anchor = r.sc // this request submitted the job: its children follow its sampling
	}
	submittedHere := s.find(SpanJobSubmit+"\x00"+job) != nil || (s.req != nil && sameSpan(s.req.sc, anchor))
	j := jobStamp{s: s, ev: ev, cur: cur, anchor: anchor, parent: anchor, start: start, jobID: jobID}
	if !submittedHere && cur.IsValid() {
		if cur.TraceID() == anchor.TraceID() {
			j.parent = cur
		} else {
			j.links = []trace.Link{{SpanContext: cur}}
		}
	}
	return j
}

// jobAnchor is jobAnchor(tenant, jobID, jobTrace), remembered for the
// scope's last job (a request stamps several events of one job: the id is
// hashed and the sampler asked once).
func (s *scope) jobAnchor(tenant, jobID, jobTrace string) trace.SpanContext {
	if c := &s.anchor; c.ok && c.tenant == tenant && c.jobID == jobID && c.trace == jobTrace {
		return c.sc
	}
	s.anchor = anchorMemo{sc: jobAnchor(tenant, jobID, jobTrace), tenant: tenant, jobID: jobID, trace: jobTrace, ok: true}
	return s.anchor.sc
}

// anchorMemo is the anchor span of the job jobID of tenant whose trace_id
// is trace, when ok.
type anchorMemo struct {
	sc                   trace.SpanContext
	tenant, jobID, trace string
	ok                   bool
}

// sameSpan reports whether a and b have the same trace and span ids.
func sameSpan(a, b trace.SpanContext) bool {
	return a.TraceID() == b.TraceID() && a.SpanID() == b.SpanID()
}

// child makes the op of a job span named name. The job's id is on the spans
// of its steps (the submit span also names the tenant); a policy evaluation
// is the submit's or the dispatch's child and names neither.
func (j *jobStamp) child(name string) func() *op {
	parent, links, start, jobID := j.parent, j.links, j.start, j.jobID // not j: it stays on the stack
	return func() *op {
		o := &op{name: name, primary: primaryOf(name), parent: parent, links: links, start: start,
			sc: spanContext(parent.TraceID(), randomSpanID(), parent.TraceFlags())}
		if name != SpanPolicyEvaluate && o.sc.IsSampled() {
			o.attrs = append(make([]attribute.KeyValue, 0, 7), AttrJobID.String(jobID)) // room for a completion's and the ledger's
		}
		return o
	}
}

// submitted stamps job_submitted: with the submit request's span when that
// is the job's anchor, otherwise with a cairn.job.submit span.
func (j *jobStamp) submitted(job string) {
	s, ev, anchor, cur, start := j.s, j.ev, j.anchor, j.cur, j.start
	if r := s.req; r != nil && r.own.TraceID() == anchor.TraceID() && (r.sc.SpanID() == r.own.SpanID() || r.sc.SpanID() == anchor.SpanID()) {
		// The submit request's span is the job's anchor: the job's
		// later spans are its children.
		if r.sc.SpanID() == r.own.SpanID() {
			r.sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: anchor.TraceID(), SpanID: anchor.SpanID(), TraceFlags: r.own.TraceFlags(), TraceState: r.own.TraceState()})
			r.primary = cairn.EventJobSubmitted
			if r.own.IsSampled() {
				r.attrs = append(r.attrs, AttrTenant.String(ev.Tenant), AttrJobID.String(j.jobID))
			}
		}
		s.add(r, ev)
		return
	}
	o := s.open(SpanJobSubmit+"\x00"+job, func() *op {
		o := &op{name: SpanJobSubmit, primary: cairn.EventJobSubmitted, start: start}
		flags := anchor.TraceFlags()
		switch {
		case cur.IsValid() && cur.TraceID() == anchor.TraceID():
			o.parent, flags = cur, cur.TraceFlags()
		case cur.IsValid():
			o.links = []trace.Link{{SpanContext: cur}}
		}
		o.sc = spanContext(anchor.TraceID(), anchor.SpanID(), flags)
		return o
	})
	if o.sc.IsSampled() {
		o.attrs = spanAttrs(AttrTenant.String(ev.Tenant), AttrJobID.String(j.jobID), AttrJobHash.String(ev.JobHash), AttrJobState.String(ev.State))
	}
	s.add(o, ev)
}

// approvalRequested stamps approval_requested with the ids of the wait span,
// which is recorded when the approval is resolved.
func (j *jobStamp) approvalRequested(job string) {
	ev := j.ev
	if d, ok := ev.Data.(*cairn.ApprovalRequestedData); ok && d.Approval != nil {
		sid := waitSpanID(ev.Tenant, d.Approval.ApprovalID)
		ev.Trace = traceRef(j.anchor.TraceID(), sid)
		return
	}
	j.s.stampOther(ev, j.cur, j.start, job)
}

// approvalResolved stamps approval_resolved with the wait span of approval,
// which starts when it was requested.
func (j *jobStamp) approvalResolved(job string, approval *cairn.Approval) {
	s, ev, anchor, links := j.s, j.ev, j.anchor, j.links
	if approval == nil {
		s.stampOther(ev, j.cur, j.start, job)
		return
	}
	o := s.open(SpanApprovalWait+"\x00"+job, func() *op {
		o := &op{name: SpanApprovalWait, primary: cairn.EventApprovalResolved, parent: anchor, links: links,
			start: approval.RequestedAt, sc: spanContext(anchor.TraceID(), waitSpanID(ev.Tenant, approval.ApprovalID), anchor.TraceFlags())}
		if l := approval.Ledger; l != nil && o.sc.IsSampled() {
			o.extra = []trace.EventOption{trace.WithTimestamp(approval.RequestedAt), trace.WithAttributes(
				AttrLedgerEventType.String(cairn.EventApprovalRequested), AttrLedgerIndex.Int64(int64(l.Index)), AttrLedgerLeafHash.String(l.LeafHash))}
		}
		return o
	})
	if !o.sc.IsSampled() {
		s.add(o, ev)
		return
	}
	o.attrs = append(o.attrs[:0:0], AttrJobID.String(j.jobID), AttrApprovalID.String(approval.ApprovalID), AttrResolution.String(ev.Resolution),
		AttrResolver.String(ev.ResolvedBy), AttrJobHash.String(ev.JobHash), AttrJobState.String(ev.State))
	if l := approval.Ledger; l != nil {
		o.attrs = append(o.attrs, AttrRequestedLedgerIdx.Int64(int64(l.Index)), AttrRequestedLeafHash.String(l.LeafHash))
	}
	s.add(o, ev)
}

// completed stamps job_completed and output_checked with the
// cairn.job.complete span.
func (j *jobStamp) completed(job string) {
	ev := j.ev
	o := j.s.open(SpanJobComplete+"\x00"+job, j.child(SpanJobComplete))
	if !o.sc.IsSampled() {
		j.s.add(o, ev)
		return
	}
	if ev.Type == cairn.EventJobCompleted {
		o.attrs = append(o.attrs, AttrJobState.String(ev.State), AttrJobHash.String(ev.JobHash))
	}
	if v := ev.OutputSafety; v != nil {
		o.attrs = append(o.attrs, AttrOutputDecision.String(v.Decision), AttrOutputRuleID.String(string(v.RuleID)))
	}
	j.s.add(o, ev)
}

// stampOther gives ev to the request's span, or outside a request to a
// cairn.evidence span of its own (in the job's trace when key names a job).
func (s *scope) stampOther(ev *cairn.Event, cur trace.SpanContext, start time.Time, job string) {
	if s.req != nil {
		s.add(s.req, ev)
		return
	}
	o := s.open(SpanEvidence+"\x00"+ev.Tenant+"\x00"+job, func() *op {
		t, sid := idGenerator{}.NewIDs(context.Background())
		flags := trace.TraceFlags(0)
		if sampled(t, SpanEvidence) {
			flags = trace.FlagsSampled
		}
		o := &op{name: SpanEvidence, start: start, sc: spanContext(t, sid, flags)}
		if o.sc.IsSampled() {
			o.attrs = spanAttrs(AttrTenant.String(ev.Tenant))
		}
		return o
	})
	s.add(o, ev)
}

// spanAttrs returns attrs in a new slice with room for the two ledger
// attributes record appends.
func spanAttrs(attrs ...attribute.KeyValue) []attribute.KeyValue {
	return append(make([]attribute.KeyValue, 0, len(attrs)+2), attrs...)
}

func spanContext(t trace.TraceID, s trace.SpanID, f trace.TraceFlags) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: t, SpanID: s, TraceFlags: f})
}

func primaryOf(name string) string {
	switch name {
	case SpanPolicyEvaluate:
		return cairn.EventPolicyDecided
	case SpanJobDispatch:
		return cairn.EventJobDispatched
	case SpanJobComplete:
		return cairn.EventJobCompleted
	case SpanLeaseExpire:
		return cairn.EventLeaseExpired
	}
	return ""
}

// Propagate returns the W3C traceparent (and tracestate) a worker continues
// the job's trace with: the span that wrote ev (the job's dispatch). Both
// are empty when ev was not stamped.
func Propagate(ctx context.Context, ev *cairn.Event) (traceparent, tracestate string) {
	if ev == nil || ev.Trace == nil {
		return "", ""
	}
	flags := trace.TraceFlags(0)
	if sc := scopeFrom(ctx); sc != nil {
		sc.mu.Lock()
		if o, _ := sc.opOf(ev); o != nil {
			flags = o.sc.TraceFlags()
		}
		sc.mu.Unlock()
	}
	if cur := trace.SpanContextFromContext(ctx); cur.IsValid() && cur.TraceID().String() == ev.Trace.TraceID {
		tracestate = cur.TraceState().String()
	}
	return fmt.Sprintf("00-%s-%s-%s", ev.Trace.TraceID, ev.Trace.SpanID, flags), tracestate
}
