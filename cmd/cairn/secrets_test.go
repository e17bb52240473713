package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// serveRefuses runs cairn serve, which must exit with an error before
// serving; it returns what it printed.
func serveRefuses(t *testing.T, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	cmd := exec.CommandContext(ctx, cairnBinary(t), args...)
	cmd.Env = append(os.Environ(), "CAIRN_ADMIN_KEY="+testAdminKey)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("cairn serve %v did not refuse to start (err %v):\n%s", extra, err, out)
	}
	return string(out)
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// callError makes a call that must fail and returns its status, error body
// and headers.
func callError(t *testing.T, base, key, method, path string, body any) (int, apiError, nethttp.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := nethttp.NewRequest(method, base+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var e struct {
		Error apiError `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error, resp.Header
}

func newKeyFile(t *testing.T) (string, *tree.Key) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.key")
	k, err := tree.LoadOrCreateKey(path, "cairn")
	if err != nil {
		t.Fatal(err)
	}
	return path, k
}

func newSaltFile(t *testing.T) (string, []byte) {
	t.Helper()
	salt := make([]byte, 32)
	rand.Read(salt)
	path := filepath.Join(t.TempDir(), "findings.salt")
	if err := os.WriteFile(path, salt, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, salt
}

func pubValue(k *tree.Key) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(k.PublicKey())
}

func stop(p *proc) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

// someEvidence submits a few jobs and has a checkpoint signed.
func someEvidence(t *testing.T, p *proc, n int) cairn.Checkpoint {
	t.Helper()
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: flipAllow}, nil, 201)
	var ck cairn.CreatedKey
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "agent-s", Kind: "agent", Roles: []string{"agent"}}, &ck, 201)
	for i := 0; i < n; i++ {
		mustCall(t, p.base, ck.Key, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: fmt.Sprintf("s-%d", i), Action: "db.flip"}, nil, 201)
	}
	var cp cairn.Checkpoint
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, &cp, 200)
	return cp
}

// TestServeRefusesOtherSecrets: a server started on a store with another
// checkpoint signing key or findings salt than the store was first used
// with refuses to start, naming the key expected and where it came from;
// the salt itself never appears, only its keyed fingerprint (issue 11 §2).
func TestServeRefusesOtherSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	keyFile, key := newKeyFile(t)
	saltFile, salt := newSaltFile(t)
	args := []string{"--ledger-key", keyFile, "--salt-file", saltFile}
	p := startServerArgs(t, dir, freeAddr(t), args...)
	someEvidence(t, p, 3)
	stop(p)

	otherKey, other := newKeyFile(t)
	out := serveRefuses(t, "--data", dir, "--ledger-key", otherKey, "--salt-file", saltFile)
	for _, want := range []string{"refusing to start", "checkpoint signing key", pubValue(key), pubValue(other), "recorded in the store at first start on", "--ledger-key " + otherKey} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	otherSalt, _ := newSaltFile(t)
	out = serveRefuses(t, "--data", dir, "--ledger-key", keyFile, "--salt-file", otherSalt)
	for _, want := range []string{"refusing to start", "findings salt", "hmac-sha256:", "recorded in the store at first start on", "--salt-file " + otherSalt} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, hex.EncodeToString(salt)) || strings.Contains(out, base64.StdEncoding.EncodeToString(salt)) {
		t.Errorf("the refusal shows the salt:\n%s", out)
	}
	// The right secrets still start it.
	p = startServerArgs(t, dir, freeAddr(t), args...)
	stop(p)
}

// TestServeRecordsKeyOfExistingStore: a store used before keys were
// recorded gets the key recorded from its checkpoints, if they verify with
// it; another key is refused.
func TestServeRecordsKeyOfExistingStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	keyFile, key := newKeyFile(t)
	p := startServerArgs(t, dir, freeAddr(t), "--ledger-key", keyFile)
	cp := someEvidence(t, p, 2)
	stop(p)
	// As a store of the version before: nothing recorded.
	tamper(t, dir, `DELETE FROM store_secrets`)

	otherKey, _ := newKeyFile(t)
	out := serveRefuses(t, "--data", dir, "--ledger-key", otherKey)
	for _, want := range []string{"refusing to start", "no signing key is recorded yet", `latest checkpoint of tenant "default" (size ` + fmt.Sprint(cp.Size)} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	p = startServerArgs(t, dir, freeAddr(t), "--ledger-key", keyFile)
	stop(p)
	out = serveRefuses(t, "--data", dir, "--ledger-key", otherKey)
	for _, want := range []string{pubValue(key), "from the checkpoints it held, which that key signed"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
}

// TestReplicaWithOtherKeyRefusesToStart: a second replica on the same
// PostgreSQL store with another --ledger-key does not start (it used to
// start with a warning and make GET /ledger/verify answer 500).
func TestReplicaWithOtherKeyRefusesToStart(t *testing.T) {
	c := newCluster(t, 1)
	someEvidence(t, c.procs[0], 1)
	otherKey, _ := newKeyFile(t)
	args := append([]string{}, c.args...)
	for i := range args {
		if args[i] == "--ledger-key" {
			args[i+1] = otherKey
		}
	}
	out := serveRefuses(t, append([]string{"--data", t.TempDir()}, args...)...)
	if !strings.Contains(out, "recorded in the store at first start on") || !strings.Contains(out, "--ledger-key "+otherKey) {
		t.Fatalf("refusal:\n%s", out)
	}
	// The first replica is unaffected.
	var rep struct {
		OK bool `json:"ok"`
	}
	mustCall(t, c.procs[0].base, testAdminKey, "GET", "/api/v1/ledger/verify", nil, &rep, 200)
	if !rep.OK {
		t.Fatal("ledger verify reports problems")
	}
}

// TestTruncatedLedgerIsReported deletes entries from the tail of the
// ledger on disk, leaving the checkpoint that covered them: the server
// says so with both sizes in its logs, on /readyz, in /ledger/verify and
// in the export (500 ledger_truncated, not a 503 to retry).
func TestTruncatedLedgerIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	p := startServer(t, dir, freeAddr(t))
	cp := someEvidence(t, p, 4)
	stop(p)
	cut := cp.Size - 3
	tamper(t, dir, fmt.Sprintf(`DELETE FROM ledger WHERE idx >= %d`, cut), fmt.Sprintf(`DELETE FROM ledger_bodies WHERE idx >= %d`, cut))
	sizes := func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("has %d entries", cut)) && strings.Contains(s, fmt.Sprintf("covers %d", cp.Size))
	}

	p = startServerUntil(t, "/healthz", dir, freeAddr(t))
	for _, path := range []string{"/readyz", "/api/v1/evidence/export"} {
		st, e, _ := callError(t, p.base, testAdminKey, "GET", path, nil)
		if st != 500 || e.Code != cairn.CodeLedgerTruncated || !sizes(e.Message) {
			t.Fatalf("GET %s: %d %+v", path, st, e)
		}
	}
	var rep json.RawMessage
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/ledger/verify", nil, &rep, 200)
	var r struct {
		OK bool `json:"ok"`
	}
	json.Unmarshal(rep, &r)
	if r.OK || !strings.Contains(string(rep), "truncat") || !strings.Contains(string(rep), fmt.Sprintf("signed and has %d now", cut)) {
		t.Fatalf("/ledger/verify: %s", rep)
	}
	stop(p) // its log buffer is read once it has exited
	if logs := p.logs.String(); !strings.Contains(logs, "ledger integrity failure") || !sizes(logs) {
		t.Fatalf("logs do not report it:\n%s", logs)
	}
}
