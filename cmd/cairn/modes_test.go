//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestServeFileModes: cairn serve keeps its data directory to its owner
// (0700) and every file in it 0600 — the database, its WAL and shared
// memory, the ledger key and the findings salt (not the public key) —
// whatever the umask, and
// tightens a directory made looser (issue 11 §3.10).
func TestServeFileModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	defer syscall.Umask(syscall.Umask(0o022))
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, dataDir, freeAddr(t))
	if st, err := call(p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: "default: deny\n"}, nil); err != nil || st != 201 {
		t.Fatalf("publish: %d %v", st, err)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o700 {
		t.Errorf("data dir mode %v, want 0700", m)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if e.Name() == "ledger.key.pub" {
			continue // the log's public key, published by design (in a 0700 directory)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), m)
		}
	}
	for _, f := range []string{"cairn.db", "cairn.db-wal", "cairn.db-shm", "ledger.key", "findings.salt"} {
		if !seen[f] {
			t.Errorf("%s was not created", f)
		}
	}
}
