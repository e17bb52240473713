package ui_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/ui"
)

func TestHandlerHeadersAndRoutes(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/approvals", "text/html; charset=utf-8", 200},
		{"/approvals/job-123", "text/html; charset=utf-8", 200},
		{"/jobs/a%3Cb", "text/html; charset=utf-8", 200},
		{"/runs/run-01", "text/html; charset=utf-8", 200},
		{"/policy", "text/html; charset=utf-8", 200},
		{"/no/such/page", "text/html; charset=utf-8", 200},
		{"/assets/app.css", "text/css; charset=utf-8", 200},
		{"/assets/js/main.js", "text/javascript; charset=utf-8", 200},
		{"/assets/js/pages/approval.js", "text/javascript; charset=utf-8", 200},
		{"/assets/icon.svg", "image/svg+xml", 200},
		{"/assets/nope.js", "text/plain; charset=utf-8", 404},
		{"/assets/index.html", "text/plain; charset=utf-8", 404},
		{"/assets/../ui.go", "", 0}, // cleaned by the client; must not leak source
	} {
		resp, body := get(t, srv.URL+tc.path, nil)
		if tc.status == 0 {
			if bytes.Contains(body, []byte("package ui")) {
				t.Errorf("%s served Go source", tc.path)
			}
			continue
		}
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
		checkSecurityHeaders(t, tc.path, resp.Header)
	}

	// other methods
	req, _ := nethttp.NewRequest("POST", srv.URL+"/signin", strings.NewReader("key=x"))
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /signin: %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	checkSecurityHeaders(t, "POST /signin", resp.Header)
}

func checkSecurityHeaders(t *testing.T, what string, h nethttp.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestHandlerCompressionAndRevalidation(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	plain, body := get(t, srv.URL+"/assets/js/main.js", nil)
	zipped, zbody := get(t, srv.URL+"/assets/js/main.js", map[string]string{"Accept-Encoding": "gzip, deflate, br"})
	if zipped.Header.Get("Content-Encoding") != "gzip" || len(zbody) >= len(body) {
		t.Fatalf("gzip: encoding %q, %d vs %d bytes", zipped.Header.Get("Content-Encoding"), len(zbody), len(body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zbody))
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, body) {
		t.Fatal("gzip body differs from the plain body")
	}
	if _, b := get(t, srv.URL+"/assets/js/main.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); !bytes.Equal(b, body) {
		t.Error("gzip;q=0 was compressed")
	}
	etag := plain.Header.Get("ETag")
	if etag == "" || plain.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(plain.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("caching headers: etag %q cache-control %q vary %q", etag, plain.Header.Get("Cache-Control"), plain.Header.Get("Vary"))
	}
	nm, b := get(t, srv.URL+"/assets/js/main.js", map[string]string{"If-None-Match": etag})
	if nm.StatusCode != 304 || len(b) != 0 {
		t.Fatalf("If-None-Match: %d, %d bytes", nm.StatusCode, len(b))
	}
	checkSecurityHeaders(t, "304", nm.Header)
}

// TestAPIStillAnswersWithUI checks the hook: /api/ paths stay JSON API
// answers (never the console), operational routes still work.
func TestAPIStillAnswersWithUI(t *testing.T) {
	e := newEnv(t)
	resp, body := get(t, e.URL+"/api/v1/no-such-endpoint", nil)
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !bytes.Contains(body, []byte(`"not_found"`)) {
		t.Fatalf("/api/v1/no-such-endpoint: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := get(t, e.URL+"/healthz", nil); resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	resp, body = get(t, e.URL+"/approvals/job-1", nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<main id="main"`)) {
		t.Fatalf("console route: %d %.80s", resp.StatusCode, body)
	}
	checkSecurityHeaders(t, "console via API server", resp.Header)
}

// TestAssetsAreStrict reads the embedded sources: no inline script or
// style, no eval-like calls, no innerHTML, no external URLs, small total.
func TestAssetsAreStrict(t *testing.T) {
	root := "assets"
	total := 0
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	forbidden := []*regexp.Regexp{
		regexp.MustCompile(`\.innerHTML\b`), regexp.MustCompile(`\.outerHTML\b`), regexp.MustCompile(`insertAdjacentHTML`),
		regexp.MustCompile(`document\.write`), regexp.MustCompile(`\beval\s*\(`), regexp.MustCompile(`new\s+Function\b`),
		regexp.MustCompile(`setTimeout\(\s*['"]`), regexp.MustCompile(`console\.(log|info|debug)\(`),
		regexp.MustCompile(`https?://(?:[a-z0-9-]+\.)+[a-z]{2,}`), // no external origins (the SVG namespace is allowed below)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(b)
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		switch filepath.Ext(p) {
		case ".html":
			if inlineScript.MatchString(s) || strings.Contains(s, "<style") || regexp.MustCompile(`\sstyle=`).MatchString(s) || regexp.MustCompile(`\son[a-z]+=`).MatchString(s) {
				t.Errorf("%s has inline script, style or handlers", p)
			}
		case ".js":
			for _, re := range forbidden {
				if loc := re.FindStringIndex(s); loc != nil {
					t.Errorf("%s: forbidden %q at byte %d", p, s[loc[0]:loc[1]], loc[0])
				}
			}
		case ".css":
			if strings.Contains(s, "@import") || strings.Contains(s, "url(") || forbidden[len(forbidden)-1].MatchString(s) {
				t.Errorf("%s loads external resources", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded assets: %d bytes", total)
	if total > 150*1024 {
		t.Errorf("assets are %d bytes, over the 150 KB budget", total)
	}
}
