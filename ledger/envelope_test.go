package ledger

import (
	"bytes"
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
