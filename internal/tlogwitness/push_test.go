package tlogwitness

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/prometheus/client_golang/prometheus"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// pushTo runs a pusher against a witness answering with answer until the
// log shows want, and returns the witness's lag.
func pushTo(t *testing.T, answer nethttp.HandlerFunc, want string) float64 {
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-push-0123456789", LedgerKey: true})
	if err := e.Store.Update(context.Background(), func(tx cairn.Tx) error {
		return tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Unix(1_780_000_000, 0).UTC(), Actor: "t", JobID: cairn.Opt("j")})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.IssueCheckpoint(context.Background(), "default"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(answer)
	defer srv.Close()
	k, _ := tree.NewKeyFromSeed("w.example/w", bytes.Repeat([]byte{3}, 32))
	vk, _ := k.CosignatureV1VerifierKey()
	w, err := ParseWitness(srv.URL + "=" + vk)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	p := New(e.Svc, slog.New(slog.NewTextHandler(logs, nil)), []*Witness{w}, Options{Interval: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	p.Start()
	for !strings.Contains(logs.String(), want) {
		time.Sleep(5 * time.Millisecond)
	}
	// One more round, so the gauge reflects the answer.
	time.Sleep(30 * time.Millisecond)
	p.Stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "cairn_witness_lag_entries" && m.GetLabel()[0].GetValue() == "w.example/w" {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatal("no cairn_witness_lag_entries{witness=\"w.example/w\"}")
	return 0
}

func TestUnknownLogCountsInNoLag(t *testing.T) {
	lag := pushTo(t, func(w nethttp.ResponseWriter, r *nethttp.Request) { io.Copy(io.Discard, r.Body); w.WriteHeader(404) }, "does not follow this log")
	if lag != 0 {
		t.Fatalf("lag %v for a log the witness does not follow, want 0", lag)
	}
}

func TestFailingWitnessLags(t *testing.T) {
	lag := pushTo(t, func(w nethttp.ResponseWriter, r *nethttp.Request) { io.Copy(io.Discard, r.Body); w.WriteHeader(503) }, "witness answered 503")
	if lag < 1 {
		t.Fatalf("lag %v for a failing witness, want the log's size", lag)
	}
}
