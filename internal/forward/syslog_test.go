package forward

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and returns it with the
// path of its PEM file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"syslog.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// readFrames reads octet-counted syslog frames until the end of stream.
func readFrames(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	var out []string
	for {
		l, err := br.ReadString(' ')
		if err == io.EOF && l == "" {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(l, " "))
		if err != nil {
			return out, fmt.Errorf("frame length %q", l)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return out, err
		}
		out = append(out, string(msg))
	}
}

// Over TLS, a receiver that reads to the end of stream and closes
// acknowledges the batch; every message arrives, octet-counted.
func TestSyslogOverTLS(t *testing.T) {
	_, f := server(t, 2)
	recs := all(t, f)
	cert, caFile := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		msgs, _ := readFrames(c)
		c.Close()
		got <- msgs
	}()
	c, err := ParseConfig([]byte(fmt.Sprintf("sinks: [{name: s, type: syslog, address: %q, hostname: h, tls: {ca_file: %q, server_name: syslog.test}}]", ln.Addr().String(), caFile)))
	if err != nil {
		t.Fatal(err)
	}
	sinks, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := sinks[0].Deliver(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	msgs := <-got
	if len(msgs) != len(recs) {
		t.Fatalf("%d messages for %d records", len(msgs), len(recs))
	}
	back, err := ExtractRecords(strings.NewReader(strings.Join(msgs, "\n")), "")
	if err != nil || len(back) != len(recs) || back[3].LeafHash != recs[3].LeafHash {
		t.Fatalf("extracted %d records: %v", len(back), err)
	}
}

// A receiver that closes without reading the batch does not acknowledge
// it: Deliver fails (and the forwarder sends the batch again).
func TestSyslogReceiverThatDidNotReadIsNoAck(t *testing.T) {
	_, f := server(t, 40)
	recs := all(t, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, mode := range []string{"close at once", "read a little, close"} {
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if mode != "close at once" {
				io.ReadFull(c, make([]byte, 100))
			}
			c.Close()
		}()
		s := &syslogSink{name: "s", addr: ln.Addr().String(), timeout: 5 * time.Second, format: FormatRFC5424, facility: 16, hostname: "h", appName: "cairn", sdID: DefaultSDID}
		if err := s.Deliver(context.Background(), recs); err == nil {
			t.Errorf("%s: Deliver acknowledged a batch the receiver did not read", mode)
		}
	}
}
