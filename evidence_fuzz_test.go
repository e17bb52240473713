package cairn_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// FuzzAPIEventFromLedger: the timeline's fast path, which splices an
// event's API JSON out of its canonical ledger body without decoding it,
// serves exactly what decoding the body (EventFromLedger) serves, for any
// event, tenant, position and run sequence; and it never panics on bytes
// that are not a ledger body.
func FuzzAPIEventFromLedger(f *testing.F) {
	f.Add([]byte(`{"type":"job_submitted","timestamp":"2026-12-05T10:00:00.123456789Z","run_id":"r","workflow_step_id":null,"job_id":"j","actor":"agent-7","state":"QUEUED","data":{"job":{"labels":{"env":"prod"}},"n":1.5e300}}`), "default", uint64(7), "ab12", int64(3))
	f.Add([]byte(`{"type":"key_created","timestamp":"2026-12-05T10:00:00Z","run_id":null,"workflow_step_id":null,"job_id":null,"actor":"admin","data":{"s":"\u2028,\"index\":9,"}}`), "tenant-b", uint64(0), "", int64(0))
	f.Add([]byte(`{"type":"x","timestamp":"0001-01-01T00:00:00Z","run_id":"a\"b","workflow_step_id":null,"job_id":null,"actor":""}`), "t,\"index\":1", uint64(1<<53), "00", int64(-1))
	f.Fuzz(func(t *testing.T, eventJSON []byte, tenant string, index uint64, prevHash string, runSeq int64) {
		// Bytes that are not a ledger body: an error, never a panic.
		cairn.APIEventFromLedger(string(eventJSON), "ff")
		var ev cairn.Event
		if json.Unmarshal(eventJSON, &ev) != nil || ev.Type == "" {
			return
		}
		ev.Seq, ev.Ledger, ev.Raw = 0, nil, nil
		canon, err := ledger.Canonical(&ev)
		if err != nil {
			return
		}
		body, err := ledger.EnvelopeBody(tenant, index, prevHash, runSeq, canon)
		if err != nil {
			return
		}
		const leaf = "4fe61c47aa00000000000000000000000000000000000000000000000000beef"
		slow, err := cairn.EventFromLedger(string(body), leaf)
		if err != nil {
			return // a body json cannot decode (a tenant of invalid UTF-8, …)
		}
		fast, err := cairn.APIEventFromLedger(string(body), leaf)
		if err != nil {
			t.Fatalf("fast path refused a body the decoder reads: %v\n%s", err, body)
		}
		if fast.Seq != slow.Seq || *fast.Ledger != *slow.Ledger {
			t.Fatalf("seq/ledger: fast %d %+v, decoded %d %+v\n%s", fast.Seq, *fast.Ledger, slow.Seq, *slow.Ledger, body)
		}
		want, err := json.Marshal(slow)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(fast.Raw, &a); err != nil {
			t.Fatalf("fast path JSON: %v\n%s", err, fast.Raw)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("fast path serves\n%s\ndecoding serves\n%s\nbody\n%s", fast.Raw, want, body)
		}
	})
}
