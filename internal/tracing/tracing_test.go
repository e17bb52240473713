package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	nethttp "net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/internal/tracing"
	"github.com/cairnhq/cairn/internal/tracing/otlptest"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// startTracing points the OTLP exporter at rc through the standard
// environment variables and installs it; the returned function flushes
// and uninstalls it.
func startTracing(t testing.TB, rc *otlptest.Receiver) func() {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_SERVICE_NAME", "cairn-test")
	sampler := "parentbased_always_on"
	if s := os.Getenv("CAIRN_BENCH_SAMPLER"); s != "" {
		sampler = s // benchmarks: always_off stamps evidence but records no span
	}
	t.Setenv("OTEL_TRACES_SAMPLER", sampler)
	shutdown, err := tracing.Setup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !tracing.Enabled() {
		t.Fatal("tracing is off with an endpoint set")
	}
	done := false
	stop := func() {
		if !done {
			done = true
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("tracing shutdown: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// call sends a request with optional headers and decodes a 2xx answer.
func call(t *testing.T, e *apitest.Env, as, method, path string, body any, header map[string]string, out any) nethttp.Header {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := nethttp.NewRequest(method, e.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+e.Keys[as])
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.Header
}

// TestJobSpanTree follows one job from submit through approval and
// dispatch to completion and checks, from the spans an OTLP/HTTP receiver
// decoded: the span tree in the job's trace, the attributes of each step,
// and that every ledger entry of the job names a span that carries its
// index and leaf hash (and back).
func TestJobSpanTree(t *testing.T) {
	rc := otlptest.New(t, true)
	stop := startTracing(t, rc)
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-0123456789", LedgerKey: true, WrapStore: tracing.WrapStore})
	e.Key("polly", "human", "policy_admin")
	e.Key("agent-1", "agent", "agent")
	e.Key("approver-1", "human", "approver")
	e.Key("worker-1", "service", "worker")
	e.Key("auditor-1", "human", "auditor")
	var snap cairn.Snapshot
	e.MustDo("polly", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: apitest.ApprovalPolicy, Message: "t"}, 201, &snap)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var job cairn.Job
	call(t, e, "agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j1", Action: "db.write", Input: json.RawMessage(`{"q":"update"}`)},
		map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01", "tracestate": "vendor=x"}, &job)
	if job.TraceID != traceID || job.State != cairn.StatePendingApproval {
		t.Fatalf("submitted job: trace_id %q state %s", job.TraceID, job.State)
	}
	var approval cairn.Approval
	call(t, e, "approver-1", "POST", "/api/v1/approvals/j1/approve", cairn.ResolveRequest{JobHash: job.JobHash, Comment: "ok"}, nil, &approval)
	var leased []*cairn.LeasedJob
	var lr struct {
		Jobs []*cairn.LeasedJob `json:"jobs"`
	}
	call(t, e, "worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w1", Actions: []string{"db.*"}, Max: 1}, nil, &lr)
	leased = lr.Jobs
	if len(leased) != 1 {
		t.Fatalf("leased %d jobs", len(leased))
	}
	tp := leased[0].Traceparent
	// Leased in another request (the worker's own trace): the job's trace
	// state still comes with its traceparent.
	if leased[0].Tracestate != "vendor=x" {
		t.Errorf("lease answer tracestate %q, want the submit request's %q", leased[0].Tracestate, "vendor=x")
	}
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[1] != traceID || parts[3] != "01" {
		t.Fatalf("lease answer traceparent %q does not continue the job's trace %s", tp, traceID)
	}
	dispatchID := parts[2]
	call(t, e, "worker-1", "POST", "/api/v1/jobs/j1/complete", cairn.CompleteRequest{LeaseID: leased[0].LeaseID, Status: "succeeded", Result: json.RawMessage(`{"rows":1}`)},
		map[string]string{"traceparent": tp}, nil)
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	var v struct{ OK bool }
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/verify", nil, 200, &v)
	if !v.OK {
		t.Fatal("the ledger with trace members does not verify")
	}
	stop() // flush

	if bad := rc.Refused(); len(bad) > 0 {
		t.Fatalf("receiver refused requests: %v", bad)
	}
	for _, s := range rc.Services() {
		if s != "cairn-test" {
			t.Errorf("service.name %q, want OTEL_SERVICE_NAME", s)
		}
	}
	byID := map[string]*tracepb.Span{}
	byName := map[string][]*tracepb.Span{}
	for _, s := range rc.Spans() {
		if otlptest.HexID(s.TraceId) != traceID {
			continue
		}
		if _, dup := byID[otlptest.HexID(s.SpanId)]; dup {
			t.Errorf("span id %s recorded twice", otlptest.HexID(s.SpanId))
		}
		byID[otlptest.HexID(s.SpanId)] = s
		byName[s.Name] = append(byName[s.Name], s)
	}
	one := func(name string) *tracepb.Span {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans named %q in the job's trace; have %v", len(byName[name]), name, names(byName))
		}
		return byName[name][0]
	}
	parentIs := func(s *tracepb.Span, want string) {
		t.Helper()
		if got := otlptest.HexID(s.ParentSpanId); got != want {
			t.Errorf("%s: parent %s, want %s", s.Name, got, want)
		}
	}
	str := func(s *tracepb.Span, key string) any { return otlptest.Attr(s.Attributes, key) }

	post := one("POST /api/v1/jobs")
	parentIs(post, parentID)
	checkSubmitSpans(t, post, byName[tracing.SpanPolicyEvaluate], byID)
	if s := str(post, "http.response.status_code"); s != int64(201) {
		t.Errorf("submit request status attribute %v", s)
	}
	// The submit request's span is the job's anchor: the parent of its
	// later spans, whichever request or replica records them.
	if n := len(byName[tracing.SpanJobSubmit]); n != 0 {
		t.Errorf("%d cairn.job.submit spans for a job in its submit request's trace", n)
	}
	submitID := otlptest.HexID(post.SpanId)
	if str(post, "cairn.job.id") != "j1" || str(post, "cairn.tenant") != "default" {
		t.Errorf("submit span attributes %v", post.Attributes)
	}

	evals := byName[tracing.SpanPolicyEvaluate]
	if len(evals) != 2 {
		t.Fatalf("%d policy evaluations, want submit and dispatch", len(evals))
	}
	phases := map[any]bool{}
	for _, s := range evals {
		parentIs(s, submitID)
		phases[str(s, "cairn.policy.phase")] = true
		if str(s, "cairn.policy.decision") != cairn.RequireApproval || str(s, "cairn.policy.rule_id") != "writes-need-approval" ||
			str(s, "cairn.policy.snapshot") != snap.ID || str(s, "cairn.job_hash") != job.JobHash {
			t.Errorf("policy span attributes %v", s.Attributes)
		}
	}
	if !phases["submit"] || !phases["dispatch"] {
		t.Errorf("policy phases %v", phases)
	}
	wait := one(tracing.SpanApprovalWait)
	parentIs(wait, submitID)
	if str(wait, "cairn.approval.resolution") != "approved" || str(wait, "cairn.approval.resolver") != "approver-1" {
		t.Errorf("wait span attributes %v", wait.Attributes)
	}
	if got, want := time.Unix(0, int64(wait.StartTimeUnixNano)), approval.RequestedAt; !got.Equal(want) {
		t.Errorf("approval wait starts %v, the approval was requested %v", got, want)
	}
	if approval.ResolvedAt == nil || time.Unix(0, int64(wait.EndTimeUnixNano)).Before(*approval.ResolvedAt) {
		t.Errorf("approval wait ends %v, before its resolution %v", time.Unix(0, int64(wait.EndTimeUnixNano)), approval.ResolvedAt)
	}
	dispatch := one(tracing.SpanJobDispatch)
	parentIs(dispatch, submitID)
	if otlptest.HexID(dispatch.SpanId) != dispatchID {
		t.Errorf("dispatch span %s, lease answer names %s", otlptest.HexID(dispatch.SpanId), dispatchID)
	}
	if len(dispatch.Links) != 1 {
		t.Errorf("dispatch span has %d links, want one to the lease request", len(dispatch.Links))
	}
	creq := one("POST /api/v1/jobs/{id}/complete")
	parentIs(creq, dispatchID)
	complete := one(tracing.SpanJobComplete)
	parentIs(complete, otlptest.HexID(creq.SpanId))
	if str(complete, "cairn.output_safety.decision") != cairn.OutputAllow || str(complete, "cairn.output_safety.rule_id") != "out-secrets" || str(complete, "cairn.job.state") != cairn.StateSucceeded {
		t.Errorf("complete span attributes %v", complete.Attributes)
	}

	// Evidence -> span: every entry of the job names its span, and the
	// span lists the entry (index and leaf hash).
	seen := 0
	entryAt := map[int64]*cairn.LedgerEntry{}
	for _, en := range entries.Items {
		entryAt[int64(en.Index)] = en
		var body struct {
			Event struct {
				Type  string          `json:"type"`
				JobID string          `json:"job_id"`
				Trace *cairn.TraceRef `json:"trace"`
			} `json:"event"`
		}
		if err := json.Unmarshal(en.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Event.JobID != "j1" {
			continue
		}
		seen++
		tr := body.Event.Trace
		if tr == nil || tr.TraceID != traceID {
			t.Errorf("entry %d (%s) trace %+v", en.Index, body.Event.Type, tr)
			continue
		}
		s := byID[tr.SpanID]
		if s == nil {
			t.Errorf("entry %d (%s) names span %s, which was not recorded", en.Index, body.Event.Type, tr.SpanID)
			continue
		}
		// The span names the entry: in its attributes (its main entry) or in
		// a cairn.ledger.append span event (any other).
		found := otlptest.Attr(s.Attributes, "cairn.ledger.index") == int64(en.Index) && otlptest.Attr(s.Attributes, "cairn.ledger.leaf_hash") == en.LeafHash
		for _, ev := range s.Events {
			if ev.Name == tracing.EventLedgerAppend && otlptest.Attr(ev.Attributes, "cairn.ledger.index") == int64(en.Index) && otlptest.Attr(ev.Attributes, "cairn.ledger.leaf_hash") == en.LeafHash {
				found = true
			}
		}
		if !found {
			t.Errorf("span %s (%s) does not list entry %d (%s)", tr.SpanID, s.Name, en.Index, body.Event.Type)
		}
	}
	if seen < 8 {
		t.Errorf("%d ledger entries of the job, want submit through output check", seen)
	}
	// Span -> evidence: each evidence span's cairn.ledger.index names an
	// entry with its leaf hash, stamped with the span's ids.
	for _, name := range []string{"POST /api/v1/jobs", tracing.SpanPolicyEvaluate, tracing.SpanApprovalWait, tracing.SpanJobDispatch, tracing.SpanJobComplete} {
		for _, s := range byName[name] {
			idx, ok := str(s, "cairn.ledger.index").(int64)
			en := entryAt[idx]
			if !ok || en == nil || str(s, "cairn.ledger.leaf_hash") != en.LeafHash {
				t.Errorf("%s: cairn.ledger.index %v leaf_hash %v do not name an entry", name, str(s, "cairn.ledger.index"), str(s, "cairn.ledger.leaf_hash"))
				continue
			}
			if !strings.Contains(string(en.Body), `"trace":{"span_id":"`+otlptest.HexID(s.SpanId)+`","trace_id":"`+traceID+`"}`) {
				t.Errorf("%s: entry %d is not stamped with the span", name, idx)
			}
		}
	}
}

func names(m map[string][]*tracepb.Span) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"×"+string(rune('0'+len(v))))
	}
	return out
}

// TestJobOutsideRequestTrace: a job whose trace_id is not the submit
// request's trace (a client-chosen id that is no W3C trace id) gets its
// spans in its own trace, under a cairn.job.submit span linked to the
// request; an idempotent replay of the submit records no job span.
func TestJobOutsideRequestTrace(t *testing.T) {
	rc := otlptest.New(t, true)
	stop := startTracing(t, rc)
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-0123456789", WrapStore: tracing.WrapStore})
	e.Key("agent-1", "agent", "agent")
	e.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: apitest.ApprovalPolicy, Message: "t"}, 201, nil)
	req := cairn.SubmitRequest{JobID: "j2", TraceID: "order-42", Action: "db.read", Input: json.RawMessage(`{}`)}
	var job cairn.Job
	call(t, e, "agent-1", "POST", "/api/v1/jobs", req, nil, &job)
	call(t, e, "agent-1", "POST", "/api/v1/jobs", req, nil, nil) // replay
	// A job in its request's trace, submitted twice: the replay's span
	// must not take the job's anchor id (the first submit's span has it).
	same := cairn.SubmitRequest{JobID: "j3", Action: "db.read", Input: json.RawMessage(`{}`)}
	call(t, e, "agent-1", "POST", "/api/v1/jobs", same, nil, nil)
	call(t, e, "agent-1", "POST", "/api/v1/jobs", same, nil, nil)
	stop()
	ids := map[string]string{}
	for _, s := range rc.Spans() {
		id := otlptest.HexID(s.SpanId)
		if prev, dup := ids[id]; dup {
			t.Errorf("span id %s recorded twice (%s, %s)", id, prev, s.Name)
		}
		ids[id] = s.Name
	}
	want := tracing.JobTraceID("order-42").String()
	var submits, posts []*tracepb.Span
	for _, s := range rc.Spans() {
		switch s.Name {
		case tracing.SpanJobSubmit:
			submits = append(submits, s)
		case "POST /api/v1/jobs":
			posts = append(posts, s)
		}
	}
	if len(posts) != 4 || len(submits) != 1 {
		t.Fatalf("%d submit request spans, %d cairn.job.submit spans; want 4 and 1", len(posts), len(submits))
	}
	s := submits[0]
	if otlptest.HexID(s.TraceId) != want || len(s.ParentSpanId) != 0 {
		t.Errorf("cairn.job.submit in trace %s with parent %x; want the root of %s", otlptest.HexID(s.TraceId), s.ParentSpanId, want)
	}
	if len(s.Links) != 1 || otlptest.HexID(s.Links[0].SpanId) != otlptest.HexID(posts[0].SpanId) {
		t.Errorf("cairn.job.submit links %v, want the first submit request", s.Links)
	}
	for _, p := range posts {
		if otlptest.HexID(p.SpanId) == otlptest.HexID(s.SpanId) {
			t.Error("a request span has the job's anchor id outside the job's trace")
		}
	}
}

// TestApprovalExpiryTrace: an approval that expires unanswered is
// resolved by the server's expiry loop, outside any request; its wait span
// is recorded then, in the job's trace under the submit span, from the
// request to the expiry, with resolution expired.
func TestApprovalExpiryTrace(t *testing.T) {
	rc := otlptest.New(t, true)
	stop := startTracing(t, rc)
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-0123456789", WrapStore: tracing.WrapStore})
	e.Key("agent-1", "agent", "agent")
	e.Key("auditor-1", "human", "auditor")
	quick := strings.Replace(apitest.ApprovalPolicy, "expires_in: 1h", "expires_in: 1s", 1)
	e.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: quick, Message: "t"}, 201, nil)
	var job cairn.Job
	call(t, e, "agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-exp", Action: "db.write", Input: json.RawMessage(`{}`)}, nil, &job)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var j cairn.Job
		e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-exp", nil, 200, &j)
		if j.State == cairn.StateExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approval did not expire: %s", j.State)
		}
	}
	var a cairn.List[*cairn.Approval]
	e.MustDo("auditor-1", "GET", "/api/v1/approvals?include_resolved=true", nil, 200, &a)
	stop()
	var post, wait *tracepb.Span
	for _, s := range rc.Spans() {
		if otlptest.HexID(s.TraceId) != job.TraceID {
			continue
		}
		switch s.Name {
		case "POST /api/v1/jobs":
			post = s
		case tracing.SpanApprovalWait:
			wait = s
		}
	}
	if post == nil || wait == nil {
		t.Fatalf("submit span %v, wait span %v", post != nil, wait != nil)
	}
	if otlptest.HexID(wait.ParentSpanId) != otlptest.HexID(post.SpanId) {
		t.Errorf("wait span parent %x, want the submit span", wait.ParentSpanId)
	}
	if otlptest.Attr(wait.Attributes, "cairn.approval.resolution") != "expired" || otlptest.Attr(wait.Attributes, "cairn.approval.resolver") != "cairn" {
		t.Errorf("wait span attributes %v", wait.Attributes)
	}
	if len(a.Items) != 1 || a.Items[0].ResolvedAt == nil || !time.Unix(0, int64(wait.StartTimeUnixNano)).Equal(a.Items[0].RequestedAt) ||
		time.Unix(0, int64(wait.EndTimeUnixNano)).Before(*a.Items[0].ResolvedAt) {
		t.Errorf("wait span %v..%v, approval %+v", time.Unix(0, int64(wait.StartTimeUnixNano)), time.Unix(0, int64(wait.EndTimeUnixNano)), a.Items)
	}
	if otlptest.Attr(wait.Attributes, "cairn.ledger.leaf_hash") == nil {
		t.Error("the wait span does not name its ledger entry")
	}
}

// TestUnsampledSubmit: a submit whose traceparent says "not sampled"
// records no span of that job's submit (no orphan evaluation span), and
// its evidence still names the spans.
func TestUnsampledSubmit(t *testing.T) {
	rc := otlptest.New(t, true)
	stop := startTracing(t, rc)
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-0123456789", WrapStore: tracing.WrapStore})
	e.Key("agent-1", "agent", "agent")
	e.Key("auditor-1", "human", "auditor")
	e.MustDo("admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: apitest.ApprovalPolicy, Message: "t"}, 201, nil)
	const traceID = "6bf92f3577b34da6a3ce929d0e0e4736"
	call(t, e, "agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-u", Action: "db.read", Input: json.RawMessage(`{}`)},
		map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-00"}, nil)
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	stop()
	for _, s := range rc.Spans() {
		if otlptest.HexID(s.TraceId) == traceID {
			t.Errorf("span %s recorded in an unsampled trace", s.Name)
		}
	}
	stamped := 0
	for _, en := range entries.Items {
		if strings.Contains(string(en.Body), `"job_id":"j-u"`) && strings.Contains(string(en.Body), `"trace_id":"`+traceID+`"}`) {
			stamped++
		}
	}
	if stamped != 2 {
		t.Errorf("%d of the job's entries name their span, want 2", stamped)
	}
}

// checkSubmitSpans: the request's tracestate stays with the spans of its
// trace, as the SDK's samplers hand a parent's on to its children (ADR
// 0056); span kinds; every span has one value per attribute key.
func checkSubmitSpans(t *testing.T, post *tracepb.Span, evals []*tracepb.Span, byID map[string]*tracepb.Span) {
	t.Helper()
	var submitEval *tracepb.Span
	for _, s := range evals {
		if otlptest.Attr(s.Attributes, "cairn.policy.phase") == "submit" {
			submitEval = s
		}
	}
	if submitEval == nil {
		t.Fatal("no cairn.policy.evaluate span of the submit phase")
	}
	for _, s := range []*tracepb.Span{post, submitEval} {
		if s.TraceState != "vendor=x" {
			t.Errorf("%s: tracestate %q, want the request's", s.Name, s.TraceState)
		}
	}
	if post.Kind != tracepb.Span_SPAN_KIND_SERVER || submitEval.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("span kinds %v and %v, want server and internal", post.Kind, submitEval.Kind)
	}
	for _, s := range byID {
		seen := map[string]bool{}
		for _, kv := range s.Attributes {
			if seen[kv.Key] {
				t.Errorf("%s: attribute %s twice", s.Name, kv.Key)
			}
			seen[kv.Key] = true
		}
	}
}
