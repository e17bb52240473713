package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
)

// TestMetricsAccess checks who may read /metrics on the API listener
// (ADR 0037): anyone from loopback; from elsewhere only a key with the
// auditor (or admin) role. The separate listener's handler needs no key.
func TestMetricsAccess(t *testing.T) {
	store, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := service.New(store, log, []byte("salt"))
	if _, err := svc.Bootstrap(context.Background(), adminKey); err != nil {
		t.Fatal(err)
	}
	api := cairnhttp.New(svc, log)
	do := func(method, path, remote, key string, body any) (int, []byte) {
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = strings.NewReader(string(b))
		}
		req := httptest.NewRequest(method, path, r)
		req.RemoteAddr = remote
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		return w.Code, w.Body.Bytes()
	}
	keyFor := func(principal string, roles ...string) string {
		code, raw := do("POST", "/api/v1/keys", "127.0.0.1:1", adminKey, cairn.CreateKeyRequest{Principal: principal, Kind: "human", Roles: roles})
		var k cairn.CreatedKey
		if code != 201 || json.Unmarshal(raw, &k) != nil {
			t.Fatalf("create key: %d %s", code, raw)
		}
		return k.Key
	}
	auditor, agent := keyFor("aud", "auditor"), keyFor("ag", "agent")
	for _, c := range []struct {
		remote, key string
		want        int
	}{
		{"127.0.0.1:5000", "", 200},
		{"[::1]:5000", "", 200},
		{"127.8.9.10:5000", "", 200},
		{"[::ffff:127.0.0.1]:5000", "", 200},
		{"203.0.113.7:5000", "", 401},
		{"10.0.0.5:5000", "not-a-key", 401},
		{"203.0.113.7:5000", agent, 403},
		{"203.0.113.7:5000", auditor, 200},
		{"[2001:db8::1]:5000", adminKey, 200},
	} {
		code, body := do("GET", "/metrics", c.remote, c.key, nil)
		if code != c.want {
			t.Errorf("/metrics from %s with key %v: %d, want %d", c.remote, c.key != "", code, c.want)
		}
		if code == 200 && !strings.Contains(string(body), "cairn_http_requests_total") {
			t.Errorf("/metrics from %s: no metrics in %.100s", c.remote, body)
		}
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "203.0.113.7:5000"
	api.MetricsHandler().ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "cairn_http_requests_total") {
		t.Errorf("the separate listener's handler: %d", w.Code)
	}
}
