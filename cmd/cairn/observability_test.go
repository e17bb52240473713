package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	nethttp "net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/tracing/otlptest"
)

// TestServeTracesAndMetrics runs cairn serve with the standard OTEL_*
// variables pointing at an OTLP/HTTP receiver and with --metrics-addr: a
// submit's span arrives in the client's trace, and the separate listener
// serves the governance metrics without a key.
func TestServeTracesAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	rc := otlptest.New(t, true)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", "cairn-e2e")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := l.Addr().String()
	l.Close()
	p := startServerArgs(t, t.TempDir(), freeAddr(t), "--metrics-addr", maddr)
	if st, err := call(p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: "default: deny\nrules:\n  - id: reads\n    match: {actions: [\"db.read\"]}\n    decision: ALLOW\n    reason: ok\n", Message: "t"}, nil); st != 201 || err != nil {
		t.Fatalf("publish: %d %v", st, err)
	}
	const traceID = "5bf92f3577b34da6a3ce929d0e0e4736"
	submitTraced(t, p.base, traceID)
	mresp, err := httpc.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if mresp.StatusCode != 200 || !strings.Contains(string(raw), `cairn_policy_decisions_total{decision="ALLOW",phase="submit",rule="reads"} 1`) {
		t.Fatalf("--metrics-addr /metrics: %d\n%s", mresp.StatusCode, raw)
	}
	if !waitForSubmitSpan(rc, traceID) {
		t.Errorf("no submit span in the client's trace among %d spans", rc.Count())
	}
	for _, s := range rc.Services() {
		if s != "cairn-e2e" {
			t.Errorf("service.name %q", s)
		}
	}
}

// submitTraced submits a job in the trace traceID (W3C traceparent) and
// checks the job carries it.
func submitTraced(t *testing.T, base, traceID string) {
	t.Helper()
	body, _ := json.Marshal(cairn.SubmitRequest{JobID: "e2e-1", Action: "db.read", Input: json.RawMessage(`{}`)})
	req, _ := nethttp.NewRequest("POST", base+"/api/v1/jobs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job cairn.Job
	json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	if resp.StatusCode != 201 || job.TraceID != traceID {
		t.Fatalf("submit: %d, trace_id %q", resp.StatusCode, job.TraceID)
	}
}

// waitForSubmitSpan waits up to 20 s for the submit's span in traceID:
// spans arrive in batches (every 50 ms here).
func waitForSubmitSpan(rc *otlptest.Receiver, traceID string) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, s := range rc.Spans() {
			if s.Name == "POST /api/v1/jobs" && otlptest.HexID(s.TraceId) == traceID {
				return true
			}
		}
	}
	return false
}

// TestServeRefusesUnknownOTLPProtocol: an OTEL setting Cairn cannot honour
// stops cairn serve instead of silently exporting nothing.
func TestServeRefusesUnknownOTLPProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	cmd := exec.Command(cairnBinary(t), "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	cmd.Env = append(cmd.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json", "CAIRN_ADMIN_KEY="+testAdminKey)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("serve with an unknown protocol: %v\n%s", err, out)
	}
}
