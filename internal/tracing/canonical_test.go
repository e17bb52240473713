package tracing_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/gowebpki/jcs"
)

// TestStampedEventCanonical: an event with its trace member canonicalises
// as the RFC 8785 reference does (the fast path of ledger.Canonical agrees).
func TestStampedEventCanonical(t *testing.T) {
	ev := &cairn.Event{Type: cairn.EventPolicyDecided, Timestamp: time.Date(2026, 12, 5, 23, 0, 0, 5, time.UTC), JobID: "j1", Actor: "agent-1",
		Decision: "ALLOW", PolicyRuleID: "r", JobHash: "ab", Data: map[string]any{"phase": "submit"},
		Trace: &cairn.TraceRef{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}}
	got, err := ledger.Canonical(ev)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ev)
	want, err := jcs.Transform(raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("canonical\n%s\nreference\n%s", got, want)
	}
	var back struct {
		Trace cairn.TraceRef `json:"trace"`
	}
	if json.Unmarshal(got, &back); back.Trace != *ev.Trace {
		t.Fatalf("trace member %+v", back.Trace)
	}
}
