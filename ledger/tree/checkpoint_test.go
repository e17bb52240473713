package tree

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func testKey(t testing.TB, name string, b byte) *Key {
	t.Helper()
	k, err := NewKeyFromSeed(name, bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustVerifier(t testing.TB, vk string) note.Verifier {
	t.Helper()
	v, err := NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOrigin(t *testing.T) {
	for _, c := range []struct{ prefix, tenant, want string }{
		{"", "default", "cairn.local/default"},
		{"audit.example.com/", "acme", "audit.example.com/acme"},
		{"x.example/logs", "t1", "x.example/logs/t1"},
	} {
		got, err := Origin(c.prefix, c.tenant)
		if err != nil || got != c.want {
			t.Errorf("Origin(%q,%q) = %q, %v; want %q", c.prefix, c.tenant, got, err, c.want)
		}
	}
	for _, tenant := range []string{"", "a b", "a+b", "a\tb"} {
		if _, err := Origin("", tenant); err == nil {
			t.Errorf("Origin accepted tenant %q", tenant)
		}
	}
}

func TestCheckpointSignOpen(t *testing.T) {
	k := testKey(t, "cairn.local", 1)
	origin := "cairn.local/default"
	signer, err := k.SignerFor(origin)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := k.VerifierKeyFor(origin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vk, origin+"+") || signer.Name() != origin {
		t.Fatalf("key names: %q %q", vk, signer.Name())
	}
	root := ledger.LeafHash([]byte("x"))
	msg, err := SignCheckpoint(origin, 42, root, signer)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(msg), "\n\n")
	if want := origin + "\n42\n" + base64.StdEncoding.EncodeToString(root[:]); text != want {
		t.Fatalf("note text %q", text)
	}
	if !strings.Contains(string(msg), "\n\n— "+origin+" ") {
		t.Fatalf("no signature line in %q", msg)
	}
	c, err := OpenCheckpoint(msg, mustVerifier(t, vk))
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin != origin || c.Size != 42 || c.Root != root || c.LogKey == "" || len(c.Cosigners) != 0 {
		t.Fatalf("opened %+v", c)
	}
	p, err := ParseCheckpoint(msg)
	if err != nil || p.Size != 42 || p.Root != root || len(p.Unverified) != 1 {
		t.Fatalf("parse: %+v %v", p, err)
	}

	// Another key, or the key under another name, does not open it.
	other := testKey(t, "cairn.local", 2)
	ovk, _ := other.VerifierKeyFor(origin)
	if _, err := OpenCheckpoint(msg, mustVerifier(t, ovk)); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("other key: %v", err)
	}
	if _, err := OpenCheckpoint(msg, mustVerifier(t, k.VerifierKey())); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("key under its own name: %v", err)
	}
	// A changed text does not verify.
	bad := bytes.Replace(msg, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := OpenCheckpoint(bad, mustVerifier(t, vk)); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("tampered size: %v", err)
	}
	// Garbage is malformed.
	if _, err := OpenCheckpoint([]byte("hello"), mustVerifier(t, vk)); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("garbage: %v", err)
	}
}

func TestParseCheckpointText(t *testing.T) {
	good := "o\n7\n" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + "\n"
	if c, err := ParseCheckpointText(good); err != nil || c.Size != 7 {
		t.Fatalf("good: %v", err)
	}
	if c, err := ParseCheckpointText(good + "ext line\n"); err != nil || len(c.Extensions) != 1 {
		t.Fatalf("extension: %v", err)
	}
	for _, bad := range []string{
		"o\n7\nAAAA\n",
		"o\n07\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n+7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n7\n",
		"o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		good + "\n",
	} {
		if _, err := ParseCheckpointText(bad); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("accepted %q (%v)", bad, err)
		}
	}
	c := &Checkpoint{Origin: "o", Size: 0, Root: EmptyRoot}
	back, err := ParseCheckpointText(c.Text())
	if err != nil || back.Root != EmptyRoot || back.Size != 0 {
		t.Fatalf("round trip: %v", err)
	}
}

func TestGenerateAndLoadKey(t *testing.T) {
	sk, vk, err := GenerateKey("cairn.example.com")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(sk)
	if err != nil || k.VerifierKey() != vk || k.Name() != "cairn.example.com" {
		t.Fatalf("parse: %v", err)
	}
	if _, _, err := GenerateKey("bad name"); err == nil {
		t.Error("bad name accepted")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.key")
	k1, err := LoadOrCreateKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if k1.Name() != DefaultOriginPrefix {
		t.Errorf("name %q", k1.Name())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil || strings.TrimSpace(string(pub)) != k1.VerifierKey() {
		t.Errorf("pub file %q, %v", pub, err)
	}
	k2, err := LoadOrCreateKey(path, "ignored.when.loading")
	if err != nil || k2.SignerKey() != k1.SignerKey() {
		t.Fatalf("reload: %v", err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKey(path, ""); err == nil {
			t.Error("group-readable key file accepted")
		}
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("nonsense\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(bad, ""); err == nil {
		t.Error("nonsense key accepted")
	}
}

func TestCosign(t *testing.T) {
	origin := "cairn.local/default"
	logKey := testKey(t, "cairn.local", 1)
	logSigner, _ := logKey.SignerFor(origin)
	logVK, _ := logKey.VerifierKeyFor(origin)
	logV := mustVerifier(t, logVK)
	wKey := testKey(t, "witness.example", 9)
	w2Key := testKey(t, "witness2.example", 10)

	store := &MemoryNodes{}
	app := NewAppender()
	sign := func(n uint64) []byte {
		for app.Size() < n {
			nodes, _ := app.Append(leafN(app.Size()))
			_ = store.Put(nodes...)
		}
		msg, err := SignCheckpoint(origin, n, app.Root(), logSigner)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}

	w := &Witness{Signer: wKey.Signer(), Log: logV}
	m10 := sign(10)
	co10, err := w.Cosign(m10, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(co10, logV, mustVerifier(t, wKey.VerifierKey()))
	if err != nil || len(c.Cosigners) != 1 || c.Cosigners[0] != "witness.example" {
		t.Fatalf("cosigned 10: %+v %v", c, err)
	}
	// The log signature comes first; the cosignature is appended.
	lines := strings.Split(strings.TrimSuffix(string(co10), "\n"), "\n")
	if !strings.HasPrefix(lines[len(lines)-2], "— "+origin+" ") || !strings.HasPrefix(lines[len(lines)-1], "— witness.example ") {
		t.Fatalf("signature lines: %q", lines[len(lines)-2:])
	}

	m25 := sign(25)
	p, _ := ConsistencyProof(10, 25, store)
	co25, err := w.Cosign(m25, p)
	if err != nil {
		t.Fatal(err)
	}
	// A second witness adds its line and keeps the first one's.
	w2 := &Witness{Signer: w2Key.Signer(), Log: logV}
	co25b, err := w2.Cosign(co25, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err = OpenCheckpoint(co25b, logV, mustVerifier(t, wKey.VerifierKey()), mustVerifier(t, w2Key.VerifierKey()))
	if err != nil || len(c.Cosigners) != 2 {
		t.Fatalf("two cosigners: %+v %v", c, err)
	}
	// Opening with only the log key lists the cosignatures as unverified.
	c, err = OpenCheckpoint(co25b, logV)
	if err != nil || len(c.Unverified) != 2 {
		t.Fatalf("unverified cosignatures: %+v %v", c, err)
	}

	// A rewritten log (a fork at size 30 that does not extend 25) is refused.
	forkApp := NewAppender()
	forkStore := &MemoryNodes{}
	for i := uint64(0); i < 30; i++ {
		l := leafN(i)
		if i == 3 {
			l = leafN(1000)
		}
		nodes, _ := forkApp.Append(l)
		_ = forkStore.Put(nodes...)
	}
	fork, _ := SignCheckpoint(origin, 30, forkApp.Root(), logSigner)
	fp, _ := ConsistencyProof(25, 30, forkStore)
	if _, err := w.Cosign(fork, fp); !errors.Is(err, ErrInconsistent) {
		t.Errorf("fork cosigned: %v", err)
	}
	// A smaller (truncated) tree is refused.
	if _, err := w.Cosign(m10, nil); !errors.Is(err, ErrInconsistent) {
		t.Errorf("truncation cosigned: %v", err)
	}
	// A checkpoint not signed by the log is refused.
	other := testKey(t, "cairn.local", 3)
	os, _ := other.SignerFor(origin)
	forged, _ := SignCheckpoint(origin, 40, app.Root(), os)
	if _, err := w.Cosign(forged, nil); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("forged checkpoint cosigned: %v", err)
	}
	if w.Last.Size != 25 {
		t.Errorf("witness state %d", w.Last.Size)
	}
	// A tampered cosignature is an invalid signature.
	i := strings.LastIndex(string(co10), "— witness.example ")
	sig, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(co10[i+len("— witness.example "):])))
	sig[len(sig)-1] ^= 1
	bad := []byte(string(co10[:i]) + "— witness.example " + base64.StdEncoding.EncodeToString(sig) + "\n")
	if _, err := OpenCheckpoint(bad, logV, mustVerifier(t, wKey.VerifierKey())); err == nil {
		t.Error("tampered cosignature accepted")
	}
}
