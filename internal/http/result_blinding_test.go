package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// TestResultLeafNotGuessable (issue 11 §3.6): a reader served a redacted
// (or no) result cannot test a guess of the original against the leaf
// hashes it is served. It rebuilds the job_completed and output_checked
// entries from their events, puts in the hash of its guess (here the right
// one), and hashes: the leaf differs, because the entry holds a random
// blinding value that only auditors are served. The same rebuild from the
// auditor's events gives the leaf exactly (the method is right). A result
// released as it is needs no blinding and has none.
func TestResultLeafNotGuessable(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	for _, tt := range []struct{ name, result, verdict string }{
		{"redacted", `{"ssn":"123-45-6789"}`, cairn.OutputRedact},
		{"quarantined", `{"key":"AKIAIOSFODNN7EXAMPLE"}`, cairn.OutputQuarantine},
		{"released", `{"rows":3}`, cairn.OutputAllow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.T = t
			j := completeWith(e, "blind-"+tt.name, "run-blind-"+tt.name, cairn.CompleteRequest{Status: "succeeded", Result: json.RawMessage(tt.result)})
			if j.OutputSafety == nil || j.OutputSafety.Decision != tt.verdict {
				t.Fatalf("verdict %+v", j.OutputSafety)
			}
			guess := ledger.SHA256Hex([]byte(tt.result))
			for _, as := range []string{"agent-1", "manager-2", "auditor-1"} {
				var tl cairn.List[*cairn.Event]
				e.MustDo(as, "GET", "/api/v1/workflow-runs/"+string(j.RunID)+"/timeline", nil, 200, &tl)
				checked := 0
				for _, ev := range tl.Items {
					if ev.Type != cairn.EventJobCompleted && ev.Type != cairn.EventOutputChecked {
						continue
					}
					checked++
					_, blinded := ev.DataMap()["blinding"]
					if want := tt.verdict != cairn.OutputAllow && as == "auditor-1"; blinded != want {
						t.Errorf("%s: %s served blinding %v, want %v", as, ev.Type, blinded, want)
					}
					ev.DataMap()["result_sha256"] = guess
					matches := rebuildLeaf(t, tl.Items, ev) == ev.Ledger.LeafHash
					if want := as == "auditor-1" || tt.verdict == cairn.OutputAllow; matches != want {
						t.Errorf("%s: %s rebuilt with the guessed result hash matches the leaf: %v, want %v", as, ev.Type, matches, want)
					}
				}
				if checked != 2 {
					t.Fatalf("%s: %d result events in the timeline", as, checked)
				}
				if as == "auditor-1" && tt.verdict != cairn.OutputAllow {
					// No other view gives the blinding value away.
					b := ""
					for _, ev := range tl.Items {
						if ev.Type == cairn.EventOutputChecked {
							b, _ = ev.DataMap()["blinding"].(string)
						}
					}
					for _, reader := range []string{"agent-1", "manager-2"} {
						if len(b) != 64 || strings.Contains(readAll(e, reader, j), b) {
							t.Errorf("%s is served the blinding value %q", reader, b)
						}
					}
				}
			}
		})
	}
	e.T = t
	e.verifyLedger()
}

// rebuildLeaf is the leaf hash of ev's ledger entry as a reader rebuilds it
// from served events: the canonical event, its position, and the previous
// entry's leaf hash (found among evs).
func rebuildLeaf(t *testing.T, evs []*cairn.Event, ev *cairn.Event) string {
	t.Helper()
	prev := ""
	for _, p := range evs {
		if p.Ledger != nil && p.Ledger.Index+1 == ev.Ledger.Index {
			prev = p.Ledger.LeafHash
		}
	}
	if prev == "" {
		t.Fatalf("entry %d: the previous entry is not in the timeline", ev.Ledger.Index)
	}
	c := *ev
	c.Seq, c.Ledger = 0, nil
	canon, err := ledger.Canonical(&c)
	if err != nil {
		t.Fatal(err)
	}
	body, err := ledger.EnvelopeBody("default", ev.Ledger.Index, prev, ev.Seq, canon)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.HashHex(ledger.LeafHash(body))
}
