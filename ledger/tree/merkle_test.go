package tree

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// naiveTree is the RFC 6962 definition (section 2.1), memoized by range.
type naiveTree struct {
	leaves [][32]byte
	memo   map[[2]uint64][]byte
}

func (t *naiveTree) mth(a, b uint64) []byte {
	if h, ok := t.memo[[2]uint64{a, b}]; ok {
		return h
	}
	var h []byte
	switch n := b - a; {
	case n == 0:
		e := sha256.Sum256(nil)
		h = e[:]
	case n == 1:
		h = append([]byte(nil), t.leaves[a][:]...)
	default:
		k := uint64(1) << (bits.Len64(n-1) - 1) // largest power of two < n
		l, r := t.mth(a, a+k), t.mth(a+k, b)
		s := sha256.Sum256(append(append([]byte{1}, l...), r...))
		h = s[:]
	}
	t.memo[[2]uint64{a, b}] = h
	return h
}

// path is RFC 6962 PATH(m, D[a:b]).
func (t *naiveTree) path(m, a, b uint64) [][]byte {
	n := b - a
	if n <= 1 {
		return nil
	}
	k := uint64(1) << (bits.Len64(n-1) - 1)
	if m < k {
		return append(t.path(m, a, a+k), t.mth(a+k, b))
	}
	return append(t.path(m-k, a+k, b), t.mth(a, a+k))
}

// subproof is RFC 6962 SUBPROOF(m, D[a:b], flag).
func (t *naiveTree) subproof(m, a, b uint64, flag bool) [][]byte {
	n := b - a
	if m == n {
		if flag {
			return nil
		}
		return [][]byte{t.mth(a, b)}
	}
	k := uint64(1) << (bits.Len64(n-1) - 1)
	if m <= k {
		return append(t.subproof(m, a, a+k, flag), t.mth(a+k, b))
	}
	return append(t.subproof(m-k, a+k, b, false), t.mth(a, a+k))
}

func leafN(i uint64) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return ledger.LeafHash(b[:])
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestTreeAgainstNaive checks, for every size 1..300, the Appender's root,
// resumption, and every inclusion and consistency proof against the RFC
// 6962 definitions, and that they verify.
func TestTreeAgainstNaive(t *testing.T) {
	const maxSize = 300
	nt := &naiveTree{memo: map[[2]uint64][]byte{}}
	store := &MemoryNodes{}
	app := NewAppender()
	if app.Root() != EmptyRoot {
		t.Fatal("empty root")
	}
	persisted := 0
	for size := uint64(1); size <= maxSize; size++ {
		leaf := leafN(size - 1)
		nt.leaves = append(nt.leaves, leaf)
		nodes, err := app.Append(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if nodes[0].Level != 0 || nodes[0].Index != size-1 || nodes[0].Hash != leaf {
			t.Fatalf("size %d: first node %+v is not the leaf", size, nodes[0])
		}
		// A leaf completes one node per trailing one bit of its index.
		if want := 1 + bits.TrailingZeros64(size); len(nodes) != want {
			t.Fatalf("size %d: %d nodes, want %d", size, len(nodes), want)
		}
		for _, n := range nodes {
			if got := nt.mth(n.ID().Coverage()); !bytes.Equal(got, n.Hash[:]) {
				t.Fatalf("size %d: node (%d,%d) hash mismatch", size, n.Level, n.Index)
			}
		}
		persisted += len(nodes)
		if err := store.Put(nodes...); err != nil {
			t.Fatal(err)
		}
		root := nt.mth(0, size)
		if got := app.Root(); !bytes.Equal(got[:], root) {
			t.Fatalf("size %d: appender root mismatch", size)
		}
		got, err := RootAt(size, store)
		if err != nil || !bytes.Equal(got[:], root) {
			t.Fatalf("size %d: RootAt mismatch (%v)", size, err)
		}
		res, err := ResumeAppender(size, store)
		if err != nil || res.Root() != app.Root() || res.Size() != size {
			t.Fatalf("size %d: resume mismatch (%v)", size, err)
		}
		var rootArr [32]byte
		copy(rootArr[:], root)
		for i := uint64(0); i < size; i++ {
			p, err := InclusionProof(i, size, store)
			if err != nil {
				t.Fatalf("inclusion %d/%d: %v", i, size, err)
			}
			if want := nt.path(i, 0, size); !equalProofs(p, want) {
				t.Fatalf("inclusion %d/%d differs from RFC 6962 PATH", i, size)
			}
			if err := VerifyInclusion(i, size, nt.leaves[i], p, rootArr); err != nil {
				t.Fatalf("inclusion %d/%d: %v", i, size, err)
			}
			if i+1 < size {
				if err := VerifyInclusion(i+1, size, nt.leaves[i], p, rootArr); err == nil {
					t.Fatalf("inclusion %d/%d verified at the wrong index", i, size)
				}
			}
		}
		for m := uint64(0); m <= size; m++ {
			p, err := ConsistencyProof(m, size, store)
			if err != nil {
				t.Fatalf("consistency %d->%d: %v", m, size, err)
			}
			var want [][]byte
			if m > 0 && m < size {
				want = nt.subproof(m, 0, size, true)
			}
			if !equalProofs(p, want) {
				t.Fatalf("consistency %d->%d differs from RFC 6962 SUBPROOF", m, size)
			}
			var old [32]byte
			copy(old[:], nt.mth(0, m))
			if err := VerifyConsistency(m, size, p, old, rootArr); err != nil {
				t.Fatalf("consistency %d->%d: %v", m, size, err)
			}
			if m > 0 && m < size {
				bad := old
				bad[0] ^= 1
				if err := VerifyConsistency(m, size, p, bad, rootArr); err == nil {
					t.Fatalf("consistency %d->%d verified a wrong old root", m, size)
				}
			}
		}
	}
	if persisted != 2*maxSize-bits.OnesCount64(maxSize) {
		t.Errorf("persisted %d nodes, want 2n - popcount(n) = %d", persisted, 2*maxSize-bits.OnesCount64(maxSize))
	}
	// Proofs beyond the stored tree fail instead of inventing nodes.
	if _, err := InclusionProof(0, maxSize+1, store); err == nil {
		t.Error("inclusion proof beyond the tree did not fail")
	}
	if _, err := InclusionProof(5, 5, store); err == nil {
		t.Error("inclusion proof of index == size did not fail")
	}
	if _, err := ConsistencyProof(10, 9, store); err == nil {
		t.Error("consistency proof from > to did not fail")
	}
}

func TestRangeProof(t *testing.T) {
	const maxSize = 40
	nt := &naiveTree{memo: map[[2]uint64][]byte{}}
	store := &MemoryNodes{}
	app := NewAppender()
	for size := uint64(1); size <= maxSize; size++ {
		leaf := leafN(size)
		nt.leaves = append(nt.leaves, leaf)
		nodes, _ := app.Append(leaf)
		if err := store.Put(nodes...); err != nil {
			t.Fatal(err)
		}
		root := app.Root()
		for from := uint64(0); from <= size; from++ {
			for to := from; to <= size; to++ {
				left, right, err := RangeProof(from, to, size, store)
				if err != nil {
					t.Fatalf("[%d,%d)/%d: %v", from, to, size, err)
				}
				if from == 0 && to == size && (len(left) != 0 || len(right) != 0) {
					t.Fatalf("complete range has a non-empty proof")
				}
				rv, err := NewRootVerifier(from, left)
				if err != nil {
					t.Fatal(err)
				}
				for i := from; i < to; i++ {
					if err := rv.Append(nt.leaves[i]); err != nil {
						t.Fatal(err)
					}
					if from == 0 {
						got, _ := rv.RootSoFar()
						if !bytes.Equal(got[:], nt.mth(0, i+1)) {
							t.Fatalf("RootSoFar at %d wrong", i+1)
						}
					}
				}
				got, err := rv.Finish(size, right)
				if err != nil || got != root {
					t.Fatalf("[%d,%d)/%d: root mismatch (%v)", from, to, size, err)
				}
				if to > from {
					// A wrong leaf changes the root.
					rv, _ := NewRootVerifier(from, left)
					for i := from; i < to; i++ {
						l := nt.leaves[i]
						if i == to-1 {
							l[3] ^= 1
						}
						_ = rv.Append(l)
					}
					if got, _ := rv.Finish(size, right); got == root {
						t.Fatalf("[%d,%d)/%d: tampered leaf gave the root", from, to, size)
					}
				}
			}
		}
	}
	if _, _, err := RangeProof(3, 2, 5, store); err == nil {
		t.Error("inverted range accepted")
	}
	if _, err := NewRootVerifier(3, [][]byte{make([]byte, 32)}); err == nil {
		t.Error("left proof of the wrong length accepted")
	}
}

func TestAppenderClone(t *testing.T) {
	a := NewAppender()
	for i := uint64(0); i < 5; i++ {
		_, _ = a.Append(leafN(i))
	}
	b := a.Clone()
	_, _ = b.Append(leafN(5))
	if a.Size() != 5 || b.Size() != 6 || a.Root() == b.Root() {
		t.Fatal("clone shares state")
	}
	edge := a.Edge()
	if len(edge) != 2 || edge[0].Level != 2 || edge[1].Level != 0 {
		t.Fatalf("edge of 5 = %+v", edge)
	}
	hs := make([][]byte, len(edge))
	for i := range edge {
		hs[i] = edge[i].Hash[:]
	}
	c, err := NewAppenderFromHashes(5, hs)
	if err != nil || c.Root() != a.Root() {
		t.Fatal("rebuild from edge")
	}
	if _, err := NewAppenderFromHashes(7, hs); err == nil {
		t.Error("wrong number of edge hashes accepted")
	}
}

func TestMemoryNodesRejectsRewrite(t *testing.T) {
	m := &MemoryNodes{}
	if err := m.Put(Node{Level: 0, Index: 0, Hash: leafN(0)}); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(Node{Level: 0, Index: 0, Hash: leafN(1)}); err == nil {
		t.Error("rewrite accepted")
	}
	if err := m.Put(Node{Level: 0, Index: 2, Hash: leafN(1)}); err == nil {
		t.Error("gap accepted")
	}
	if _, err := m.Nodes([]compact.NodeID{compact.NewNodeID(3, 0)}); err == nil {
		t.Error("missing node read")
	}
}

// BenchmarkInclusionProof1M measures proof construction in a tree of 2^20
// leaves with an in-memory node store (the store's lookup cost comes on top:
// one batched read of at most ~2·log2(n) nodes).
func BenchmarkInclusionProof1M(b *testing.B) {
	const n = 1 << 20
	store := &MemoryNodes{}
	app := NewAppender()
	for i := uint64(0); i < n; i++ {
		nodes, _ := app.Append(leafN(i))
		_ = store.Put(nodes...)
	}
	root := app.Root()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		idx := uint64(i*7919) % (n - 3)
		p, err := InclusionProof(idx, n-3, store)
		if err != nil {
			b.Fatal(err)
		}
		_ = p
	}
	_ = root
}

// BenchmarkAppend measures Appender.Append (hashing and node reporting).
func BenchmarkAppend(b *testing.B) {
	app := NewAppender()
	var i uint64
	for b.Loop() {
		if _, err := app.Append(leafN(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func ExampleAppender() {
	store := &MemoryNodes{} // a real store writes these rows in the entry's transaction
	app := NewAppender()
	for i := 0; i < 3; i++ {
		nodes, _ := app.Append(ledger.LeafHash([]byte(fmt.Sprintf(`{"i":%d}`, i))))
		_ = store.Put(nodes...)
		for _, n := range nodes {
			fmt.Printf("(%d,%d)", n.Level, n.Index)
		}
	}
	fmt.Println()
	p, _ := InclusionProof(1, 3, store)
	fmt.Println(len(p), VerifyInclusion(1, 3, ledger.LeafHash([]byte(`{"i":1}`)), p, app.Root()) == nil)
	// Output:
	// (0,0)(0,1)(1,0)(0,2)
	// 2 true
}
