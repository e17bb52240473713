package ledger

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

func TestEnvelopeBodyMatchesCanonicalEnvelope(t *testing.T) {
	events := []any{
		map[string]any{"type": "job_submitted", "b": 1.5, "a": "é\u2028<x>", "n": nil, "z": []any{3, "x"}},
		map[string]any{},
		"just a string",
	}
	for _, ev := range events {
		for _, runSeq := range []int64{0, 1, 123456789} {
			for _, tenant := range []string{"default", "ten\"ant\u00e9"} {
				want, err := EntryBody(Envelope{Tenant: tenant, Index: 42, PrevHash: "ab12", RunSeq: runSeq, Event: ev})
				if err != nil {
					t.Fatal(err)
				}
				canon, err := Canonical(ev)
				if err != nil {
					t.Fatal(err)
				}
				got, err := EnvelopeBody(tenant, 42, "ab12", runSeq, canon)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("EnvelopeBody\n got %s\nwant %s", got, want)
				}
			}
		}
	}
}

// envelopeBodyReference is EnvelopeBody as first written.
func envelopeBodyReference(tenant string, index uint64, prevHash string, runSeq int64, canonEvent []byte) ([]byte, error) {
	t, err := canonicalReference(tenant)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(prevHash)
	if err != nil {
		return nil, err
	}
	b := append([]byte(`{"event":`), canonEvent...)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, index, 10)
	b = append(b, `,"prev_hash":`...)
	b = append(b, p...)
	if runSeq != 0 {
		b = append(b, `,"run_seq":`...)
		b = strconv.AppendInt(b, runSeq, 10)
	}
	b = append(b, `,"tenant":`...)
	b = append(b, t...)
	return append(b, '}'), nil
}

func FuzzEnvelopeBody(f *testing.F) {
	f.Add("default", uint64(0), "", int64(0))
	f.Add("ten\"ant\u00e9", uint64(42), "ab12", int64(7))
	f.Add("bad\xff\xfe\x00\x1f\x7f<>&\u2028", uint64(1<<63), "ABCDEF<>&\xff", int64(-1))
	f.Add("😀\\/", uint64(1), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", int64(1<<62))
	f.Fuzz(func(t *testing.T, tenant string, index uint64, prevHash string, runSeq int64) {
		ev := []byte(`{"type":"x"}`)
		want, err1 := envelopeBodyReference(tenant, index, prevHash, runSeq, ev)
		got, err2 := EnvelopeBody(tenant, index, prevHash, runSeq, ev)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Fatalf("EnvelopeBody\n got %q %v\nwant %q %v", got, err2, want, err1)
		}
		// EntryBody agrees for hex hashes and positions below 2^53 (JCS
		// writes numbers as binary64).
		if isLowerHex(prevHash) && index < 1<<53 && -1<<53 < runSeq && runSeq < 1<<53 {
			entry, err := EntryBody(Envelope{Tenant: tenant, Index: index, PrevHash: prevHash, RunSeq: runSeq, Event: json.RawMessage(ev)})
			if err != nil || !bytes.Equal(got, entry) {
				t.Fatalf("EnvelopeBody %q != EntryBody %q (%v)", got, entry, err)
			}
		}
	})
}
