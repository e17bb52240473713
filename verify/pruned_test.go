package verify_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// prunedBundle is the golden scenario followed by a retention_compacted
// event over [0, to), exported whole with the entries of [0, upTo) pruned.
func prunedBundle(t *testing.T, to, upTo func(size uint64) uint64) (*bundle.Bundle, uint64) {
	t.Helper()
	l := newTestLog(t, "acme")
	scenario(l, "")
	size := l.app.Size()
	event := l.append(map[string]any{"type": "retention_compacted", "actor": "cairn",
		"data": map[string]any{"from": 0, "to": to(size), "pruned_entries": to(size)}})
	b := l.bundle(nil)
	for i := range b.Entries {
		if e := &b.Entries[i]; e.Index < upTo(size) {
			e.Body, e.PrunedBy = "", &event
		}
	}
	b.Jobs, b.Payloads, b.Policies = []bundle.JobRow{}, []bundle.Payload{}, []bundle.Policy{}
	// Through the wire format: pruned_by is read back.
	var buf bytes.Buffer
	if err := bundle.EncodeBundle(&buf, b); err != nil {
		t.Fatal(err)
	}
	out, err := bundle.UnmarshalBundle(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return out, event
}

func all(size uint64) uint64 { return size }

// TestPrunedEntries: pruned entries verify as pruned (the tree still
// proves them), and are listed by leaf hash; a pruned entry that is
// altered, carries a body, or names no covering compaction fails.
func TestPrunedEntries(t *testing.T) {
	b, event := prunedBundle(t, all, all)
	rep, err := verify.Bundle(b, verify.Options{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Pruned != int(event) || len(rep.PrunedEntries) != int(event) || rep.Mode != "complete" {
		t.Fatalf("pruned %d listed %d mode %s, want %d", rep.Pruned, len(rep.PrunedEntries), rep.Mode, event)
	}
	if rep.PrunedEntries[3].LeafHash != b.Entries[3].LeafHash || rep.PrunedEntries[3].PrunedBy != event {
		t.Fatalf("listed: %+v", rep.PrunedEntries[3])
	}
	if s := rep.Summary(); !strings.Contains(s, "pruned by retention") || !strings.Contains(s, "result:      OK") {
		t.Fatalf("summary:\n%s", s)
	}

	for name, c := range map[string]struct {
		tamper func(b *bundle.Bundle)
		kind   error
	}{
		"altered leaf hash": {func(b *bundle.Bundle) {
			b.Entries[2].LeafHash = strings.Repeat("0", 64)
		}, verify.ErrRoot},
		"pruned with a body": {func(b *bundle.Bundle) { b.Entries[2].Body = `{"x":1}` }, verify.ErrPruned},
		"pruned_by an earlier entry": {func(b *bundle.Bundle) {
			idx := uint64(1)
			b.Entries[2].PrunedBy = &idx
		}, verify.ErrPruned},
		"pruned_by a non-compaction entry": {func(b *bundle.Bundle) {
			// Entry 1 is pruned and later than entry 0: naming it is in
			// order, but it is no retention_compacted event.
			idx := uint64(1)
			b.Entries[0].PrunedBy = &idx
		}, verify.ErrPruned},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := prunedBundle(t, all, all)
			c.tamper(b)
			if _, err := verify.Bundle(b, verify.Options{}); !errors.Is(err, c.kind) {
				t.Fatalf("err %v, want %v", err, c.kind)
			}
		})
	}

	// The compaction event's range must hold every entry naming it.
	short := func(size uint64) uint64 { return size - 1 }
	b, _ = prunedBundle(t, short, all)
	if _, err := verify.Bundle(b, verify.Options{}); !errors.Is(err, verify.ErrPruned) {
		t.Fatalf("an entry outside its compaction's range: %v", err)
	}
}
