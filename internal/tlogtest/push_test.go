package tlogtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/tlogwitness"
	"github.com/cairnhq/cairn/ledger/tree"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/witness/persistence/inmemory"
	"golang.org/x/mod/sumdb/note"
)

const origin = "cairn.local/default"

func logVKey(t testing.TB) string {
	vk, err := logKey(t).VerifierKeyFor(origin)
	if err != nil {
		t.Fatal(err)
	}
	return vk
}

// TestWitnessesCosign: omniwitness and litewitness follow Cairn's log as
// it grows; their cosignatures verify with the formats library's
// cosignature/v1 verifier, are on GET /api/v1/ledger/checkpoint, and make
// `cairn verify --witness-key … --min-witnesses 2` accept an export.
func TestWitnessesCosign(t *testing.T) {
	vk := logVKey(t)
	ok, lk := witnessKey(t, "omni.test/w1", 1), witnessKey(t, "lite.test/w2", 2)
	o := startOmni(t, "", inmemory.New(), origin, vk, ok)
	l := newLite(t, "lite.test/w2", lk, 2, origin, vk)
	l.start()
	s := startServer(t, t.TempDir(), serverOpts{witnesses: []*tlogwitness.Witness{
		parseWitness(t, o.URL(), cosigV1Key(t, ok)), parseWitness(t, l.URL(), cosigV1Key(t, lk)),
	}})
	first := s.submit(20)
	waitCosigned(t, s, first, "omni.test/w1", "lite.test/w2")
	size := s.submit(300) // pushed with a consistency proof from first
	waitCosigned(t, s, size, "omni.test/w1", "lite.test/w2")

	// The latest checkpoint, as served, carries both cosignatures, and the
	// formats library's cosignature/v1 verifiers accept them.
	logV, _ := note.NewVerifier(vk)
	var vs []note.Verifier
	for _, k := range []string{cosigV1Key(t, ok), cosigV1Key(t, lk)} {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	served := s.checkpointNote()
	n, err := note.Open(served, note.VerifierList(append([]note.Verifier{logV}, vs...)...))
	if err != nil {
		t.Fatalf("checkpoint note does not verify: %v\n%s", err, served)
	}
	if !strings.HasPrefix(n.Text, fmt.Sprintf("%s\n%d\n", origin, size)) {
		t.Fatalf("latest checkpoint is\n%s, want size %d", n.Text, size)
	}
	signed := map[string]bool{}
	for _, sig := range n.Sigs {
		signed[sig.Name] = true
		if sig.Name != origin {
			ts, err := fnote.CoSigV1Timestamp(sig)
			if err != nil || ts.IsZero() {
				t.Fatalf("cosignature by %s has no cosignature/v1 timestamp: %v", sig.Name, err)
			}
		}
	}
	if !signed["omni.test/w1"] || !signed["lite.test/w2"] || !signed[origin] {
		t.Fatalf("verified signatures %v, want the log's and both witnesses'", signed)
	}
	eventually(t, "lag 0", func() bool {
		return s.metric(`cairn_witness_lag_entries{witness="omni.test/w1"}`) == "0" && s.metric(`cairn_witness_lag_entries{witness="lite.test/w2"}`) == "0"
	})

	// cairn verify on an export, with the cosigned checkpoint of the
	// first size as the trusted checkpoint.
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.json")
	getTo(t, s, "/api/v1/evidence/export", bundle)
	var cp struct {
		Note string `json:"note_with_cosignatures"`
	}
	if st := s.do("GET", fmt.Sprintf("/api/v1/ledger/checkpoints/%d", first), nil, &cp); st != 200 {
		t.Fatal(st)
	}
	trusted := filepath.Join(dir, "trusted.note")
	os.WriteFile(trusted, []byte(cp.Note), 0o600)
	bin := cairnBinary(t)
	args := []string{"verify", "--key", vk, "--trusted-checkpoint", trusted, "--witness-key", cosigV1Key(t, ok), "--witness-key", cosigV1Key(t, lk)}
	out, err := exec.Command(bin, append(args, "--min-witnesses", "2", bundle)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cairn verify --min-witnesses 2 failed: %v\n%s", err, out)
	}
	t.Logf("cairn verify --min-witnesses 2:\n%s", out)
	// The export's own checkpoint (the cosigned latest one) carries both
	// cosignatures: no trusted checkpoint needed.
	var b struct {
		Checkpoint string `json:"checkpoint"`
	}
	raw, _ := os.ReadFile(bundle)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Checkpoint, "— omni.test/w1 ") || !strings.Contains(b.Checkpoint, "— lite.test/w2 ") {
		t.Fatalf("the bundle's checkpoint carries no cosignatures:\n%s", b.Checkpoint)
	}
	out, err = exec.Command(bin, "verify", "--key", vk, "--witness-key", cosigV1Key(t, ok), "--witness-key", cosigV1Key(t, lk), "--min-witnesses", "2", bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("cairn verify --min-witnesses 2 on the bundle alone failed: %v\n%s", err, out)
	}
	// The check can fail: a third pinned witness that never cosigned.
	third := cosigV1Key(t, witnessKey(t, "other.test/w3", 3))
	out, err = exec.Command(bin, append(args, "--witness-key", third, "--min-witnesses", "3", bundle)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "witness") {
		t.Fatalf("cairn verify --min-witnesses 3 passed with two cosigners:\n%s", out)
	}
}

func getTo(t *testing.T, s *server, path, file string) {
	req, _ := nethttp.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWitnessStaleAndDown: litewitness restarted from an older copy of its
// database answers 409 with its size and Cairn catches it up from there;
// omniwitness down while the log grows lags (metric) without holding up
// submits, and catches up when back.
func TestWitnessStaleAndDown(t *testing.T) {
	vk := logVKey(t)
	ok, lk := witnessKey(t, "omni.test/w1", 1), witnessKey(t, "lite.test/w2", 2)
	persist := inmemory.New()
	o := startOmni(t, "", persist, origin, vk, ok)
	l := newLite(t, "lite.test/w2", lk, 2, origin, vk)
	l.start()
	s := startServer(t, t.TempDir(), serverOpts{witnesses: []*tlogwitness.Witness{
		parseWitness(t, o.URL(), cosigV1Key(t, ok)), parseWitness(t, l.URL(), cosigV1Key(t, lk)),
	}})
	a := s.grow(300)
	waitCosigned(t, s, a, "omni.test/w1", "lite.test/w2")
	l.stop()
	l.copyDB("litewitness.db", "backup.db")
	l.start()
	b := s.grow(400)
	waitCosigned(t, s, b, "omni.test/w1", "lite.test/w2")

	// litewitness goes back to size a; omniwitness goes down.
	l.stop()
	l.copyDB("backup.db", "litewitness.db")
	l.start()
	o.stop()
	c := s.grow(500)
	var job cairn.Job
	if st := s.do("POST", "/api/v1/jobs", cairn.SubmitRequest{Action: "db.read", Input: json.RawMessage(`{}`)}, &job); st != 201 {
		t.Fatalf("submit while a witness is down: %d", st)
	}
	waitCosigned(t, s, c, "lite.test/w2")
	if !strings.Contains(s.Logs.String(), fmt.Sprintf("witness_size=%d", a)) {
		t.Fatalf("no 409 from the stale litewitness (size %d) in the log:\n%s", a, s.Logs.String())
	}
	t.Logf("stale litewitness: 409 with size %d, then cosigned %d", a, c)
	eventually(t, "omniwitness lag reported", func() bool {
		v := s.metric(`cairn_witness_lag_entries{witness="omni.test/w1"}`)
		return v != "" && v != "0"
	})
	t.Logf("omniwitness down: lag %s entries", s.metric(`cairn_witness_lag_entries{witness="omni.test/w1"}`))

	// omniwitness back, on the same address with the same state.
	o = startOmni(t, o.addr, persist, origin, vk, ok)
	latest, err := s.svc.LatestCheckpoint(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	waitCosigned(t, s, latest.Size, "omni.test/w1")
	eventually(t, "omniwitness lag 0", func() bool {
		return s.metric(`cairn_witness_lag_entries{witness="omni.test/w1"}`) == "0"
	})
}

// TestWitnessGarbageIsNotStored: answers that are not valid cosignatures
// by the pinned key are logged and never stored.
func TestWitnessGarbageIsNotStored(t *testing.T) {
	wk := witnessKey(t, "fake.test/w9", 9)
	impostor := witnessKey(t, "fake.test/w9", 10) // same name, other key
	answers := map[string]func(w nethttp.ResponseWriter, body []byte){
		"text": func(w nethttp.ResponseWriter, _ []byte) { w.Write([]byte("hello, this is not a cosignature\n")) },
		"bad-signature": func(w nethttp.ResponseWriter, _ []byte) {
			w.Write([]byte("— fake.test/w9 " + strings.Repeat("A", 96) + "\n"))
		},
		"other-key": func(w nethttp.ResponseWriter, body []byte) {
			_, cp, _ := strings.Cut(string(body), "\n\n")
			text, _, _ := strings.Cut(cp, "\n\n")
			sg, _ := impostor.CosignatureV1Signer()
			signed, err := note.Sign(&note.Note{Text: text + "\n"}, sg)
			if err != nil {
				w.WriteHeader(500)
				return
			}
			_, sigs, _ := strings.Cut(string(signed), "\n\n")
			w.Write([]byte(sigs))
		},
		"409-garbage": func(w nethttp.ResponseWriter, _ []byte) { w.WriteHeader(409); w.Write([]byte("banana\n")) },
	}
	var ws []*tlogwitness.Witness
	for name, answer := range answers {
		answer := answer
		srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			b, _ := io.ReadAll(r.Body)
			answer(w, b)
		}))
		t.Cleanup(srv.Close)
		t.Logf("%s: %s", name, srv.URL)
		ws = append(ws, parseWitness(t, srv.URL, cosigV1Key(t, wk)))
	}
	s := startServer(t, t.TempDir(), serverOpts{witnesses: ws})
	size := s.grow(100)
	eventually(t, "every garbage answer logged", func() bool {
		return strings.Count(s.Logs.String(), "witness answered garbage") >= len(answers)
	})
	if cs := s.cosigners(size); len(cs) != 0 {
		t.Fatalf("garbage stored as cosignatures: %v", cs)
	}
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, "garbage") {
			t.Log(l)
		}
	}
}

// TestTruncatedLogRefusedByWitness: rows deleted on disk and the log
// regrown differently; omniwitness, which cosigned the longer original,
// refuses the consistency proof (422) and nothing is cosigned.
func TestTruncatedLogRefusedByWitness(t *testing.T) {
	vk := logVKey(t)
	ok := witnessKey(t, "omni.test/w1", 1)
	o := startOmni(t, "", inmemory.New(), origin, vk, ok)
	ws := []*tlogwitness.Witness{parseWitness(t, o.URL(), cosigV1Key(t, ok))}
	dir := t.TempDir()
	s := startServer(t, dir, serverOpts{witnesses: ws})
	cosigned := s.grow(600)
	waitCosigned(t, s, cosigned, "omni.test/w1")
	s.stop()

	truncate(t, dir, 400)
	s = startServer(t, dir, serverOpts{witnesses: ws})
	s.actor = "rewriter" // different entries from 400 on
	size := s.grow(500)
	if size <= cosigned {
		t.Fatalf("regrown log has %d entries, want more than %d", size, cosigned)
	}
	eventually(t, "the witness's refusal", func() bool { return strings.Contains(s.Logs.String(), "witness answered 422") })
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, "witness answered 422") {
			t.Logf("refusal: %s", l)
			break
		}
	}
	if cs := s.cosigners(size); contains(cs, "omni.test/w1") {
		t.Fatal("the witness cosigned the rewritten log")
	}
	latest, err := o.p.Latest(context.Background(), origin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tree.ParseCheckpoint(latest)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != cosigned {
		t.Fatalf("witness state moved to %d, want it kept at %d", c.Size, cosigned)
	}
}

// TestTruncatedLogRefusedByLitewitness: the same with litewitness, which
// keeps its state in its SQLite database.
func TestTruncatedLogRefusedByLitewitness(t *testing.T) {
	vk := logVKey(t)
	lk := witnessKey(t, "lite.test/w2", 2)
	l := newLite(t, "lite.test/w2", lk, 2, origin, vk)
	l.start()
	ws := []*tlogwitness.Witness{parseWitness(t, l.URL(), cosigV1Key(t, lk))}
	dir := t.TempDir()
	s := startServer(t, dir, serverOpts{witnesses: ws})
	cosigned := s.grow(600)
	waitCosigned(t, s, cosigned, "lite.test/w2")
	s.stop()

	truncate(t, dir, 400)
	s = startServer(t, dir, serverOpts{witnesses: ws})
	s.actor = "rewriter"
	size := s.grow(500)
	eventually(t, "litewitness's refusal", func() bool { return strings.Contains(s.Logs.String(), "witness answered 422") })
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, "witness answered 422") {
			t.Logf("refusal: %s", l)
			break
		}
	}
	if cs := s.cosigners(size); contains(cs, "lite.test/w2") {
		t.Fatal("litewitness cosigned the rewritten log")
	}
}
