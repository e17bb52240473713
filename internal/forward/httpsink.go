package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// httpSink POSTs each batch, encoded by encode, to one URL; a 2xx answer
// (and, for HEC, its JSON code 0) is the acknowledgement.
type httpSink struct {
	name    string
	url     string
	client  *http.Client
	encode  func(buf *bytes.Buffer, recs []Record) error
	header  func(h http.Header, body []byte)
	check   func(body []byte) error // of a 2xx answer's body; nil accepts any
	ctype   string
	last    int // size of the last body, to size the next buffer
	timeout time.Duration
}

func newHTTPClient(timeout time.Duration, tlsConf *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 4
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: tr, Timeout: timeout}
}

func (s *httpSink) Name() string { return s.name }

func (s *httpSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Deliver POSTs the batch once. 5xx, 429, timeouts and connection errors
// are transient (the caller retries with backoff); other answers are
// errors too (never skipped), reported as the receiver's refusal.
func (s *httpSink) Deliver(ctx context.Context, recs []Record) error {
	// A fresh buffer each time: the transport may still hold the last
	// request's body after Do returned (an answer before the whole body).
	buf := bytes.NewBuffer(make([]byte, 0, s.last))
	if err := s.encode(buf, recs); err != nil {
		return err
	}
	body := buf.Bytes()
	s.last = len(body)
	req, err := http.NewRequestWithContext(ctx, "POST", s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", s.ctype)
	req.Header.Set("User-Agent", "cairn-forward")
	req.Header.Set("X-Cairn-First-Index", strconv.FormatUint(recs[0].Index, 10))
	req.Header.Set("X-Cairn-Last-Index", strconv.FormatUint(recs[len(recs)-1].Index, 10))
	if s.header != nil {
		s.header(req.Header, body)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("POST %s: timed out after %s", redactURL(s.url), s.timeout)
		}
		return fmt.Errorf("POST %s: %w", redactURL(s.url), unwrapURL(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if s.check != nil {
			if err := s.check(answer); err != nil {
				return fmt.Errorf("POST %s: %d but %w", redactURL(s.url), resp.StatusCode, err)
			}
		}
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == 429 || resp.StatusCode == 408:
		return fmt.Errorf("POST %s: %s (transient; retrying)", redactURL(s.url), resp.Status)
	default:
		return fmt.Errorf("POST %s: refused with %s (check the sink's configuration; retrying, never skipping)", redactURL(s.url), resp.Status)
	}
}

// signHMAC sets X-Cairn-Signature: sha256=<hex HMAC-SHA256 of the body>.
func signHMAC(secret []byte) func(http.Header, []byte) {
	return func(h http.Header, body []byte) {
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		h.Set("X-Cairn-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
}

// Signature returns the X-Cairn-Signature value of body under secret, for
// receivers written in Go (compare with hmac.Equal).
func Signature(secret, body []byte) string {
	h := http.Header{}
	signHMAC(secret)(h, body)
	return h.Get("X-Cairn-Signature")
}
