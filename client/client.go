// Package client is the Go SDK for the Cairn control plane's HTTP API
// (/api/v1). It speaks the request and response types of the root cairn
// package, so a program that submits jobs, approves them, runs them as a
// worker or audits them uses the same structs the server does.
//
//	c := client.New("http://127.0.0.1:8081", os.Getenv("CAIRN_KEY"))
//	job, err := c.SubmitJob(ctx, cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)})
//	if client.IsCode(err, cairn.EForbidden) { ... }
//
// Every method takes a context first. A non-2xx answer is returned as an
// *APIError carrying the server's stable error code. List methods return one
// page (cairn.List); the All* methods and the generic All follow next_cursor
// through every page.
//
// Retries: GET requests are retried on transport errors and on 429, 502, 503
// and 504; other requests only on 429 and 503 (the server refused them before
// doing anything), except SubmitJob with a JobID, which is idempotent and is
// retried like a GET. Retries back off exponentially with jitter, honour
// Retry-After, are bounded (WithRetries) and stop when the context ends.
//
// The client never logs; API keys and payloads never appear in its errors.
// Response bodies are read up to MaxResponseBytes.
//
// Worker runs a lease → handle → complete loop for programs that execute
// jobs.
package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cairnhq/cairn"
)

// MaxResponseBytes bounds how much of a response body the client reads.
const MaxResponseBytes = 64 << 20

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "cairn-go-client/1"

// apiPrefix is the path of the versioned API under the base URL.
const apiPrefix = "/api/v1"

// Client calls one Cairn server with one API key. It is safe for concurrent
// use.
type Client struct {
	base       string // scheme://host[:port][/prefix], no trailing slash, no /api/v1
	key        string
	hc         *http.Client
	ua         string
	attempts   int           // total tries per request, >= 1
	backoff    time.Duration // first retry delay
	maxBackoff time.Duration // cap on one delay (also caps Retry-After)
	maxBody    int64         // response body limit
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc. The client
// relies on contexts, not hc.Timeout, for deadlines: a worker's lease call
// long-polls.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.ua = ua
		}
	}
}

// WithRetries sets how many times a retryable request is retried after the
// first try (default 3; 0 disables retries).
func WithRetries(n int) Option {
	return func(c *Client) {
		if n >= 0 {
			c.attempts = n + 1
		}
	}
}

// WithBackoff sets the first retry delay and the cap on any one delay
// (defaults 200ms and 5s). Each retry doubles the delay, with jitter.
func WithBackoff(first, max time.Duration) Option {
	return func(c *Client) {
		if first > 0 {
			c.backoff = first
		}
		if max > 0 {
			c.maxBackoff = max
		}
	}
}

// New returns a client for the server at baseURL (for example
// "http://127.0.0.1:8081"; a trailing "/api/v1" is accepted and a missing
// scheme means http) authenticating with the API key key.
func New(baseURL, key string, opts ...Option) *Client {
	base := strings.TrimSpace(baseURL)
	if base != "" && !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, apiPrefix)
	c := &Client{
		base:       base,
		key:        key,
		hc:         &http.Client{},
		ua:         DefaultUserAgent,
		attempts:   4,
		backoff:    200 * time.Millisecond,
		maxBackoff: 5 * time.Second,
		maxBody:    MaxResponseBytes,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the server URL the client talks to.
func (c *Client) BaseURL() string { return c.base }

// APIError is a non-2xx answer from the server.
type APIError struct {
	Status    int    // HTTP status
	Code      string // stable snake_case code, e.g. "job_hash_mismatch"
	Message   string // for people
	RequestID string // the server's request id, for support
	Field     string // the offending input field, if any
	Line      int    // the offending line of a policy bundle, if any

	retryAfter time.Duration // from a 429/503 Retry-After header
}

// Error formats the error as "code: message (field, line N)".
func (e *APIError) Error() string {
	var where []string
	if e.Field != "" {
		where = append(where, e.Field)
	}
	if e.Line > 0 {
		where = append(where, "line "+strconv.Itoa(e.Line))
	}
	s := e.Code + ": " + e.Message
	if len(where) > 0 {
		s += " (" + strings.Join(where, ", ") + ")"
	}
	return s
}

// IsCode reports whether err is (or wraps) an *APIError with the given code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// IsStatus reports whether err is (or wraps) an *APIError with the given
// HTTP status.
func IsStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return IsStatus(err, http.StatusNotFound) }

// request is one logical API call, possibly sent several times.
type request struct {
	method     string
	path       string // absolute path, e.g. /api/v1/jobs
	query      url.Values
	body       any  // JSON-encoded when non-nil
	idempotent bool // safe to resend after a transport error or 502/504
	noAuth     bool
	noRetry    bool
	// executorKey, when set, is sent as Cairn-Executor-Key: the key of
	// the principal that takes a lease at submit.
	executorKey string
}

// response is a 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends r and decodes a 2xx JSON answer into out (unless out is nil).
func (c *Client) call(ctx context.Context, r request, out any) (*response, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return nil, fmt.Errorf("cairn: decoding the answer to %s %s (status %d): %w", r.method, r.path, resp.status, err)
		}
	}
	return resp, nil
}

// send performs r with retries and returns the 2xx answer or an error.
func (c *Client) send(ctx context.Context, r request) (*response, error) {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("cairn: encoding the body of %s %s: %w", r.method, r.path, err)
		}
		payload = b
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.sendOnce(ctx, r, u, payload)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		delay, retry := c.retryDelay(r, attempt, err)
		if !retry {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return nil, err // the retry could not finish in time; report the real failure
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// retryDelay decides whether attempt (from 0) of r, which failed with err,
// is retried and after how long: an API error when its status is
// retryable, a transport error when r is idempotent (not an over-large
// answer); never after the last attempt or for a noRetry request.
func (c *Client) retryDelay(r request, attempt int, err error) (time.Duration, bool) {
	last := attempt+1 >= c.attempts || r.noRetry
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		if !retryableStatus(apiErr.Status, r.idempotent) || last {
			return 0, false
		}
		return c.delay(attempt, apiErr.retryAfter), true
	case r.idempotent && !last && !errors.Is(err, errTooLarge):
		return c.delay(attempt, 0), true
	}
	return 0, false
}

var errTooLarge = errors.New("response body exceeds the client's limit")

func (c *Client) sendOnce(ctx context.Context, r request, u string, payload []byte) (*response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("cairn: building request %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !r.noAuth && c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if r.executorKey != "" {
		req.Header.Set(cairn.ExecutorKeyHeader, r.executorKey)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err // *url.Error: method, URL (no key) and cause
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("cairn: reading the answer to %s %s: %w", r.method, r.path, err)
	}
	if int64(len(b)) > c.maxBody {
		return nil, fmt.Errorf("cairn: %s %s: %w (%d bytes)", r.method, r.path, errTooLarge, c.maxBody)
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return &response{status: res.StatusCode, header: res.Header, body: b}, nil
	}
	return nil, decodeError(res.StatusCode, res.Header, b)
}

// apiErrorBody is the error object of the contract's envelope.
type apiErrorBody struct {
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
	Field     string          `json:"field"`
	Line      json.RawMessage `json:"line"`
	// RFC 9457 members, used when code/message are absent.
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// decodeError turns a non-2xx answer into an *APIError. It understands the
// contract's {"error":{...}} envelope and problem+json with top-level
// members; anything else (a proxy's HTML page, plain text) becomes an error
// whose code is derived from the status and whose message is a short,
// sanitized excerpt of the body.
func decodeError(status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RequestID: h.Get("X-Request-Id")}
	if eb := errorBody(body); eb != nil {
		e.Code = eb.Code
		e.Message = cmp.Or(eb.Message, eb.Detail, eb.Title)
		if eb.RequestID != "" {
			e.RequestID = eb.RequestID
		}
		e.Field = eb.Field
		e.Line = parseLine(eb.Line)
	}
	if e.Code == "" {
		e.Code = codeForStatus(status)
	}
	if e.Message == "" {
		e.Message = excerpt(body)
	}
	if e.Message == "" {
		e.Message = cmp.Or(strings.ToLower(http.StatusText(status)), "HTTP "+strconv.Itoa(status))
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.retryAfter = parseRetryAfter(h.Get("Retry-After"))
	}
	return e
}

// errorBody finds the error object of an answer: the contract's
// {"error":{...}} envelope, or problem+json's top-level members; nil when
// the body has neither.
func errorBody(body []byte) *apiErrorBody {
	var env struct {
		Error *apiErrorBody `json:"error"`
		apiErrorBody
	}
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	if env.Error == nil && (env.Code != "" || env.Title != "" || env.Detail != "") {
		return &env.apiErrorBody
	}
	return env.Error
}

func parseLine(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, _ = strconv.Atoi(s)
	}
	return n
}

// codeForStatus maps a status to the server's code for that class.
func codeForStatus(status int) string {
	switch status {
	case 400:
		return cairn.EInvalid
	case 401:
		return cairn.EUnauthorized
	case 403:
		return cairn.EForbidden
	case 404:
		return cairn.ENotFound
	case 405:
		return cairn.EMethod
	case 409:
		return cairn.EConflict
	case 413:
		return cairn.ETooLarge
	case 415:
		return cairn.EUnsupported
	case 422:
		return cairn.EPolicy
	case 429:
		return cairn.ETooMany
	case 500:
		return cairn.EInternal
	case 502:
		return "bad_gateway"
	case 503:
		return cairn.EUnavailable
	case 504:
		return "gateway_timeout"
	}
	return "http_" + strconv.Itoa(status)
}

// excerpt is the first line of a non-JSON error body, without markup or
// control characters, at most 200 bytes.
func excerpt(body []byte) string {
	s := string(body)
	if !utf8.ValidString(s) {
		return ""
	}
	if strings.Contains(strings.ToLower(s[:min(len(s), 512)]), "<html") || strings.HasPrefix(strings.TrimSpace(s), "<") {
		// An HTML page: its <title> is the useful part.
		ls := strings.ToLower(s)
		i, j := strings.Index(ls, "<title>"), strings.Index(ls, "</title>")
		if i < 0 || j < i {
			return ""
		}
		s = s[i+len("<title>") : j]
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(s)
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func retryableStatus(status int, idempotent bool) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

// delay is the wait before retry number attempt+1: exponential with jitter,
// or the server's Retry-After, capped at maxBackoff.
func (c *Client) delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, c.maxBackoff)
	}
	d := c.backoff << min(attempt, 16)
	if d <= 0 || d > c.maxBackoff {
		d = c.maxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}
