package apitest

import (
	"bytes"
	nethttp "net/http"
	"sync"
)

// Exchange is one request to a test server and the answer it got.
type Exchange struct {
	Method    string
	Path      string
	RawQuery  string
	ReqHeader nethttp.Header
	Status    int
	Header    nethttp.Header
	Body      []byte // the first MaxRecorded bytes
	Truncated bool   // the body was longer than MaxRecorded
}

// MaxRecorded bounds the body bytes an exchange keeps.
const MaxRecorded = 1 << 20

var (
	recordMu sync.Mutex
	recorder func(Exchange)
)

// Record makes every Env's server (and every server wrapped by Recording)
// hand each exchange to f, until Record(nil). A package's TestMain uses it
// to check what its tests saw against the API's specification.
func Record(f func(Exchange)) {
	recordMu.Lock()
	recorder = f
	recordMu.Unlock()
}

func currentRecorder() func(Exchange) {
	recordMu.Lock()
	defer recordMu.Unlock()
	return recorder
}

// Recording wraps h so that its exchanges reach the recorder, if any.
func Recording(h nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		rec := currentRecorder()
		if rec == nil {
			h.ServeHTTP(w, r)
			return
		}
		cw := &capture{ResponseWriter: w, status: 200}
		h.ServeHTTP(cw, r)
		rec(Exchange{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, ReqHeader: r.Header.Clone(),
			Status: cw.status, Header: w.Header().Clone(), Body: cw.body.Bytes(), Truncated: cw.truncated})
	})
}

// capture passes a response through and keeps its status and first bytes.
type capture struct {
	nethttp.ResponseWriter
	status    int
	wrote     bool
	body      bytes.Buffer
	truncated bool
}

func (c *capture) WriteHeader(status int) {
	if !c.wrote {
		c.status, c.wrote = status, true
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *capture) Write(p []byte) (int, error) {
	c.wrote = true
	room := MaxRecorded - c.body.Len()
	if len(p) > room {
		c.truncated = true
	}
	if room > 0 {
		c.body.Write(p[:min(len(p), room)])
	}
	return c.ResponseWriter.Write(p)
}

// Flush lets streamed answers (exports, long polls) stream.
func (c *capture) Flush() {
	if f, ok := c.ResponseWriter.(nethttp.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (c *capture) Unwrap() nethttp.ResponseWriter { return c.ResponseWriter }
