package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Syslog formats.
const (
	FormatRFC5424 = "rfc5424" // the record as RFC 5424 structured data
	FormatCEF     = "cef"     // an ArcSight CEF line as the RFC 5424 MSG
)

// DefaultSDID is the SD-ID of the structured data element carrying the
// record: "cairn" at the private enterprise number 32473, which RFC 5612
// reserves for documentation. Set sd_id to one under your own number.
const DefaultSDID = "cairn@32473"

// syslogSink sends RFC 5424 messages over TCP (optionally TLS) with
// octet-counting framing (RFC 6587 §3.4.1, RFC 5425 §4.3). TCP syslog has
// no acknowledgement, so each batch goes over its own connection, which
// the sink half-closes after the last message and then waits for the
// receiver to close in answer: the receiver has then read every byte
// before the end of the stream. (On Linux the sink also checks that the
// receiver's close acknowledged its own, peerReadAll: a receiver that
// stopped on its own before the last bytes arrived does not count; ADR 0033.)
type syslogSink struct {
	name     string
	addr     string
	tls      *tls.Config
	timeout  time.Duration
	format   string
	facility int
	hostname string
	appName  string
	sdID     string
	buf      bytes.Buffer
	msg      bytes.Buffer
}

func (s *syslogSink) Name() string { return s.name }
func (s *syslogSink) Close() error { return nil }

// Deliver writes the batch over a new connection and waits for the
// receiver to close it after the sink's half-close.
func (s *syslogSink) Deliver(ctx context.Context, recs []Record) error {
	if err := s.frame(recs); err != nil {
		return err
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	d := net.Dialer{Deadline: deadline}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("syslog %s: %w", s.addr, err)
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	defer stop()
	raw.SetDeadline(deadline)
	conn, err := s.secure(ctx, raw)
	if err != nil {
		return err
	}
	if err := s.send(conn, raw); err != nil {
		return err
	}
	return s.awaitClose(conn, raw, deadline)
}

// halfCloser is a connection the sink can half-close.
type halfCloser interface {
	io.ReadWriter
	CloseWrite() error
}

// frame writes the batch into s.buf, each message octet-counted (RFC 6587).
func (s *syslogSink) frame(recs []Record) error {
	s.buf.Reset()
	for i := range recs {
		s.msg.Reset()
		if err := s.message(&s.msg, &recs[i]); err != nil {
			return err
		}
		s.buf.WriteString(strconv.Itoa(s.msg.Len()))
		s.buf.WriteByte(' ')
		s.buf.Write(s.msg.Bytes())
	}
	return nil
}

// secure runs the TLS handshake on raw when the sink uses TLS.
func (s *syslogSink) secure(ctx context.Context, raw net.Conn) (halfCloser, error) {
	if s.tls == nil {
		return raw.(*net.TCPConn), nil
	}
	tc := tls.Client(raw, s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("syslog %s: TLS handshake: %w", s.addr, err)
	}
	return tc, nil
}

// send writes the batch and half-closes the connection.
func (s *syslogSink) send(conn halfCloser, raw net.Conn) error {
	if _, err := conn.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("syslog %s: write: %w", s.addr, err)
	}
	if err := conn.CloseWrite(); err != nil {
		return fmt.Errorf("syslog %s: half-close: %w", s.addr, err)
	}
	if s.tls != nil {
		// tls.Conn.CloseWrite sends close_notify only; the FIN follows.
		if err := raw.(*net.TCPConn).CloseWrite(); err != nil {
			return fmt.Errorf("syslog %s: half-close: %w", s.addr, err)
		}
	}
	return nil
}

// awaitClose waits for the receiver's close, which acknowledges the batch
// (the receiver sends nothing).
func (s *syslogSink) awaitClose(conn halfCloser, raw net.Conn, deadline time.Time) error {
	var b [512]byte
	for {
		_, err := conn.Read(b[:])
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || (s.tls != nil && errors.Is(err, io.ErrUnexpectedEOF)) {
			if ok, known := peerReadAll(raw.(*net.TCPConn), deadline); known && !ok {
				return fmt.Errorf("syslog %s: the receiver closed the connection before it read the whole batch", s.addr)
			}
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("syslog %s: the receiver did not confirm the batch (close) within %s", s.addr, s.timeout)
		}
		return fmt.Errorf("syslog %s: waiting for the receiver to confirm: %w", s.addr, err)
	}
}

// message writes the RFC 5424 message of r (without framing).
func (s *syslogSink) message(b *bytes.Buffer, r *Record) error {
	env, err := r.Envelope()
	if err != nil {
		return err
	}
	ev := &env.Event
	sev := 6 // informational
	if ev.Decision == "DENY" || (ev.OutputSafety != nil && ev.OutputSafety.Decision == "QUARANTINE") {
		sev = 4 // warning
	}
	ts := "-"
	if t := r.Time(); !t.IsZero() {
		ts = t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") // TIME-SECFRAC: at most 6 digits
	}
	fmt.Fprintf(b, "<%d>1 %s %s %s - %s ", s.facility*8+sev, ts, s.hostname, s.appName, headerField(ev.Type, 32))
	if s.format == FormatCEF {
		b.WriteString("- ")
		cefLine(b, r, env)
		return nil
	}
	b.WriteString("[")
	b.WriteString(s.sdID)
	sdParam(b, "index", strconv.FormatUint(r.Index, 10))
	sdParam(b, "leaf_hash", r.LeafHash)
	sdParam(b, "tenant", env.Tenant)
	sdParam(b, "type", ev.Type)
	sdParam(b, "body", string(r.Body))
	b.WriteString("] ")
	b.WriteString(summary(r.Index, ev))
	return nil
}

// sdParam writes ` name="value"`, escaping '"', '\' and ']' (RFC 5424 §6.3.3).
func sdParam(b *bytes.Buffer, name, value string) {
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '"', '\\', ']':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII,
// no space, at most n bytes, "-" when empty.
func headerField(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// summary is a short human-readable MSG: type, index and the ids that
// apply.
func summary(index uint64, ev *Event) string {
	var b strings.Builder
	b.WriteString(ev.Type)
	b.WriteString(" index=")
	b.WriteString(strconv.FormatUint(index, 10))
	for _, kv := range [][2]string{{"job_id", ev.JobID}, {"run_id", ev.RunID}, {"actor", ev.Actor}, {"decision", ev.Decision}, {"rule", ev.PolicyRuleID}, {"resolution", ev.Resolution}, {"state", ev.State}} {
		if kv[1] != "" {
			b.WriteString(" ")
			b.WriteString(kv[0])
			b.WriteString("=")
			b.WriteString(kv[1])
		}
	}
	return b.String()
}
