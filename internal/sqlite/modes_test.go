//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// wantModes checks the data directory is 0700 and each file in it 0600.
func wantModes(t *testing.T, dir string, files ...string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o700 {
		t.Errorf("%s: mode %v, want 0700", dir, m)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, m)
		}
	}
}

// TestFileModes: the store's directory is 0700 and the database and its
// WAL and shared-memory files 0600, whatever the umask, and an existing
// store's looser modes are tightened at open (issue 11 §3.10).
func TestFileModes(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	dir := filepath.Join(t.TempDir(), "data")
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx cairn.Tx) error { return tx.CreateTenant("default", cairn.Now()) }); err != nil {
		t.Fatal(err)
	}
	wantModes(t, dir, "cairn.db", "cairn.db-wal", "cairn.db-shm")
	s.Close()

	// A store made with looser modes (before this fix, or by hand).
	for _, f := range []string{"cairn.db", "cairn.db-wal", "cairn.db-shm"} {
		if err := os.Chmod(filepath.Join(dir, f), 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), func(tx cairn.Tx) error { return tx.CreateTenant("acme", cairn.Now()) }); err != nil {
		t.Fatal(err)
	}
	wantModes(t, dir, "cairn.db", "cairn.db-wal", "cairn.db-shm")
}
