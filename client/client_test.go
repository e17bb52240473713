package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

const testKey = "ck_test_secret_key"

func newTest(t *testing.T, h http.HandlerFunc, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts = append([]Option{WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	return New(srv.URL, testKey, opts...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestNewBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8081":         "http://127.0.0.1:8081",
		"http://127.0.0.1:8081/":        "http://127.0.0.1:8081",
		"http://127.0.0.1:8081/api/v1":  "http://127.0.0.1:8081",
		"http://127.0.0.1:8081/api/v1/": "http://127.0.0.1:8081",
		"127.0.0.1:8081":                "http://127.0.0.1:8081",
		"https://cairn.example/prefix":  "https://cairn.example/prefix",
	} {
		if got := New(in, "").BaseURL(); got != want {
			t.Errorf("New(%q).BaseURL() = %q, want %q", in, got, want)
		}
	}
}

func TestSubmitJob(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/jobs" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := r.Header.Get("User-Agent"); got != "test-agent" {
			t.Errorf("User-Agent = %q", got)
		}
		var req cairn.SubmitRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Fatal(err)
		}
		if req.JobID != "job-1" || req.Action != "db.write" || req.Labels["env"] != "prod" || string(req.Input) != `{"id":42}` {
			t.Errorf("body = %+v", req)
		}
		status := http.StatusCreated
		if n > 1 {
			status = http.StatusOK
		}
		writeJSON(w, status, `{"job_id":"job-1","run_id":null,"action":"db.write","state":"PENDING_APPROVAL","decision":"REQUIRE_APPROVAL","policy_rule_id":"prod-write","job_hash":"ab12","created_at":"2026-04-01T14:10:32Z"}`)
	}, WithUserAgent("test-agent"))

	req := cairn.SubmitRequest{JobID: "job-1", Action: "db.write", Labels: map[string]string{"env": "prod"}, Input: json.RawMessage(`{"id":42}`)}
	job, replayed, err := c.SubmitJobReplayed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if replayed || job.JobID != "job-1" || job.State != cairn.StatePendingApproval || job.PolicyRuleID != "prod-write" || job.RunID != "" {
		t.Errorf("job = %+v, replayed %v", job, replayed)
	}
	if !job.CreatedAt.Equal(time.Date(2026, 4, 1, 14, 10, 32, 0, time.UTC)) {
		t.Errorf("created_at = %v", job.CreatedAt)
	}
	_, replayed, err = c.SubmitJobReplayed(context.Background(), req)
	if err != nil || !replayed {
		t.Errorf("second submit: replayed %v, err %v", replayed, err)
	}
}

// TestRoutes checks the method, path, query and body every method sends and
// that it decodes the canned answer.
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	since := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	type route struct {
		name      string
		call      func(c *Client) (any, error)
		method    string
		path      string // r.URL.EscapedPath()
		query     string // r.URL.RawQuery, sorted (url.Values.Encode)
		body      string // expected JSON body, "" for none
		answer    string
		check     func(t *testing.T, got any)
		noAuthHdr bool
	}
	routes := []route{
		{name: "GetJob", call: func(c *Client) (any, error) { return c.GetJob(ctx, "job/1") },
			method: "GET", path: "/api/v1/jobs/job%2F1", answer: `{"job_id":"job/1","state":"QUEUED"}`,
			check: func(t *testing.T, got any) {
				if j := got.(*cairn.Job); j.JobID != "job/1" || j.State != "QUEUED" {
					t.Errorf("job = %+v", j)
				}
			}},
		{name: "ListJobs", call: func(c *Client) (any, error) {
			return c.ListJobs(ctx, JobFilter{State: "QUEUED", Action: "db.*", RunID: "r1", Decision: "ALLOW", PolicyRuleID: "x", SubmittedBy: "bot", Since: since, Page: Page{Limit: 10, Cursor: "c1"}})
		},
			method: "GET", path: "/api/v1/jobs",
			query:  "action=db.%2A&cursor=c1&decision=ALLOW&limit=10&policy_rule_id=x&run_id=r1&since=2026-04-01T00%3A00%3A00Z&state=QUEUED&submitted_by=bot",
			answer: `{"items":[{"job_id":"a"},{"job_id":"b"}],"next_cursor":"c2"}`,
			check: func(t *testing.T, got any) {
				l := got.(*cairn.List[*cairn.Job])
				if len(l.Items) != 2 || l.Items[1].JobID != "b" || l.NextCursor == nil || *l.NextCursor != "c2" {
					t.Errorf("list = %+v", l)
				}
			}},
		{name: "ListDecisions", call: func(c *Client) (any, error) { return c.ListDecisions(ctx, "j1", Page{}) },
			method: "GET", path: "/api/v1/jobs/j1/decisions", answer: `{"items":[{"decision_id":"d1","phase":"submit","decision":"ALLOW"}],"next_cursor":null}`,
			check: func(t *testing.T, got any) {
				l := got.(*cairn.List[*cairn.Decision])
				if len(l.Items) != 1 || l.Items[0].Phase != "submit" || l.NextCursor != nil {
					t.Errorf("list = %+v", l)
				}
			}},
		{name: "GetEvidence", call: func(c *Client) (any, error) { return c.GetEvidence(ctx, "j1") },
			method: "GET", path: "/api/v1/jobs/j1/evidence", answer: `{"job_id":"j1","decision":"REQUIRE_APPROVAL","resolution":"approved","resolved_by":"alice","output_safety":{"decision":"ALLOW","rule_id":null}}`,
			check: func(t *testing.T, got any) {
				r := got.(*cairn.DecisionRecord)
				if r.Resolution != "approved" || r.ResolvedBy != "alice" || r.OutputSafety == nil || r.OutputSafety.Decision != "ALLOW" {
					t.Errorf("record = %+v", r)
				}
			}},
		{name: "GetContext", call: func(c *Client) (any, error) { return c.GetContext(ctx, "j1") },
			method: "GET", path: "/api/v1/jobs/j1/context", answer: `{"id": 42}`,
			check: func(t *testing.T, got any) {
				if string(got.(json.RawMessage)) != `{"id": 42}` {
					t.Errorf("context = %s", got)
				}
			}},
		{name: "GetResult", call: func(c *Client) (any, error) { return c.GetResult(ctx, "j1") },
			method: "GET", path: "/api/v1/jobs/j1/result", answer: `[1,2]`},
		{name: "CompleteJob", call: func(c *Client) (any, error) {
			return c.CompleteJob(ctx, "j1", cairn.CompleteRequest{LeaseID: "l1", Status: "succeeded", Result: json.RawMessage(`{"ok":true}`)})
		},
			method: "POST", path: "/api/v1/jobs/j1/complete", body: `{"lease_id":"l1","status":"succeeded","result":{"ok":true}}`,
			answer: `{"job_id":"j1","state":"SUCCEEDED"}`},
		{name: "ListApprovals", call: func(c *Client) (any, error) {
			return c.ListApprovals(ctx, ApprovalFilter{RunID: "r1", ResolvedBy: "alice"})
		},
			method: "GET", path: "/api/v1/approvals", query: "include_resolved=false&resolved_by=alice&run_id=r1",
			answer: `{"items":[{"approval_id":"a1","job_id":"j1","status":"pending","resolution":null}],"next_cursor":null}`},
		{name: "ListApprovalsAll", call: func(c *Client) (any, error) {
			return c.ListApprovals(ctx, ApprovalFilter{IncludeResolved: true, PolicyRuleID: "r"})
		},
			method: "GET", path: "/api/v1/approvals", query: "include_resolved=true&policy_rule_id=r",
			answer: `{"items":[],"next_cursor":null}`},
		{name: "Approve", call: func(c *Client) (any, error) {
			return c.Approve(ctx, "j1", cairn.ResolveRequest{JobHash: "ab", Comment: "ok"})
		},
			method: "POST", path: "/api/v1/approvals/j1/approve", body: `{"job_hash":"ab","comment":"ok"}`,
			answer: `{"approval_id":"a1","job_id":"j1","status":"resolved","resolution":"approved","resolved_by":"alice"}`,
			check: func(t *testing.T, got any) {
				if a := got.(*cairn.Approval); a.Resolution != "approved" {
					t.Errorf("approval = %+v", a)
				}
			}},
		{name: "Reject", call: func(c *Client) (any, error) {
			return c.Reject(ctx, "j1", cairn.ResolveRequest{JobHash: "ab"})
		},
			method: "POST", path: "/api/v1/approvals/j1/reject", body: `{"job_hash":"ab","comment":""}`,
			answer: `{"approval_id":"a1","resolution":"rejected"}`},
		{name: "Lease", call: func(c *Client) (any, error) {
			return c.Lease(ctx, cairn.LeaseRequest{WorkerID: "w1", Actions: []string{"db.*"}, Max: 2, WaitMS: 100})
		},
			method: "POST", path: "/api/v1/workers/lease", body: `{"worker_id":"w1","actions":["db.*"],"max":2,"wait_ms":100}`,
			answer: `{"jobs":[{"job_id":"j1","lease_id":"l1","input":{"a":1}}]}`,
			check: func(t *testing.T, got any) {
				if r := got.(*cairn.LeaseResponse); len(r.Jobs) != 1 || r.Jobs[0].LeaseID != "l1" {
					t.Errorf("lease = %+v", r)
				}
			}},
		{name: "GetRun", call: func(c *Client) (any, error) { return c.GetRun(ctx, "run-1") },
			method: "GET", path: "/api/v1/workflow-runs/run-1", answer: `{"run_id":"run-1","status":"running","jobs":[{"job_id":"j1"}]}`},
		{name: "Timeline", call: func(c *Client) (any, error) {
			return c.Timeline(ctx, "run-1", TimelineFilter{After: 7, Page: Page{Limit: 200}})
		},
			method: "GET", path: "/api/v1/workflow-runs/run-1/timeline", query: "after=7&limit=200",
			answer: `{"items":[{"seq":8,"type":"job_completed"}],"next_cursor":null}`},
		{name: "GetPolicy", call: func(c *Client) (any, error) { return c.GetPolicy(ctx) },
			method: "GET", path: "/api/v1/policy", answer: `{"policy_snapshot":"cfg:system:policy#sha256:aa","text":"default: deny\n"}`},
		{name: "PublishPolicy", call: func(c *Client) (any, error) {
			return c.PublishPolicy(ctx, cairn.PublishRequest{Bundle: "default: deny\n", Message: "m"})
		},
			method: "POST", path: "/api/v1/policy/publish", body: `{"bundle":"default: deny\n","message":"m"}`,
			answer: `{"policy_snapshot":"cfg:system:policy#sha256:aa","changed":true,"audit":{"audit_id":"p1","action":"publish"}}`},
		{name: "RollbackPolicy", call: func(c *Client) (any, error) {
			return c.RollbackPolicy(ctx, cairn.RollbackRequest{To: "cfg:system:policy#sha256:aa"})
		},
			method: "POST", path: "/api/v1/policy/rollback", body: `{"to":"cfg:system:policy#sha256:aa","message":""}`,
			answer: `{"policy_snapshot":"cfg:system:policy#sha256:aa","changed":true}`},
		{name: "ListSnapshots", call: func(c *Client) (any, error) { return c.ListSnapshots(ctx, Page{Limit: 5}) },
			method: "GET", path: "/api/v1/policy/snapshots", query: "limit=5", answer: `{"items":[],"next_cursor":null}`},
		{name: "GetSnapshot", call: func(c *Client) (any, error) { return c.GetSnapshot(ctx, "cfg:system:policy#sha256:aa") },
			method: "GET", path: "/api/v1/policy/snapshots/cfg:system:policy%23sha256:aa",
			answer: `{"policy_snapshot":"cfg:system:policy#sha256:aa","sha256":"aa","text":"x"}`},
		{name: "PolicyAudit", call: func(c *Client) (any, error) {
			return c.PolicyAudit(ctx, AuditFilter{Action: "rollback", Actor: "admin", Until: since})
		},
			method: "GET", path: "/api/v1/policy/audit", query: "action=rollback&actor=admin&until=2026-04-01T00%3A00%3A00Z",
			answer: `{"items":[{"audit_id":"p1","action":"rollback","snapshot_before":null,"snapshot_after":"s"}],"next_cursor":null}`},
		{name: "Simulate", call: func(c *Client) (any, error) {
			return c.Simulate(ctx, cairn.SimulateRequest{Job: cairn.SubmitRequest{Action: "db.read"}, Bundle: "default: allow\n"})
		},
			method: "POST", path: "/api/v1/policy/simulate", body: `{"job":{"action":"db.read"},"bundle":"default: allow\n"}`,
			answer: `{"decision":"ALLOW","policy_rule_id":null,"default_rule":true,"explanation":"no rule matched","rules_tried":[{"rule_id":"r1","matched":false,"why":"action"}]}`,
			check: func(t *testing.T, got any) {
				if d := got.(*cairn.SimulateResponse); d.Decision.Decision != "ALLOW" || !d.Default || len(d.RulesTried) != 1 {
					t.Errorf("simulate = %+v", d)
				}
			}},
		{name: "CreateKey", call: func(c *Client) (any, error) {
			return c.CreateKey(ctx, cairn.CreateKeyRequest{Principal: "bot", Kind: "agent", Roles: []string{"agent"}})
		},
			method: "POST", path: "/api/v1/keys", body: `{"principal":"bot","kind":"agent","roles":["agent"]}`,
			answer: `{"key":"ck_new","key_id":"k1","principal":"bot","roles":["agent"]}`},
		{name: "ListKeys", call: func(c *Client) (any, error) { return c.ListKeys(ctx, Page{}) },
			method: "GET", path: "/api/v1/keys", answer: `{"items":[{"key_id":"k1","revoked_at":null}],"next_cursor":null}`},
		{name: "RevokeKey", call: func(c *Client) (any, error) { return nil, c.RevokeKey(ctx, "k1") },
			method: "DELETE", path: "/api/v1/keys/k1", answer: ``},
		{name: "LedgerEntries", call: func(c *Client) (any, error) {
			return c.LedgerEntries(ctx, LedgerFilter{From: 3, Page: Page{Limit: 2}})
		},
			method: "GET", path: "/api/v1/ledger/entries", query: "from=3&limit=2",
			answer: `{"items":[{"index":3,"body":{"a":1},"leaf_hash":"ff"}],"next_cursor":null}`},
		{name: "Healthz", call: func(c *Client) (any, error) { return nil, c.Healthz(ctx) },
			method: "GET", path: "/healthz", answer: `ok`, noAuthHdr: true},
		{name: "Readyz", call: func(c *Client) (any, error) { return nil, c.Readyz(ctx) },
			method: "GET", path: "/readyz", answer: `{"status":"ready"}`, noAuthHdr: true},
	}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != rt.method || r.URL.EscapedPath() != rt.path {
					t.Errorf("got %s %s, want %s %s", r.Method, r.URL.EscapedPath(), rt.method, rt.path)
				}
				if q, _ := url.ParseQuery(r.URL.RawQuery); q.Encode() != rt.query {
					t.Errorf("query = %q, want %q", q.Encode(), rt.query)
				}
				auth := r.Header.Get("Authorization")
				if rt.noAuthHdr && auth != "" {
					t.Errorf("probe sent Authorization")
				}
				if !rt.noAuthHdr && auth != "Bearer "+testKey {
					t.Errorf("Authorization = %q", auth)
				}
				b, _ := io.ReadAll(r.Body)
				if string(b) != rt.body {
					t.Errorf("body = %s, want %s", b, rt.body)
				}
				if rt.method == "DELETE" {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				writeJSON(w, http.StatusOK, rt.answer)
			})
			got, err := rt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if rt.check != nil {
				rt.check(t, got)
			}
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		ctype, body string
		header      map[string]string
		want        APIError
		wantString  string
	}{
		{name: "envelope", status: 422, ctype: "application/json",
			body:       `{"error":{"code":"policy_invalid","message":"unknown decision \"ALOW\"","request_id":"req-1","field":"rules[0].decision","line":7}}`,
			want:       APIError{Status: 422, Code: "policy_invalid", Message: `unknown decision "ALOW"`, RequestID: "req-1", Field: "rules[0].decision", Line: 7},
			wantString: `policy_invalid: unknown decision "ALOW" (rules[0].decision, line 7)`},
		{name: "field only", status: 400, ctype: "application/json",
			body:       `{"error":{"code":"invalid_input","message":"action is required","request_id":"r","field":"action"}}`,
			want:       APIError{Status: 400, Code: "invalid_input", Message: "action is required", RequestID: "r", Field: "action"},
			wantString: "invalid_input: action is required (action)"},
		{name: "specific code", status: 409, ctype: "application/json",
			body:       `{"error":{"code":"job_hash_mismatch","message":"the job changed","request_id":"r2"}}`,
			want:       APIError{Status: 409, Code: "job_hash_mismatch", Message: "the job changed", RequestID: "r2"},
			wantString: "job_hash_mismatch: the job changed"},
		{name: "problem+json", status: 403, ctype: "application/problem+json",
			body:       `{"type":"about:blank","title":"Forbidden","status":403,"detail":"self approval","code":"self_approval_forbidden","request_id":"r3"}`,
			want:       APIError{Status: 403, Code: "self_approval_forbidden", Message: "self approval", RequestID: "r3"},
			wantString: "self_approval_forbidden: self approval"},
		{name: "plain text", status: 404, ctype: "text/plain; charset=utf-8",
			body: "404 page not found\n", header: map[string]string{"X-Request-Id": "hdr-1"},
			want:       APIError{Status: 404, Code: "not_found", Message: "404 page not found", RequestID: "hdr-1"},
			wantString: "not_found: 404 page not found"},
		{name: "html", status: 502, ctype: "text/html",
			body:       "<html><head><title>502 Bad Gateway</title></head><body>\x1b[31mnginx</body></html>",
			want:       APIError{Status: 502, Code: "bad_gateway", Message: "502 Bad Gateway"},
			wantString: "bad_gateway: 502 Bad Gateway"},
		{name: "empty", status: 500, ctype: "",
			want:       APIError{Status: 500, Code: "internal_error", Message: "internal server error"},
			wantString: "internal_error: internal server error"},
		{name: "odd status", status: 418, ctype: "text/plain", body: "\x00\x01",
			want:       APIError{Status: 418, Code: "http_418", Message: "i'm a teapot"},
			wantString: "http_418: i'm a teapot"},
		{name: "json without envelope", status: 400, ctype: "application/json", body: `{"oops":true}`,
			want:       APIError{Status: 400, Code: "invalid_input", Message: `{"oops":true}`},
			wantString: `invalid_input: {"oops":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}, WithRetries(0))
			_, err := c.GetJob(context.Background(), "j1")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %T %v, want *APIError", err, err)
			}
			got := *ae
			got.retryAfter = 0
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if err.Error() != tc.wantString {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.wantString)
			}
			if !IsCode(err, tc.want.Code) || IsCode(err, "other") || !IsStatus(err, tc.status) {
				t.Errorf("IsCode/IsStatus wrong for %v", err)
			}
			if IsNotFound(err) != (tc.status == 404) {
				t.Errorf("IsNotFound = %v", IsNotFound(err))
			}
			if strings.Contains(err.Error(), testKey) {
				t.Error("error contains the key")
			}
		})
	}
}

func TestQuarantinedResult(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 403, `{"error":{"code":"output_quarantined","message":"the result is quarantined","request_id":"r"}}`)
	})
	_, err := c.GetResult(context.Background(), "j1")
	if !IsCode(err, cairn.CodeOutputQuarantined) {
		t.Fatalf("err = %v", err)
	}
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	// count serves failStatus for the first fail answers, then 200.
	count := func(t *testing.T, fail int, failStatus int, opts ...Option) (*Client, *atomic.Int32) {
		var n atomic.Int32
		c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
			if int(n.Add(1)) <= fail {
				writeJSON(w, failStatus, `{"error":{"code":"x","message":"busy","request_id":"r"}}`)
				return
			}
			switch r.URL.Path {
			case "/api/v1/jobs":
				writeJSON(w, 201, `{"job_id":"j1"}`)
			default:
				writeJSON(w, 200, `{"job_id":"j1","approval_id":"a1"}`)
			}
		}, opts...)
		return c, &n
	}
	t.Run("GET 503 then ok", func(t *testing.T) {
		c, n := count(t, 2, 503)
		if _, err := c.GetJob(ctx, "j1"); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 3 {
			t.Errorf("attempts = %d, want 3", n.Load())
		}
	})
	t.Run("GET 502 retried", func(t *testing.T) {
		c, n := count(t, 1, 502)
		if _, err := c.GetJob(ctx, "j1"); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 2 {
			t.Errorf("attempts = %d, want 2", n.Load())
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c, n := count(t, 100, 503)
		_, err := c.GetJob(ctx, "j1")
		if !IsStatus(err, 503) {
			t.Fatalf("err = %v", err)
		}
		if n.Load() != 4 {
			t.Errorf("attempts = %d, want 4 (1 + 3 retries)", n.Load())
		}
	})
	t.Run("WithRetries(0)", func(t *testing.T) {
		c, n := count(t, 100, 503, WithRetries(0))
		if _, err := c.GetJob(ctx, "j1"); err == nil {
			t.Fatal("no error")
		}
		if n.Load() != 1 {
			t.Errorf("attempts = %d, want 1", n.Load())
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		c, n := count(t, 100, 404)
		if _, err := c.GetJob(ctx, "j1"); !IsNotFound(err) {
			t.Fatal(err)
		}
		if n.Load() != 1 {
			t.Errorf("attempts = %d, want 1", n.Load())
		}
	})
	t.Run("POST 502 not retried", func(t *testing.T) {
		c, n := count(t, 1, 502)
		if _, err := c.Approve(ctx, "j1", cairn.ResolveRequest{JobHash: "h"}); !IsStatus(err, 502) {
			t.Fatalf("err = %v", err)
		}
		if n.Load() != 1 {
			t.Errorf("attempts = %d, want 1", n.Load())
		}
	})
	t.Run("POST 429 retried", func(t *testing.T) {
		c, n := count(t, 1, 429)
		if _, err := c.Approve(ctx, "j1", cairn.ResolveRequest{JobHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 2 {
			t.Errorf("attempts = %d, want 2", n.Load())
		}
	})
	t.Run("submit without job_id not retried on 502", func(t *testing.T) {
		c, n := count(t, 1, 502)
		if _, err := c.SubmitJob(ctx, cairn.SubmitRequest{Action: "a"}); !IsStatus(err, 502) {
			t.Fatalf("err = %v", err)
		}
		if n.Load() != 1 {
			t.Errorf("attempts = %d, want 1", n.Load())
		}
	})
	t.Run("submit with job_id retried on 502", func(t *testing.T) {
		c, n := count(t, 1, 502)
		if _, err := c.SubmitJob(ctx, cairn.SubmitRequest{JobID: "j1", Action: "a"}); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 2 {
			t.Errorf("attempts = %d, want 2", n.Load())
		}
	})
	t.Run("probe not retried", func(t *testing.T) {
		c, n := count(t, 100, 503)
		if err := c.Readyz(ctx); !IsStatus(err, 503) {
			t.Fatalf("err = %v", err)
		}
		if n.Load() != 1 {
			t.Errorf("attempts = %d, want 1", n.Load())
		}
	})
}

func TestRetryTransportError(t *testing.T) {
	var n atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			// Drop the connection without an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		writeJSON(w, 200, `{"job_id":"j1"}`)
	})
	if _, err := c.GetJob(context.Background(), "j1"); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Errorf("attempts = %d, want 2", n.Load())
	}

	// A POST that is not idempotent is not resent.
	n.Store(0)
	if _, err := c.Approve(context.Background(), "j1", cairn.ResolveRequest{}); err == nil {
		t.Fatal("no error")
	}
	if n.Load() != 1 {
		t.Errorf("attempts = %d, want 1", n.Load())
	}
}

func TestRetryRespectsContext(t *testing.T) {
	var n atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 503, `{"error":{"code":"unavailable","message":"store down","request_id":"r"}}`)
	}, WithBackoff(time.Millisecond, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Retry-After (30 s) exceeds the deadline: the client gives up at once
	// with the server's answer, rather than sleeping into the deadline.
	_, err := c.GetJob(ctx, "j1")
	if !IsCode(err, "unavailable") || ctx.Err() != nil {
		t.Fatalf("err = %v (context %v), want the 503 error before the deadline", err, ctx.Err())
	}
	if n.Load() != 1 {
		t.Errorf("attempts = %d, want 1", n.Load())
	}

	// A cancelled context stops the backoff wait.
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	// It waits (Retry-After 30 s) until the cancellation, then answers
	// with the server's last error.
	if _, err := c.GetJob(ctx2, "j1"); !IsCode(err, "unavailable") || ctx2.Err() == nil {
		t.Fatalf("err = %v (context %v), want the 503 error after the cancellation", err, ctx2.Err())
	}
}

func TestTransportErrorHasNoKey(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now
	c := New("http://"+addr, testKey, WithRetries(1), WithBackoff(time.Millisecond, time.Millisecond))
	_, err = c.SubmitJob(context.Background(), cairn.SubmitRequest{Action: "a", Input: json.RawMessage(`{"secret":"hunter2"}`)})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the key or payload: %v", err)
	}
}

func TestAllFollowsCursor(t *testing.T) {
	var cursors []string
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("cursor")
		cursors = append(cursors, cur)
		if r.URL.Query().Get("state") != "QUEUED" {
			t.Errorf("filter lost on page %q", cur)
		}
		switch cur {
		case "":
			writeJSON(w, 200, `{"items":[{"job_id":"a"},{"job_id":"b"}],"next_cursor":"p2"}`)
		case "p2":
			writeJSON(w, 200, `{"items":[{"job_id":"c"}],"next_cursor":"p3"}`)
		case "p3":
			writeJSON(w, 200, `{"items":[],"next_cursor":null}`)
		default:
			t.Errorf("unexpected cursor %q", cur)
		}
	})
	var ids []string
	for j, err := range c.AllJobs(context.Background(), JobFilter{State: "QUEUED"}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.JobID)
	}
	if strings.Join(ids, ",") != "a,b,c" || strings.Join(cursors, ",") != ",p2,p3" {
		t.Errorf("ids %v, cursors %q", ids, cursors)
	}

	// Breaking out early fetches no more pages.
	cursors = nil
	for range c.AllJobs(context.Background(), JobFilter{State: "QUEUED"}) {
		break
	}
	if len(cursors) != 1 {
		t.Errorf("fetched %d pages after break", len(cursors))
	}
}

func TestAllErrors(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("cursor") {
		case "":
			writeJSON(w, 200, `{"items":[{"audit_id":"a"}],"next_cursor":"same"}`)
		case "same":
			writeJSON(w, 200, `{"items":[{"audit_id":"b"}],"next_cursor":"same"}`)
		}
	})
	var ids []string
	var last error
	for a, err := range c.AllPolicyAudit(context.Background(), AuditFilter{}) {
		if err != nil {
			last = err
			break
		}
		ids = append(ids, a.AuditID)
	}
	if !errors.Is(last, ErrCursorLoop) || strings.Join(ids, ",") != "a,b" {
		t.Errorf("ids %v, err %v", ids, last)
	}

	c2 := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			writeJSON(w, 200, `{"items":[{"key_id":"k1"}],"next_cursor":"bad"}`)
			return
		}
		writeJSON(w, 400, `{"error":{"code":"invalid_cursor","message":"bad cursor","request_id":"r","field":"cursor"}}`)
	})
	var got []string
	for k, err := range c2.AllKeys(context.Background(), Page{}) {
		if err != nil {
			got = append(got, "err:"+err.Error())
			continue
		}
		got = append(got, k.KeyID)
	}
	if strings.Join(got, "|") != "k1|err:invalid_cursor: bad cursor (cursor)" {
		t.Errorf("got %q", got)
	}
}

func TestAllTimelineUsesAfterThenCursor(t *testing.T) {
	var queries []string
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Query().Get("cursor") == "" {
			writeJSON(w, 200, `{"items":[{"seq":4},{"seq":5}],"next_cursor":"t5"}`)
			return
		}
		writeJSON(w, 200, `{"items":[{"seq":6}],"next_cursor":null}`)
	})
	var seqs []int64
	for ev, err := range c.AllTimeline(context.Background(), "r1", TimelineFilter{After: 3, Page: Page{Limit: 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ev.Seq)
	}
	if len(seqs) != 3 || seqs[2] != 6 {
		t.Errorf("seqs %v", seqs)
	}
	if strings.Join(queries, " ") != "after=3&limit=2 cursor=t5&limit=2" {
		t.Errorf("queries %q", queries)
	}
}

func TestLargeBodyIsNotBuffered(t *testing.T) {
	// The reader stops one byte past the limit (64 MiB by default; 1 MiB
	// here) rather than reading an endless body.
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(" ", 64<<10))
		for i := 0; i < 1000; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}, WithRetries(0))
	if c.maxBody != MaxResponseBytes {
		t.Errorf("default limit = %d", c.maxBody)
	}
	c.maxBody = 1 << 20
	_, err := c.GetJob(context.Background(), "j1")
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("err = %v", err)
	}
}
