package serve

import (
	"bytes"
	"context"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs Run(ctx, cfg) on a loopback listener the test owns and
// waits for /readyz; it returns the base URL, cancel and Run's result.
func startRun(t *testing.T, cfg Config) (base string, cancel func(), done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, cfg) }()
	base = "http://" + ln.Addr().String()
	for i := 0; ; i++ {
		select {
		case err := <-errc:
			stop()
			t.Fatalf("Run returned before serving: %v", err)
		default:
		}
		if resp, err := nethttp.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 600 {
			stop()
			t.Fatal("the server never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(stop)
	return base, stop, errc
}

func get(t *testing.T, url, key string) (*nethttp.Response, string) {
	t.Helper()
	req, _ := nethttp.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRunServesAStoreItDoesNotOwn: Run called directly (as the bench
// does) serves the caller's listener and store, bootstraps the admin key
// it is given, drains on cancel (503 draining on /readyz, connections
// closed), returns nil, and leaves the store open for its owner.
func TestRunServesAStoreItDoesNotOwn(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const admin = "ck_serve_test_admin_key_0001"
	cfg := DefaultConfig()
	cfg.DataDir, cfg.OpenedStore, cfg.AdminKey, cfg.LogLevel = dir, st, admin, "error"
	cfg.Drain = 3 * time.Second
	cfg.Stderr = io.Discard
	base, cancel, done := startRun(t, cfg)

	if resp, _ := get(t, base+"/api/v1/policy", admin); resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/policy with the admin key: %d", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/api/v1/policy", "ck_not_the_admin_key_000"); resp.StatusCode != 401 {
		t.Fatalf("GET /api/v1/policy with another key: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.key")); !os.IsNotExist(err) {
		t.Errorf("a given admin key was written to admin.key: %v", err)
	}

	cancel()
	var resp *nethttp.Response
	var body string
	for i := 0; i < 100; i++ {
		if resp, body = get(t, base+"/readyz", ""); resp.StatusCode == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp.StatusCode != 503 || !strings.Contains(body, "draining") || !resp.Close {
		t.Fatalf("while draining /readyz answered %d %q (close %v)", resp.StatusCode, body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := st.View(context.Background(), func(tx cairn.ReadTx) error {
		ok, err := tx.TenantExists("default")
		if err == nil && !ok {
			t.Error("the store has no tenant default")
		}
		return err
	}); err != nil {
		t.Fatalf("the caller's store was closed by Run: %v", err)
	}
}

// TestRunWritesTheFirstAdminKey: without an admin key, Run prints a random
// one once and writes it to <data>/admin.key (0600), in a data dir that is
// its owner's alone.
func TestRunWritesTheFirstAdminKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cfg := DefaultConfig()
	cfg.DataDir, cfg.LogLevel, cfg.Stderr = dir, "error", &stderr
	base, cancel, done := startRun(t, cfg)
	raw, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(raw))
	if !strings.Contains(stderr.String(), key) {
		t.Errorf("the admin key was not printed: %q", stderr.String())
	}
	if resp, _ := get(t, base+"/api/v1/policy", key); resp.StatusCode != 200 {
		t.Errorf("GET /api/v1/policy with the written key: %d", resp.StatusCode)
	}
	for name, want := range map[string]os.FileMode{"admin.key": 0o600, "ledger.key": 0o600, "findings.salt": 0o600, ".": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRunRefusesAnInvalidConfig: Run validates before touching anything.
func TestRunRefusesAnInvalidConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := DefaultConfig()
	cfg.DataDir, cfg.MaxExports = dir, 65
	if err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--max-exports 65") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("an invalid config created the data dir: %v", err)
	}
}
