package payloadkey

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenBindsTenantAndPtr(t *testing.T) {
	raw, _ := Generate()
	d, err := NewDataKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"marker":"x"}`)
	c, err := d.Seal("t1", "ctx:j1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c, msg) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := d.Open("t1", "ctx:j1", c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for _, tc := range []struct{ tenant, ptr string }{{"t2", "ctx:j1"}, {"t1", "ctx:j2"}} {
		if _, err := d.Open(tc.tenant, tc.ptr, c); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open(%s, %s) = %v, want ErrOpen", tc.tenant, tc.ptr, err)
		}
	}
	c[len(c)-1] ^= 1
	if _, err := d.Open("t1", "ctx:j1", c); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered: %v", err)
	}
	c2, _ := d.Seal("t1", "ctx:j1", msg)
	if bytes.Equal(c[:13], c2[:13]) {
		t.Fatal("two seals share a nonce")
	}
}

func TestWrapUnwrapAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "payload.key")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	again, err := LoadOrCreate(path)
	if err != nil || again.ID() != k1.ID() {
		t.Fatalf("reload: %v, ids %s %s", err, again.ID(), k1.ID())
	}
	raw, _ := Generate()
	w, err := k1.Wrap("t", "k1", raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k1.Unwrap("t", "k2", w); !errors.Is(err, ErrOpen) {
		t.Fatalf("unwrap under another key id: %v", err)
	}
	raw2, _ := Generate()
	k2, _ := NewKEK(raw2)
	if k2.ID() == k1.ID() {
		t.Fatal("two KEKs share an id")
	}
	if _, err := k2.Unwrap("t", "k1", w); !errors.Is(err, ErrOpen) {
		t.Fatalf("unwrap under another KEK: %v", err)
	}
	d, err := k1.Unwrap("t", "k1", w)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.Seal("t", "p", []byte("hello"))
	w2, _ := k2.Wrap("t", "k1", raw)
	d2, err := k2.Unwrap("t", "k1", w2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d2.Open("t", "p", c); err != nil || string(got) != "hello" {
		t.Fatalf("after re-wrap: %q %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "short")); err == nil {
		t.Fatal("short key accepted")
	}
}

// BenchmarkSealOpen1KiB: sealing and opening a 1 KiB payload, the cost
// encryption at rest adds to a submit and to a payload read.
func BenchmarkSealOpen1KiB(b *testing.B) {
	raw, _ := Generate()
	d, _ := NewDataKey(raw)
	msg := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		c, err := d.Seal("default", "ctx:job-1", msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Open("default", "ctx:job-1", c); err != nil {
			b.Fatal(err)
		}
	}
}
