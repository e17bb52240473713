package main

import (
	"testing"

	"github.com/cairnhq/cairn"
)

// TestEventEvidencePruned: `cairn audit run` prints a pruned timeline
// marker as pruned, naming the compaction's ledger index.
func TestEventEvidencePruned(t *testing.T) {
	by := uint64(42)
	got := eventEvidence(&cairn.Event{Type: cairn.EventJobDispatched, Pruned: true, PrunedBy: &by})
	if got != "pruned by retention (ledger #42)" {
		t.Fatalf("eventEvidence = %q", got)
	}
}
