package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotatePayloadKeyCLI: cairn serve creates <data>/payload.key at first
// start (0600); keys rotate-payload-key re-wraps the data keys under a new
// key that replaces it; the server starts with it and reads the payloads,
// and refuses the old key.
func TestRotatePayloadKeyCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	p := startServerArgs(t, dir, freeAddr(t))
	someEvidence(t, p, 2)
	stop(p)
	keyPath := filepath.Join(dir, "payload.key")
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("payload.key: %v %v", fi, err)
	}
	old, _ := os.ReadFile(keyPath)
	oldCopy := filepath.Join(t.TempDir(), "old.key")
	os.WriteFile(oldCopy, old, 0o600)

	out, err := exec.Command(cairnBinary(t), "keys", "rotate-payload-key", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "re-wrapped 1 data keys") {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(keyPath); len(now) != 32 || bytes.Equal(now, old) {
		t.Fatal("payload.key was not replaced by a new key")
	}
	p = startServerArgs(t, dir, freeAddr(t))
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/jobs/s-0/context", nil, nil, 200)
	stop(p)
	if out := serveRefuses(t, "--data", dir, "--payload-key", oldCopy); !strings.Contains(out, "payload key") {
		t.Fatalf("the old key: %s", out)
	}
}
