package bundle

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"github.com/cairnhq/cairn/ledger/tree"
)

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// testLedger appends n envelopes to a fresh tree.
func testLedger(t *testing.T, n int) (entries []Entry, nodes *tree.MemoryNodes, app *tree.Appender) {
	t.Helper()
	nodes, app = &tree.MemoryNodes{}, tree.NewAppender()
	prev := ""
	for i := 0; i < n; i++ {
		body, err := ledger.EntryBody(ledger.Envelope{Tenant: "t", Index: uint64(i), PrevHash: prev, Event: map[string]any{"type": "run_started", "run_id": fmt.Sprint("r", i)}})
		if err != nil {
			t.Fatal(err)
		}
		leaf := ledger.LeafHash(body)
		ns, _ := app.Append(leaf)
		if err := nodes.Put(ns...); err != nil {
			t.Fatal(err)
		}
		prev = ledger.HashHex(leaf)
		entries = append(entries, Entry{Index: uint64(i), Body: string(body)})
	}
	return entries, nodes, app
}

func TestBuildBundle(t *testing.T) {
	entries, nodes, app := testLedger(t, 10)
	k := testKey(t, "cairn.local", 4)
	s, _ := k.SignerFor("cairn.local/t")
	vk, _ := k.VerifierKeyFor("cairn.local/t")
	cp, err := tree.SignCheckpoint("cairn.local/t", 10, app.Root(), s)
	if err != nil {
		t.Fatal(err)
	}
	in := BundleInput{Tenant: "t", PublicKey: vk, Checkpoint: cp, Nodes: nodes}

	// Complete, any input order, no NodeReader needed.
	rev := append([]Entry(nil), entries...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	full := in
	full.Nodes, full.Entries = nil, rev
	b, err := BuildBundle(full)
	if err != nil {
		t.Fatal(err)
	}
	if b.Range == nil || b.Range.From != 0 || b.Range.To != 10 || len(b.Range.Left)+len(b.Range.Right) != 0 || b.Entries[0].Index != 0 || b.Entries[0].LeafHash == "" {
		t.Fatalf("complete bundle: %+v", b.Range)
	}
	if b.Origin != "cairn.local/t" || b.Format != BundleFormat || b.Policies == nil || b.Jobs == nil {
		t.Fatalf("bundle header %+v", b)
	}
	// Round trip through JSON.
	var buf bytes.Buffer
	if err := EncodeBundle(&buf, b); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeBundle(&buf)
	if err != nil || len(back.Entries) != 10 || back.Entries[3].Body != b.Entries[3].Body {
		t.Fatalf("round trip: %v", err)
	}

	// A range and a selection.
	r := in
	r.Entries = entries[3:7]
	b, err = BuildBundle(r)
	if err != nil || b.Range == nil || b.Range.From != 3 || b.Range.To != 7 || len(b.InclusionProofs) != 0 {
		t.Fatalf("range: %v %+v", err, b.Range)
	}
	sel := in
	sel.Entries = []Entry{entries[1], entries[5]}
	sel.ConsistencyFrom = []uint64{4}
	b, err = BuildBundle(sel)
	if err != nil || b.Range != nil || len(b.InclusionProofs) != 2 || len(b.ConsistencyProofs) != 1 {
		t.Fatalf("selection: %v", err)
	}

	bad := func(name string, mut func(*BundleInput), want string) {
		t.Helper()
		x := in
		x.Entries = append([]Entry(nil), entries...)
		mut(&x)
		if _, err := BuildBundle(x); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	bad("duplicate", func(x *BundleInput) { x.Entries = append(x.Entries, entries[2]) }, "twice")
	bad("beyond", func(x *BundleInput) { x.Entries = append(x.Entries, Entry{Index: 10, Body: "{}"}) }, "beyond")
	bad("leaf", func(x *BundleInput) { x.Entries[2].LeafHash = strings.Repeat("0", 64) }, "does not match")
	bad("no nodes", func(x *BundleInput) { x.Nodes, x.Entries = nil, x.Entries[2:4] }, "NodeReader")
	bad("consistency beyond", func(x *BundleInput) { x.ConsistencyFrom = []uint64{11} }, "beyond")
	bad("wrong key", func(x *BundleInput) { x.PublicKey = k.VerifierKey() }, "signature")
	bad("origin", func(x *BundleInput) { x.Origin = "cairn.local/u" }, "origin")

	refs, err := CollectRefs(entries)
	if err != nil || len(refs.Snapshots)+len(refs.Payloads)+len(refs.Jobs) != 0 {
		t.Fatalf("refs: %+v %v", refs, err)
	}
	if _, err := CollectRefs([]Entry{{Index: 0, Body: "{"}}); err == nil {
		t.Error("CollectRefs accepted a bad body")
	}
}

func TestSnapshotDigest(t *testing.T) {
	id := ledger.SnapshotID([]byte("default: deny\n"))
	if d, err := ledger.SnapshotDigest(id); err != nil || d != ledger.SHA256Hex([]byte("default: deny\n")) {
		t.Fatalf("%s: %v", id, err)
	}
	for _, bad := range []string{"", "cfg:system:policy#sha256:", "x:system:policy#sha256:" + strings.Repeat("a", 64),
		"cfg:system:policy#sha256:" + strings.Repeat("A", 64), "cfg:system:policy#sha256:" + strings.Repeat("a", 63)} {
		if _, err := ledger.SnapshotDigest(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if d, err := ledger.SnapshotDigest("cfg:acme:policy#sha256:" + strings.Repeat("b", 64)); err != nil || d != strings.Repeat("b", 64) {
		t.Error("tenant-scoped id")
	}
}
