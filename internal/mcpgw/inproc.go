package mcpgw

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// InProcess is a RoundTripper that hands each request to h, the Cairn API
// handler of the same process, in the caller's goroutine, and returns what
// it answered: no socket, no connection pool, no goroutine waiting on the
// network poller. `cairn serve --mcp-gateway` gives the gateway's Cairn
// client this transport, so a tools/call's submit and completion take the
// API's whole path (authentication by the agent's key, admission, rate
// limits, validation, the durable write, metrics) without two loopback
// round trips (ADR 0049).
//
// The request's client address is the MCP client's (see Handler), so the
// API's per-address throttles count that client, not the gateway; a
// request made for no MCP client (the gateway's own start-up checks)
// comes from 127.0.0.1, as a gateway beside the server would.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

// inProcessAddr is the client address of requests made for no MCP client.
const inProcessAddr = "127.0.0.1:0"

type clientAddrKey struct{}

// withClientAddr records the MCP client's address for InProcess.
func withClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

func (t inProcess) RoundTrip(r *http.Request) (res *http.Response, err error) {
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	in.Host = r.URL.Host
	in.RemoteAddr = inProcessAddr
	if a, ok := r.Context().Value(clientAddrKey{}).(string); ok && a != "" {
		in.RemoteAddr = a
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.Proto == "" {
		in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	}
	w := &bufferedAnswer{header: http.Header{}}
	defer func() {
		// The handler recovers its own panics; what it re-panics
		// (http.ErrAbortHandler: an answer cut short) is a failed round
		// trip here, as a cut connection is over the network.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("mcpgw: in-process %s %s: the answer was cut short (%v)", r.Method, r.URL.Path, p)
		}
	}()
	t.h.ServeHTTP(w, in)
	if r.Body != nil {
		r.Body.Close()
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()), Request: r,
	}, nil
}

// bufferedAnswer is a ResponseWriter that keeps the answer in memory.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedAnswer) Header() http.Header { return w.header }

func (w *bufferedAnswer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedAnswer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Flush is a no-op: the whole answer is returned at once.
func (w *bufferedAnswer) Flush() {}
