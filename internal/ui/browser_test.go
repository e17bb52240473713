package ui_test

// The browser harness: one headless chromium for the test process, one tab
// per test. Tests skip when no chromium is installed, unless
// CAIRN_REQUIRE_BROWSER=1 (CI), where they fail. A failing test saves a
// screenshot under ui/testdata/failures/ (or $CAIRN_UI_FAILURES) and logs
// its path.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserCancel []context.CancelFunc
	browserErr    error
	browserDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(browserCancel) - 1; i >= 0; i-- {
		browserCancel[i]()
	}
	if browserDir != "" {
		os.RemoveAll(browserDir)
	}
	os.Exit(code)
}

// chromiumPath finds a chromium: $CAIRN_CHROMIUM, then the usual names.
func chromiumPath() string {
	if p := os.Getenv("CAIRN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func startBrowser(path string) {
	dir, err := os.MkdirTemp("", "cairn-ui-chromium-")
	if err != nil {
		browserErr = err
		return
	}
	browserDir = dir
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	browserCancel = append(browserCancel, cancelAlloc, cancelCtx)
	if err := chromedp.Do(ctx); err != nil {
		browserErr = fmt.Errorf("starting %s: %w", path, err)
		return
	}
	browserCtx = ctx
}

// tab is one browser tab of a test.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newTab opens a tab, or skips the test when there is no browser.
func newTab(t *testing.T, base string) *tab {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CAIRN_REQUIRE_BROWSER") == "1" {
			t.Fatal("CAIRN_REQUIRE_BROWSER=1 but no chromium was found (install it: apt-get install -y chromium, or set CAIRN_CHROMIUM)")
		}
		t.Skip("browser test skipped: no chromium found (apt-get install -y chromium, or set CAIRN_CHROMIUM; CAIRN_REQUIRE_BROWSER=1 makes this a failure)")
	}
	browserOnce.Do(func() { startBrowser(path) })
	if browserErr != nil {
		if os.Getenv("CAIRN_REQUIRE_BROWSER") == "1" {
			t.Fatal(browserErr)
		}
		t.Skipf("browser test skipped: %v", browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	tb := &tab{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			tb.screenshot()
		}
		cancel()
	})
	return tb
}

// screenshot saves the page as PNG and logs where.
func (b *tab) screenshot() {
	dir := os.Getenv("CAIRN_UI_FAILURES")
	if dir == "" {
		dir = filepath.Join("testdata", "failures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot failed: %v", err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()) + "-" + time.Now().Format("150405") + ".png"
	p, _ := filepath.Abs(filepath.Join(dir, name))
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	url, _ := evalT[string](b, `location.href`)
	b.t.Logf("screenshot of the failing page (%s) saved to %s", url, p)
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func evalT[T any](b *tab, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

func eval[T any](b *tab, js string) T {
	b.t.Helper()
	v, err := evalT[T](b, js)
	if err != nil {
		b.t.Fatalf("evaluating %.120s: %v", js, err)
	}
	return v
}

// wait polls a JavaScript condition until it is true. (chromedp's Poll
// compiles the predicate with new Function, which the console's CSP forbids.)
func (b *tab) wait(cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	expr := `(() => { try { return !!(` + cond + `); } catch (e) { return false; } })()`
	for {
		ok, err := evalT[bool](b, expr)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %v waiting for %s (last error %v)\npage text: %.1500s", timeout, cond, err, b.mainText())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func (b *tab) mainText() string {
	s, _ := evalT[string](b, `(document.getElementById('main') || document.body).innerText`)
	return s
}

// ready waits until the console shows path and has finished loading it.
func (b *tab) ready(path string) {
	b.t.Helper()
	p, _ := json.Marshal(path)
	b.wait(`location.pathname === `+string(p)+` && document.getElementById('main').getAttribute('aria-busy') === 'false'`, 20*time.Second)
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// visit navigates in the console (history API), as a click on a link would.
func (b *tab) visit(path string) {
	b.t.Helper()
	p, _ := json.Marshal(path)
	eval[chromedp.Void](b, `(() => { history.pushState(null, '', `+string(p)+`); dispatchEvent(new PopStateEvent('popstate')); })()`)
	u := path
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	b.ready(u)
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	return eval[string](b, `(() => { const e = document.querySelector(`+string(s)+`); return e ? e.innerText : '<<no element '+`+string(s)+`+'>>'; })()`)
}

func (b *tab) count(sel string) int {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	return eval[int](b, `document.querySelectorAll(`+string(s)+`).length`)
}

func (b *tab) signIn(key string) {
	b.t.Helper()
	b.open("/signin")
	b.ready("/signin")
	b.do(chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Click(chromedp.CSS("form button[type=submit]")))
	b.wait(`location.pathname !== '/signin' && document.getElementById('main').getAttribute('aria-busy') === 'false'`, 20*time.Second)
}

// problems returns uncaught exceptions and CSP violations seen in the tab.
func (b *tab) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
			out = append(out, m.String())
		}
	}
	return out
}

func (b *tab) noProblems() {
	b.t.Helper()
	time.Sleep(50 * time.Millisecond)
	if p := b.problems(); len(p) > 0 {
		b.t.Errorf("the page had exceptions or CSP violations:\n%s", strings.Join(p, "\n"))
	}
}
