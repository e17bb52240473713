package bundle

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"github.com/cairnhq/cairn/ledger/tree"
)

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// referenceEncode is how bundles were written before they were streamed:
// encoding/json, HTML escaping off, one-space indentation.
func referenceEncode(t *testing.T, b *Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func streamed(t *testing.T, s *BundleStream) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// awkward strings: what encoding/json escapes, or must not.
var awkward = []string{"", "plain", `quote " and \ backslash`, "<html>&amp;</html>", "line\nbreak\ttab\r",
	"\u2028\u2029", "\x00\x01\x1f", "bad utf-8 \xff\xfe", "ünïcödé ✓ 🌲", strings.Repeat("x", 5000)}

func randomBundle(r *rand.Rand) *Bundle {
	str := func() string { return awkward[r.IntN(len(awkward))] }
	strs := func() []string {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		out := make([]string, 1+r.IntN(4))
		for i := range out {
			out[i] = str()
		}
		return out
	}
	n := func() int { return r.IntN(4) - 1 } // -1: nil
	b := &Bundle{Format: BundleFormat, Tenant: str(), Origin: str(), PublicKey: str(), Checkpoint: str()}
	if r.IntN(2) == 0 {
		b.Range = &BundleRange{From: r.Uint64(), To: r.Uint64N(100), Left: strs(), Right: strs()}
	}
	if k := n(); k >= 0 {
		b.Entries = []Entry{}
		for range k {
			b.Entries = append(b.Entries, Entry{Index: r.Uint64(), LeafHash: str(), Body: str()})
		}
	}
	if k := n(); k >= 0 {
		b.InclusionProofs = []BundleInclusionProof{}
		for range k {
			b.InclusionProofs = append(b.InclusionProofs, BundleInclusionProof{Index: r.Uint64N(9), Size: 10, Hashes: strs()})
		}
	}
	if k := n(); k >= 0 {
		b.ConsistencyProofs = []BundleConsistencyProof{}
		for range k {
			b.ConsistencyProofs = append(b.ConsistencyProofs, BundleConsistencyProof{From: 1, To: r.Uint64(), Hashes: strs()})
		}
	}
	if k := n(); k >= 0 {
		b.Policies = []Policy{}
		for range k {
			b.Policies = append(b.Policies, Policy{Snapshot: str(), Text: str()})
		}
	}
	if k := n(); k >= 0 {
		b.Workflows = []WorkflowText{}
		for range k {
			b.Workflows = append(b.Workflows, WorkflowText{WorkflowID: str(), Name: str(), Version: r.Uint64(), Text: str()})
		}
	}
	if k := n(); k >= 0 {
		b.Payloads = []Payload{}
		for range k {
			p := Payload{Ptr: str(), SHA256: str(), Withheld: r.IntN(2) == 0, Reason: str()}
			if l := r.IntN(5); l > 0 {
				p.Data = make([]byte, r.IntN(1<<l*100))
				for i := range p.Data {
					p.Data[i] = byte(r.UintN(256))
				}
			}
			b.Payloads = append(b.Payloads, p)
		}
	}
	if k := n(); k >= 0 {
		b.Jobs = []JobRow{}
		for range k {
			j := JobRow{JobID: str(), JobHash: str(), State: str(), Decision: str()}
			if r.IntN(2) == 0 {
				j.PolicyRuleID, j.Resolution, j.OutputSafety, j.ResultSHA256 = str(), str(), str(), str()
			}
			b.Jobs = append(b.Jobs, j)
		}
	}
	return b
}

// TestStreamWritesWhatEncodingJSONWrites: streamed bundles are
// byte-identical to encoding/json's, for every member shape (nil, empty and
// full lists, omitted members, escapes, payloads of every length mod 3).
func TestStreamWritesWhatEncodingJSONWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		b := randomBundle(r)
		want := referenceEncode(t, b)
		got := streamed(t, b.Stream())
		if !bytes.Equal(got, want) {
			at := 0
			for at < len(got) && at < len(want) && got[at] == want[at] {
				at++
			}
			t.Fatalf("bundle %d differs at byte %d:\n got %q\nwant %q", i, at, got[max(0, at-80):min(len(got), at+80)], want[max(0, at-80):min(len(want), at+80)])
		}
		var enc bytes.Buffer
		if err := EncodeBundle(&enc, b); err != nil || !bytes.Equal(enc.Bytes(), want) {
			t.Fatalf("EncodeBundle differs from encoding/json (%v)", err)
		}
	}
}

// TestNewBundleStreamMatchesBuildBundle: a bundle streamed from a head and
// iterators is the bundle BuildBundle builds, byte for byte: complete, a
// range, a selection with inclusion and consistency proofs, and empty.
func TestNewBundleStreamMatchesBuildBundle(t *testing.T) {
	entries, nodes, app := testLedger(t, 13)
	k := testKey(t, "cairn.local", 4)
	s, _ := k.SignerFor("cairn.local/t")
	vk, _ := k.VerifierKeyFor("cairn.local/t")
	cp, err := tree.SignCheckpoint("cairn.local/t", 13, app.Root(), s)
	if err != nil {
		t.Fatal(err)
	}
	extras := BundleInput{
		Policies:  []Policy{{Snapshot: "cfg:b", Text: "b"}, {Snapshot: "cfg:a", Text: "a <&>"}},
		Workflows: []WorkflowText{{WorkflowID: "wf:t:x#sha256:00", Name: "x", Version: 1, Text: "name: x"}},
		Payloads:  []Payload{{Ptr: "res:j2", SHA256: "ab", Data: []byte(`{"k":"v"}`)}, {Ptr: "ctx:j1", SHA256: "cd", Withheld: true, Reason: "missing from the store"}},
		Jobs:      []JobRow{{JobID: "j2", JobHash: "h2", State: "SUCCEEDED", Decision: "ALLOW"}, {JobID: "j1", JobHash: "h1", State: "DENIED", Decision: "DENY"}},
	}
	for _, c := range []struct {
		name    string
		entries []Entry
		from    []uint64
	}{
		{"complete", entries, nil},
		{"range", entries[3:9], []uint64{2}},
		{"selection", []Entry{entries[1], entries[4], entries[12]}, []uint64{5, 13}},
		{"empty", []Entry{}, nil},
	} {
		in := extras
		in.Tenant, in.PublicKey, in.Checkpoint, in.Nodes, in.Entries, in.ConsistencyFrom = "t", vk, cp, nodes, c.entries, c.from
		b, err := BuildBundle(in)
		if err != nil {
			t.Fatal(c.name, err)
		}
		want := referenceEncode(t, b)

		var span EntrySpan
		for _, e := range c.entries {
			if err := span.Add(e.Index); err != nil {
				t.Fatal(err)
			}
		}
		bs, size, err := NewBundleStream(BundleHead{Tenant: "t", PublicKey: vk, Checkpoint: cp, Nodes: nodes, Span: span, ConsistencyFrom: c.from})
		if err != nil || size != 13 {
			t.Fatal(c.name, size, err)
		}
		withLeaves := slices.Clone(c.entries)
		for i := range withLeaves {
			withLeaves[i].LeafHash = ledger.HashHex(ledger.LeafHash([]byte(withLeaves[i].Body)))
		}
		bs.Entries = Values(withLeaves)
		if !span.Contiguous() {
			bs.InclusionProofs = InclusionProofSeq(entryIndexes(c.entries), size, nodes)
		}
		sorted := func(in BundleInput) BundleInput {
			slices.SortFunc(in.Policies, func(x, y Policy) int { return strings.Compare(x.Snapshot, y.Snapshot) })
			slices.SortFunc(in.Payloads, func(x, y Payload) int { return strings.Compare(x.Ptr, y.Ptr) })
			slices.SortFunc(in.Jobs, func(x, y JobRow) int { return strings.Compare(x.JobID, y.JobID) })
			return in
		}(BundleInput{Policies: slices.Clone(extras.Policies), Payloads: slices.Clone(extras.Payloads), Jobs: slices.Clone(extras.Jobs)})
		bs.Policies, bs.Workflows, bs.Payloads, bs.Jobs = Values(sorted.Policies), Values(extras.Workflows), Values(sorted.Payloads), Values(sorted.Jobs)
		if got := streamed(t, bs); !bytes.Equal(got, want) {
			t.Errorf("%s: streamed bundle differs from BuildBundle's", c.name)
		}
	}
	// The head refuses what BuildBundle refuses.
	var span EntrySpan
	span.Add(13)
	if _, _, err := NewBundleStream(BundleHead{Tenant: "t", PublicKey: vk, Checkpoint: cp, Span: span}); err == nil || !strings.Contains(err.Error(), "beyond") {
		t.Errorf("entry beyond the checkpoint: %v", err)
	}
	if _, _, err := NewBundleStream(BundleHead{Tenant: "t", PublicKey: k.VerifierKey(), Checkpoint: cp}); err == nil {
		t.Error("a checkpoint under another key was accepted")
	}
	if err := span.Add(13); err == nil {
		t.Error("a repeated index was accepted")
	}
	if err := span.Add(2); err == nil {
		t.Error("a descending index was accepted")
	}
}

// TestStreamStopsAtAnIteratorError: the error is returned and the output is
// not a complete JSON text.
func TestStreamStopsAtAnIteratorError(t *testing.T) {
	boom := errors.New("store read failed")
	s := &BundleStream{Format: BundleFormat, Entries: Values([]Entry{{Index: 0}}),
		Payloads: func(yield func(Payload, error) bool) {
			if yield(Payload{Ptr: "ctx:a", Data: []byte("x")}, nil) {
				yield(Payload{}, boom)
			}
		}}
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); !errors.Is(err, boom) {
		t.Fatalf("WriteTo = %v, want the iterator's error", err)
	}
	if json.Valid(buf.Bytes()) {
		t.Fatal("an interrupted bundle is valid JSON")
	}
	// A nil iterator is null, as a nil slice is.
	got := streamed(t, &BundleStream{Format: BundleFormat})
	if want := referenceEncode(t, &Bundle{Format: BundleFormat}); !bytes.Equal(got, want) {
		t.Fatalf("empty stream:\n%s\nwant\n%s", got, want)
	}
}
