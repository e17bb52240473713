package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/forward"
	"github.com/cairnhq/cairn/ledger"
)

// webhookReceiver is a webhook sink that refuses one request in five (500),
// checks each request's signature, and records what it accepted.
type webhookReceiver struct {
	secret []byte
	mu     sync.Mutex
	n      int
	got    []uint64
	lines  bytes.Buffer
	bad    []string
}

func (wr *webhookReceiver) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	body, err := io.ReadAll(r.Body)
	wr.mu.Lock()
	defer wr.mu.Unlock()
	wr.n++
	if err != nil || wr.n%5 == 0 {
		w.WriteHeader(500)
		return
	}
	if sig := r.Header.Get("X-Cairn-Signature"); !hmac.Equal([]byte(sig), []byte(forward.Signature(wr.secret, body))) {
		wr.bad = append(wr.bad, "bad signature "+sig)
		w.WriteHeader(401)
		return
	}
	var idx []uint64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec forward.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			wr.bad = append(wr.bad, err.Error())
			w.WriteHeader(400)
			return
		}
		if got := ledger.HashHex(ledger.LeafHash(rec.Body)); got != rec.LeafHash {
			wr.bad = append(wr.bad, fmt.Sprintf("index %d: body hashes to %s, leaf_hash %s", rec.Index, got, rec.LeafHash))
		}
		idx = append(idx, rec.Index)
	}
	wr.got = append(wr.got, idx...)
	wr.lines.Write(body)
	w.WriteHeader(204)
}

func (wr *webhookReceiver) count() int {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return len(wr.got)
}

// TestForwardWebhookAtLeastOnceInOrder: 10,000 ledger entries reach a
// webhook that fails one request in five while the forwarder (the built
// binary) is SIGKILLed twice: every entry arrives, in order, duplicates
// only where the forwarder was killed; the delivered records then verify
// against a signed checkpoint (cairn forward --verify).
func TestForwardWebhookAtLeastOnceInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := newForwardEnv(t)
	e.fill(t, 10000) // all there first: the faults hit a forwarder that is busy
	wr := &webhookReceiver{secret: []byte("webhook-secret-for-the-test")}
	hook := httptest.NewServer(wr)
	defer hook.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret"), string(wr.secret))
	const batch = 50 // small: the faults land while the forwarder is mid-stream
	config := filepath.Join(dir, "forward.yaml")
	writeFile(t, config, fmt.Sprintf("batch_size: %d\nwait: 2s\nsinks:\n  - name: hook\n    type: webhook\n    url: %s/ingest\n    secret_file: %s\n", batch, hook.URL, filepath.Join(dir, "secret")))
	state := filepath.Join(dir, "forward.state")

	fw := startForwarder(t, e, config, state)
	metricsAddr := freeLoopback(t)
	for i, at := range []int{2500, 5500} {
		waitFor(t, 3*time.Minute, func() bool { return wr.count() >= at }, func() string {
			return fmt.Sprintf("%d delivered; forwarder: %s", wr.count(), tail(fw.stderr.String(), 2000))
		})
		t.Logf("SIGKILL of the forwarder with %d records received", wr.count())
		fw.kill(t)
		if i == 1 {
			fw = startForwarder(t, e, config, state, "--metrics-addr", metricsAddr)
		} else {
			fw = startForwarder(t, e, config, state)
		}
	}
	// Then more entries while it tails the feed (long polls).
	total := e.fill(t, e.size(t)+300)
	waitFor(t, 3*time.Minute, func() bool {
		wr.mu.Lock()
		defer wr.mu.Unlock()
		return len(wr.got) > 0 && wr.got[len(wr.got)-1] == total-1
	}, func() string {
		return fmt.Sprintf("%d delivered of %d; forwarder: %s", wr.count(), total, tail(fw.stderr.String(), 2000))
	})
	// Caught up: the lag metrics say so, under their exact names.
	want := []string{
		`cairn_forward_lag_entries{sink="hook"} 0`,
		`cairn_forward_lag_seconds{sink="hook"} 0`,
		fmt.Sprintf(`cairn_forward_cursor{sink="hook"} %d`, total-1),
	}
	var scraped string
	waitFor(t, time.Minute, func() bool {
		resp, err := nethttp.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		scraped = string(raw)
		for _, w := range want {
			if !strings.Contains(scraped, w+"\n") {
				return false
			}
		}
		return true
	}, func() string { return "metrics: " + tail(scraped, 3000) })
	fw.stop()

	wr.mu.Lock()
	defer wr.mu.Unlock()
	if len(wr.bad) > 0 {
		t.Fatalf("the receiver refused requests: %v", wr.bad[:min(5, len(wr.bad))])
	}
	if wr.n < 10 {
		t.Fatalf("only %d requests", wr.n)
	}
	checkDelivery(t, wr.got, total, 2, batch)

	// --verify: the delivered records against the server's signed checkpoint.
	out := filepath.Join(dir, "delivered.ndjson")
	writeFile(t, out, wr.lines.String())
	cmd := exec.Command(cairnBinary(t), "forward", "--verify", "--server", e.URL, "--key-file", e.keyFile, "--log-key", e.logKey, out)
	res, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(res, []byte(fmt.Sprintf("ok: ledger entries 0..%d", total-1))) {
		t.Fatalf("forward --verify: %v: %s", err, res)
	}
	t.Logf("%s", bytes.TrimSpace(res))
}

// freeLoopback is a loopback address with a port free a moment ago.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// `cairn forward` refuses a bad configuration, naming the field, and
// refuses a state file it cannot read, before delivering anything.
func TestForwardRefusesBadConfigAndState(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	writeFile(t, key, "k")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "sinks:\n  - name: siem\n    type: syslog\n    address: no-port\n")
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "sinks:\n  - name: siem\n    type: syslog\n    address: 127.0.0.1:9\n")
	state := filepath.Join(dir, "state")
	writeFile(t, state, "not json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", bad}, "sinks[0].address: must be host:port"},
		{[]string{"--config", good, "--state", state}, "not a cairn forward state"},
		{[]string{}, "--config is required"},
		{[]string{"--verify", "x"}, "--log-key"},
	} {
		args := append([]string{"forward", "--server", "http://127.0.0.1:9", "--key-file", key}, c.args...)
		out, err := exec.Command(cairnBinary(t), args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("cairn %v: %v: %s; want %q", c.args, err, out, c.want)
		}
	}
	// A key without the auditor role: a clear error at start, no retrying.
	e := newForwardEnv(t)
	agentKey := filepath.Join(dir, "agent.key")
	writeFile(t, agentKey, e.Keys["agent-1"])
	out, err := exec.Command(cairnBinary(t), "forward", "--server", e.URL, "--key-file", agentKey, "--config", good, "--state", filepath.Join(dir, "state2")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs the auditor or admin role") || !strings.Contains(string(out), "403 forbidden") {
		t.Errorf("forward with an agent's key: %v: %s", err, out)
	}
}
