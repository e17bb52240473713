package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const adminKey = "cairn_test_admin_key_forward_unit_0123"

// server is a Cairn API with some ledger entries and an auditor key.
func server(t testing.TB, jobs int) (*apitest.Env, *Feed) {
	t.Helper()
	e := apitest.New(t, apitest.Options{AdminKey: adminKey, LedgerKey: true})
	e.Key("auditor-1", "human", "auditor")
	e.Key("agent-1", "agent", "agent")
	for i := range jobs {
		e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read", Resource: fmt.Sprintf("db://x/%d", i), Input: json.RawMessage(`{"s":"quote \" backslash \\ bracket ] equals = é"}`)})
	}
	return e, &Feed{Server: e.URL, Key: e.Keys["auditor-1"]}
}

func all(t *testing.T, f *Feed) []Record {
	t.Helper()
	p, err := f.Next(context.Background(), 0, false, 10000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p.Records
}

func logKey(t *testing.T, e *apitest.Env) (string, []byte) {
	t.Helper()
	var k struct {
		PublicKey string `json:"public_key"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/key", nil, 200, &k)
	a := &API{Server: e.URL, Key: e.Keys["auditor-1"]}
	note, err := a.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey, note
}

// Verify accepts the delivered records of any contiguous range, with
// duplicates, and refuses gaps, altered bodies and other logs' checkpoints.
func TestVerify(t *testing.T) {
	e, f := server(t, 6)
	recs := all(t, f)
	pub, note := logKey(t, e)
	v, err := tree.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	a := &API{Server: e.URL, Key: e.Keys["auditor-1"]}
	ctx := context.Background()
	n := len(recs)
	for _, r := range [][2]int{{0, n}, {1, n}, {3, 9}, {5, 6}, {0, 1}, {7, n - 1}} {
		sub := append([]Record(nil), recs[r[0]:r[1]]...)
		sub = append(sub, recs[r[0]]) // a duplicate
		rep, err := Verify(ctx, sub, a, v, note)
		if err != nil {
			t.Fatalf("range [%d, %d): %v", r[0], r[1], err)
		}
		if rep.First != uint64(r[0]) || rep.Last != uint64(r[1]-1) || rep.Duplicates != 1 {
			t.Fatalf("range [%d, %d): %+v", r[0], r[1], rep)
		}
	}
	fails := func(name string, recs []Record, note []byte, want string) {
		t.Helper()
		_, err := Verify(ctx, recs, a, v, note)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err %v, want %q", name, err, want)
		}
	}
	gap := append(append([]Record(nil), recs[:3]...), recs[4:]...)
	fails("gap", gap, note, "gap: ledger indexes 3..3")

	// An altered body with a leaf hash to match: the chain or the proof fails.
	alt := append([]Record(nil), recs...)
	body := bytes.Replace(alt[4].Body, []byte(`"db.read"`), []byte(`"db.drop"`), 1)
	if bytes.Equal(body, alt[4].Body) {
		body = bytes.Replace(alt[4].Body, []byte(`"actor":"`), []byte(`"actor":"x`), 1)
	}
	alt[4] = Record{Index: 4, Body: body, LeafHash: ledger.HashHex(ledger.LeafHash(body))}
	fails("altered body, alone", alt[4:5], note, "not the log's entries")
	fails("altered body, first record", alt[4:], note, "prev_hash")
	fails("altered body, inside", alt, note, "prev_hash")
	wrongLeaf := append([]Record(nil), recs...)
	wrongLeaf[2].LeafHash = recs[3].LeafHash
	fails("wrong leaf hash", wrongLeaf, note, "hashes to")
	dup := append(append([]Record(nil), recs...), Record{Index: 2, Body: body, LeafHash: recs[2].LeafHash})
	fails("duplicate with another body", dup, note, "different bodies")

	other, err := tree.NewKeyFromSeed("cairn", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tree.ParseCheckpoint(note)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := other.SignerFor(cp.Origin)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := tree.SignCheckpoint(cp.Origin, cp.Size, cp.Root, signer)
	if err != nil {
		t.Fatal(err)
	}
	fails("checkpoint by another key", recs, forged, "signature")
}

// The syslog (RFC 5424 and CEF), HEC, OCSF and webhook encodings carry the
// body byte for byte: ExtractRecords gets back records that hash to their
// leaf hashes.
func TestEncodingsRoundTrip(t *testing.T) {
	_, f := server(t, 2)
	recs := all(t, f)
	var buf bytes.Buffer
	for _, format := range []string{FormatRFC5424, FormatCEF} {
		s := &syslogSink{format: format, facility: 16, hostname: "h", appName: "cairn", sdID: DefaultSDID}
		for i := range recs {
			var m bytes.Buffer
			if err := s.message(&m, &recs[i]); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(m.Bytes(), []byte("<134>1 ")) && !bytes.HasPrefix(m.Bytes(), []byte("<132>1 ")) {
				t.Fatalf("%s: message %q", format, m.String()[:40])
			}
			buf.Write(m.Bytes())
			buf.WriteByte('\n')
		}
	}
	if err := encodeNDJSON(&buf, recs); err != nil {
		t.Fatal(err)
	}
	if err := encodeOCSF(&buf, recs); err != nil {
		t.Fatal(err)
	}
	if err := (&hecEncoder{source: "cairn", sourcetype: "cairn:ledger"}).encode(&buf, recs); err != nil {
		t.Fatal(err)
	}
	got, err := ExtractRecords(&buf, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5*len(recs) {
		t.Fatalf("extracted %d records, want %d", len(got), 5*len(recs))
	}
	for i, r := range got {
		want := recs[i%len(recs)]
		if r.Index != want.Index || r.LeafHash != want.LeafHash || !bytes.Equal(r.Body, want.Body) {
			t.Fatalf("encoding %d, record %d: got %d %s %.80s", i/len(recs), want.Index, r.Index, r.LeafHash, r.Body)
		}
	}
}

// Every event type of the vocabulary (package ledger) has an OCSF activity and a row in
// docs/siem.md.
func TestOCSFMapsEveryEventType(t *testing.T) {
	doc, err := os.ReadFile("../../docs/siem.md")
	if err != nil {
		t.Fatal(err)
	}
	types := ledger.EventTypes // the whole vocabulary (TestEventTypesListsTheVocabulary)
	if len(types) < 25 {
		t.Fatalf("found only %d event types: %v", len(types), types)
	}
	for _, typ := range types {
		act, ok := ocsfActivity[typ]
		if !ok {
			t.Errorf("event type %s has no OCSF activity", typ)
			continue
		}
		row := fmt.Sprintf("| `%s` | %d %s |", typ, act.id, act.name)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/siem.md lacks the row %q", row)
		}
	}
	r := Record{Index: 3, LeafHash: "ab", Body: json.RawMessage(`{"event":{"type":"policy_decided","timestamp":"2026-04-01T14:00:03.123456789Z","decision":"DENY","job_id":"j1","actor":"a"},"index":3,"prev_hash":"","tenant":"t"}`)}
	o, err := OCSFRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	if o["class_uid"] != 6003 || o["type_uid"] != 600399 || o["status_id"] != 2 || o["time"] != int64(1775052003123) {
		t.Fatalf("OCSF record %v", o)
	}
}

// Configuration errors name the field.
func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "s")
	os.WriteFile(secret, []byte("k"), 0o600)
	for cfg, field := range map[string]string{
		`sinks: []`: "sinks",
		"batch_size: 20000\nsinks: [{name: a, type: webhook, url: 'http://x', secret_file: " + secret + "}]": "batch_size",
		`sinks: [{type: webhook, url: "http://x"}]`:                                                          "sinks[0].name",
		`sinks: [{name: a, type: kafka}]`:                                                                    "sinks[0].type",
		`sinks: [{name: a, type: webhook, url: "ftp://x"}]`:                                                  "sinks[0].url",
		`sinks: [{name: a, type: webhook, url: "http://u:p@x"}]`:                                             "sinks[0].url",
		`sinks: [{name: a, type: webhook, url: "http://x"}]`:                                                 "sinks[0].secret_file",
		`sinks: [{name: a, type: webhook, url: "http://x", secret_env: NO_SUCH_V}]`:                          "sinks[0].secret_env",
		`sinks: [{name: a, type: syslog, address: "nohost"}]`:                                                "sinks[0].address",
		`sinks: [{name: a, type: syslog, address: "h:1", format: json}]`:                                     "sinks[0].format",
		`sinks: [{name: a, type: syslog, address: "h:1", facility: 24}]`:                                     "sinks[0].facility",
		`sinks: [{name: a, type: syslog, address: "h:1", url: "http://x"}]`:                                  "sinks[0].url",
		`sinks: [{name: a, type: syslog, address: "h:1", sd_id: "no-at"}]`:                                   "sinks[0].sd_id",
		`sinks: [{name: a, type: splunk_hec, url: "https://x"}]`:                                             "sinks[0].token_file",
		`sinks: [{name: a, type: syslog, address: "h:1"}, {name: a, type: syslog, address: "h:2"}]`:          "sinks[1].name",
		`sinks: [{name: a, type: syslog, address: "h:1", tls: {ca_file: /nonexistent}}]`:                     "sinks[0].tls.ca_file",
		`sinks: [{name: a, type: syslog, address: "h:1", colour: red}]`:                                      "colour",
	} {
		c, err := ParseConfig([]byte(cfg))
		if err == nil {
			_, err = c.Build()
		}
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err %v, want one naming %s", cfg, err, field)
		}
	}
	c, err := ParseConfig([]byte("sinks: [{name: a, type: webhook, url: 'http://x', secret_file: " + secret + "}, {name: b, type: syslog, address: 'h:1', format: cef}]"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != 1000 || c.Wait != 10*time.Second || *c.Sinks[1].Facility != 16 || c.Sinks[1].SDID != DefaultSDID {
		t.Fatalf("defaults: %+v", c)
	}
}

// The state file survives reopening; a damaged one is refused, not reset.
func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	s, err := OpenState(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Cursor("a"); ok {
		t.Fatal("a new state has a cursor")
	}
	if err := s.Advance("a", 41); err != nil {
		t.Fatal(err)
	}
	if err := s.Advance("b", 7); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenState(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := s2.Cursor("a"); !ok || c != 41 {
		t.Fatalf("cursor a %d %v", c, ok)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	os.WriteFile(path, []byte(`{"sinks":{"a":1}}`), 0o600)
	if _, err := OpenState(path); err == nil {
		t.Fatal("a state without version was accepted")
	}
}

// flakySink fails its first n deliveries, then records.
type flakySink struct {
	n    int
	mu   sync.Mutex
	got  []uint64
	seen int
}

func (f *flakySink) Name() string { return "flaky" }
func (f *flakySink) Close() error { return nil }
func (f *flakySink) Deliver(ctx context.Context, recs []Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen++
	if f.seen <= f.n || f.n == 1<<30 {
		return errors.New("down")
	}
	for _, r := range recs {
		f.got = append(f.got, r.Index)
	}
	return nil
}

// A failing sink is retried with the same batch until it takes it; the
// cursor moves only then; the lag metrics say how far behind it is.
func TestForwarderRetriesAndRecordsOnlyAcknowledged(t *testing.T) {
	e, f := server(t, 3)
	n := len(all(t, f))
	path := filepath.Join(t.TempDir(), "state")
	st, err := OpenState(path)
	if err != nil {
		t.Fatal(err)
	}
	sink := &flakySink{n: 3}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	fw := &Forwarder{Feed: f, State: st, Sinks: []Sink{sink}, BatchSize: 4, Wait: 200 * time.Millisecond, Backoff: Backoff{First: time.Millisecond, Max: 5 * time.Millisecond}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	waitUntil(t, func() bool { c, ok := st.Cursor("flaky"); return ok && c == uint64(n-1) })
	// The metrics follow the cursor: caught up, no lag.
	waitUntil(t, func() bool {
		return value(m.LagEntries.WithLabelValues("flaky")) == 0 && value(m.LagSeconds.WithLabelValues("flaky")) == 0 && value(m.Cursor.WithLabelValues("flaky")) == float64(n-1)
	})
	// New entries while running arrive too (the long poll wakes).
	e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)})
	n2 := len(all(t, f))
	waitUntil(t, func() bool { c, ok := st.Cursor("flaky"); return ok && c == uint64(n2-1) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i, idx := range sink.got {
		if idx != uint64(i) {
			t.Fatalf("delivered %v", sink.got)
		}
	}
	if len(sink.got) != n2 || value(m.Failures.WithLabelValues("flaky")) != 3 {
		t.Fatalf("delivered %d of %d, failures %v", len(sink.got), n2, value(m.Failures.WithLabelValues("flaky")))
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	end := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(end) {
			t.Fatal("gave up waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A feed answer with a gap or a body that does not hash to its leaf hash
// stops the forwarder (fail closed) instead of being delivered.
func TestFeedIntegrityStopsTheForwarder(t *testing.T) {
	_, f := server(t, 1)
	recs := all(t, f)
	for name, lines := range map[string][]Record{
		"gap":                   {recs[0], recs[2]},
		"bad hash":              {recs[0], {Index: 1, LeafHash: recs[0].LeafHash, Body: recs[1].Body}},
		"body of another index": {recs[0], {Index: 1, LeafHash: recs[2].LeafHash, Body: recs[2].Body}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			encodeNDJSON(&b, lines)
			w.Write(b.Bytes())
		}))
		st, _ := OpenState(filepath.Join(t.TempDir(), "state"))
		sink := &flakySink{}
		fw := &Forwarder{Feed: &Feed{Server: srv.URL, Key: "k"}, State: st, Sinks: []Sink{sink}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		err := fw.Run(context.Background())
		var ie *IntegrityError
		if !errors.As(err, &ie) {
			t.Errorf("%s: Run returned %v", name, err)
		}
		if len(sink.got) != 0 {
			t.Errorf("%s: delivered %v", name, sink.got)
		}
		srv.Close()
	}
}

// The HTTP sinks: the webhook signs, HEC authenticates and must answer
// code 0, 5xx is an error (retried by the forwarder).
func TestHTTPSinks(t *testing.T) {
	_, f := server(t, 1)
	recs := all(t, f)
	var mu sync.Mutex
	var reqs []*http.Request
	var bodies [][]byte
	status, answer := 200, `{"text":"Success","code":0}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		reqs, bodies = append(reqs, r), append(bodies, b)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	t.Setenv("TEST_HOOK_SECRET", "s3cret")
	t.Setenv("TEST_HEC_TOKEN", "tok-123")
	c, err := ParseConfig([]byte(fmt.Sprintf(`sinks:
  - {name: hook, type: webhook, url: %q, secret_env: TEST_HOOK_SECRET}
  - {name: hec, type: splunk_hec, url: %q, token_env: TEST_HEC_TOKEN, index: main}
  - {name: lake, type: ocsf, url: %q, secret_env: TEST_HOOK_SECRET}
`, srv.URL+"/hook", srv.URL, srv.URL+"/ocsf")))
	if err != nil {
		t.Fatal(err)
	}
	sinks, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range sinks {
		if err := s.Deliver(ctx, recs); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
	}
	if got := reqs[0].Header.Get("X-Cairn-Signature"); got != Signature([]byte("s3cret"), bodies[0]) || !strings.HasPrefix(got, "sha256=") {
		t.Fatalf("webhook signature %q", got)
	}
	if reqs[1].URL.Path != "/services/collector/event" || reqs[1].Header.Get("Authorization") != "Splunk tok-123" {
		t.Fatalf("HEC request %s %q", reqs[1].URL.Path, reqs[1].Header.Get("Authorization"))
	}
	dec := json.NewDecoder(bytes.NewReader(bodies[1]))
	for i := 0; dec.More(); i++ {
		var ev struct {
			Time   json.Number    `json:"time"`
			Index  string         `json:"index"`
			Event  Record         `json:"event"`
			Fields map[string]any `json:"fields"`
		}
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Index != "main" || ev.Event.Index != recs[i].Index || ev.Fields["cairn_leaf_hash"] != recs[i].LeafHash {
			t.Fatalf("HEC event %d: %+v", i, ev)
		}
	}
	var o map[string]any
	if err := json.Unmarshal(bytes.SplitN(bodies[2], []byte("\n"), 2)[0], &o); err != nil || o["class_uid"] != float64(6003) {
		t.Fatalf("OCSF record %s: %v", bodies[2], err)
	}
	status = 503
	if err := sinks[0].Deliver(ctx, recs); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: %v", err)
	}
	status, answer = 200, `{"text":"Incorrect index","code":7}`
	if err := sinks[1].Deliver(ctx, recs); err == nil || !strings.Contains(err.Error(), "code 7") {
		t.Fatalf("HEC code 7: %v", err)
	}
	for _, r := range bodies {
		if bytes.Contains(r, []byte("s3cret")) || bytes.Contains(r, []byte("tok-123")) {
			t.Fatal("a secret in a body")
		}
	}
}

// value reads a gauge's or counter's value.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	c.Write(&m)
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// While a sink is down, its lag in entries counts everything it has not
// acknowledged (entries appended meanwhile included) and its lag in
// seconds is the age of the oldest of them; once it is back, both are 0.
func TestLagWhileTheSinkIsDown(t *testing.T) {
	e, f := server(t, 2)
	n := len(all(t, f))
	st, _ := OpenState(filepath.Join(t.TempDir(), "state"))
	sink := &flakySink{n: 1 << 30}
	m := NewMetrics(prometheus.NewRegistry())
	fw := &Forwarder{Feed: f, State: st, Sinks: []Sink{sink}, BatchSize: 1000, Wait: 200 * time.Millisecond, Backoff: Backoff{First: time.Millisecond, Max: 10 * time.Millisecond}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	lag := func() float64 { return value(m.LagEntries.WithLabelValues("flaky")) }
	waitUntil(t, func() bool { return lag() == float64(n) })
	e.Submit("agent-1", cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)})
	n2 := len(all(t, f))
	waitUntil(t, func() bool { return lag() == float64(n2) })
	if s := value(m.LagSeconds.WithLabelValues("flaky")); s <= 0 {
		t.Fatalf("lag seconds %v while the sink is down", s)
	}
	if _, ok := st.Cursor("flaky"); ok {
		t.Fatal("a cursor was recorded while the sink refused everything")
	}
	sink.mu.Lock()
	sink.n = 0
	sink.mu.Unlock()
	waitUntil(t, func() bool { c, ok := st.Cursor("flaky"); return ok && c == uint64(n2-1) && lag() == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Entries whose bodies retention pruned come through the feed with their
// leaf hash and no body: the forwarder delivers nothing for them, moves
// its cursor past them, and still refuses a pruned line that is malformed.
func TestForwarderSkipsPrunedEntries(t *testing.T) {
	_, f := server(t, 1)
	recs := all(t, f)
	pruned := Record{Index: 1, LeafHash: recs[1].LeafHash, Pruned: true}
	serve := func(lines []Record) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
			has := err == nil
			for _, l := range lines {
				if !has || l.Index > after {
					line, _ := json.Marshal(l) // a pruned line's body is null
					w.Write(append(line, '\n'))
				}
			}
		}))
	}
	srv := serve([]Record{recs[0], pruned, recs[2]})
	defer srv.Close()
	st, _ := OpenState(filepath.Join(t.TempDir(), "state"))
	sink := &flakySink{}
	fw := &Forwarder{Feed: &Feed{Server: srv.URL, Key: "k"}, State: st, Sinks: []Sink{sink}, Wait: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	waitUntil(t, func() bool { c, ok := st.Cursor("flaky"); return ok && c == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	if fmt.Sprint(sink.got) != "[0 2]" {
		t.Errorf("delivered %v, want [0 2] (the pruned entry 1 skipped)", sink.got)
	}
	sink.mu.Unlock()

	bad := serve([]Record{recs[0], {Index: 1, LeafHash: "not-a-hash", Pruned: true}})
	defer bad.Close()
	st2, _ := OpenState(filepath.Join(t.TempDir(), "state"))
	fw = &Forwarder{Feed: &Feed{Server: bad.URL, Key: "k"}, State: st2, Sinks: []Sink{&flakySink{}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var ie *IntegrityError
	if err := fw.Run(context.Background()); !errors.As(err, &ie) {
		t.Errorf("a malformed pruned line: Run returned %v, want an integrity error", err)
	}
}
