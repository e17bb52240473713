package tree

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The Merkle tree of a tenant's ledger is the RFC 6962 tree over the leaf
// hashes LeafHash(body_0) … LeafHash(body_{n-1}); an interior node hashes
// SHA-256(0x01 || left || right). Node coordinates follow
// github.com/transparency-dev/merkle/compact: level 0 holds the leaves, node
// (level, index) covers leaves [index<<level, (index+1)<<level).
//
// Only perfect subtrees ("persisted nodes") are ever stored: once the leaves
// a node covers all exist, its hash never changes. Every inclusion or
// consistency proof, and every root, is a function of O(log n) persisted
// nodes; the ephemeral nodes on the right border of an imperfect tree are
// recomputed on demand (proof.Nodes.Rehash).

// Hasher is the RFC 6962 SHA-256 hasher used for proof verification.
var Hasher = rfc6962.DefaultHasher

// HashChildren returns SHA-256(0x01 || left || right), the RFC 6962 interior
// node hash.
func HashChildren(left, right []byte) []byte {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:33], left)
	copy(buf[33:], right)
	s := sha256.Sum256(buf[:])
	return s[:]
}

// EmptyRoot is the root hash of the empty tree, SHA-256 of the empty string.
var EmptyRoot = sha256.Sum256(nil)

// RangeFactory builds compact ranges with the RFC 6962 node hash.
var RangeFactory = &compact.RangeFactory{Hash: HashChildren}

// Node is a persisted tree node: the root of a perfect subtree.
type Node struct {
	Level uint
	Index uint64
	Hash  [32]byte
}

// ID returns the node's compact.NodeID.
func (n Node) ID() compact.NodeID { return compact.NewNodeID(n.Level, n.Index) }

// NodeReader reads persisted nodes. Nodes returns the hashes of ids in the
// same order; it must fail if any is missing (a missing node means the store
// is corrupt or the requested size exceeds the tree).
type NodeReader interface {
	Nodes(ids []compact.NodeID) ([][32]byte, error)
}

// ErrNodeMissing is returned by readers (MemoryNodes) for a node not stored.
var ErrNodeMissing = errors.New("ledger: tree node missing")

// Appender grows a tenant's tree by one leaf at a time and reports the
// perfect-subtree nodes that each append completes. Its whole state is the
// compact range [0, size): the hashes of the perfect subtrees along the right
// edge, which are themselves persisted nodes, so an Appender can always be
// rebuilt from the store with ResumeAppender.
//
// An Appender is not safe for concurrent use; appends to one tenant's ledger
// are serialized anyway (each entry's prev_hash depends on the previous one).
type Appender struct {
	r *compact.Range
}

// NewAppender returns an Appender for an empty tree.
func NewAppender() *Appender { return &Appender{r: RangeFactory.NewEmptyRange(0)} }

// RightEdge returns the IDs of the nodes that make up the compact range
// [0, size): the state ResumeAppender reads.
func RightEdge(size uint64) []compact.NodeID { return compact.RangeNodes(0, size, nil) }

// ResumeAppender rebuilds the Appender of a tree of the given size from its
// persisted right-edge nodes (at most 64 of them; see RightEdge).
func ResumeAppender(size uint64, r NodeReader) (*Appender, error) {
	hashes, err := readNodes(r, RightEdge(size))
	if err != nil {
		return nil, err
	}
	return NewAppenderFromHashes(size, hashes)
}

// NewAppenderFromHashes rebuilds an Appender from the right-edge hashes of a
// tree of the given size, ordered as RightEdge(size).
func NewAppenderFromHashes(size uint64, hashes [][]byte) (*Appender, error) {
	for _, h := range hashes {
		if len(h) != 32 {
			return nil, fmt.Errorf("ledger: node hash of %d bytes", len(h))
		}
	}
	r, err := RangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &Appender{r: r}, nil
}

// Size returns the number of leaves appended so far.
func (a *Appender) Size() uint64 { return a.r.End() }

// Append adds a leaf hash and returns the nodes the store must persist, in
// the same transaction as the entry: the leaf itself (level 0) followed by
// every perfect subtree the leaf completes, lowest level first.
func (a *Appender) Append(leaf [32]byte) ([]Node, error) {
	var out []Node
	err := a.r.Append(append([]byte(nil), leaf[:]...), func(id compact.NodeID, hash []byte) {
		var h [32]byte
		copy(h[:], hash)
		out = append(out, Node{Level: id.Level, Index: id.Index, Hash: h})
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return out, nil
}

// Root returns the current root hash (EmptyRoot for an empty tree).
func (a *Appender) Root() [32]byte {
	h, err := a.r.GetRootHash(nil)
	if err != nil || h == nil {
		return EmptyRoot
	}
	var out [32]byte
	copy(out[:], h)
	return out
}

// Edge returns the current right-edge nodes (the compact range state).
func (a *Appender) Edge() []Node {
	ids := RightEdge(a.r.End())
	hs := a.r.Hashes()
	out := make([]Node, len(ids))
	for i, id := range ids {
		out[i] = Node{Level: id.Level, Index: id.Index}
		copy(out[i].Hash[:], hs[i])
	}
	return out
}

// Clone returns an independent copy, so that a caller can append inside a
// transaction and keep the original if the transaction rolls back.
func (a *Appender) Clone() *Appender {
	hs := a.r.Hashes()
	cp := make([][]byte, len(hs))
	for i, h := range hs {
		cp[i] = append([]byte(nil), h...)
	}
	r, _ := RangeFactory.NewRange(0, a.r.End(), cp)
	return &Appender{r: r}
}

func readNodes(r NodeReader, ids []compact.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return [][]byte{}, nil
	}
	hs, err := r.Nodes(ids)
	if err != nil {
		return nil, err
	}
	if len(hs) != len(ids) {
		return nil, fmt.Errorf("ledger: node reader returned %d hashes for %d ids", len(hs), len(ids))
	}
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out, nil
}

// RootAt returns the root hash of the tree of the given size (EmptyRoot for
// size 0) from at most 64 persisted nodes.
func RootAt(size uint64, r NodeReader) ([32]byte, error) {
	if size == 0 {
		return EmptyRoot, nil
	}
	hs, err := readNodes(r, RightEdge(size))
	if err != nil {
		return [32]byte{}, err
	}
	return foldRight(hs), nil
}

// foldRight hashes a compact range [0, size) into its root.
func foldRight(hs [][]byte) [32]byte {
	h := hs[len(hs)-1]
	for i := len(hs) - 2; i >= 0; i-- {
		h = HashChildren(hs[i], h)
	}
	var out [32]byte
	copy(out[:], h)
	return out
}

func buildProof(n proof.Nodes, r NodeReader) ([][]byte, error) {
	hs, err := readNodes(r, n.IDs)
	if err != nil {
		return nil, err
	}
	return n.Rehash(hs, HashChildren)
}

// InclusionProof returns the RFC 6962 / RFC 9162 inclusion proof (audit
// path) of leaf index in the tree of the given size.
func InclusionProof(index, size uint64, r NodeReader) ([][]byte, error) {
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return buildProof(n, r)
}

// ConsistencyProof returns the RFC 6962 / RFC 9162 consistency proof between
// the trees of sizes from and to (from <= to). It is empty when from is 0 or
// from == to.
func ConsistencyProof(from, to uint64, r NodeReader) ([][]byte, error) {
	n, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return buildProof(n, r)
}

// RangeProof returns what a verifier holding every leaf in [from, to) needs,
// besides those leaves, to recompute the root of the tree of the given size:
// the hashes of the compact ranges [0, from) (left, ordered left to right)
// and [to, size) (right, ordered left to right). Both are empty when
// from == 0 and to == size: a complete export needs no proof at all.
func RangeProof(from, to, size uint64, r NodeReader) (left, right [][]byte, err error) {
	if from > to || to > size {
		return nil, nil, fmt.Errorf("ledger: invalid range [%d, %d) of tree size %d", from, to, size)
	}
	if left, err = readNodes(r, compact.RangeNodes(0, from, nil)); err != nil {
		return nil, nil, err
	}
	if right, err = readNodes(r, compact.RangeNodes(to, size, nil)); err != nil {
		return nil, nil, err
	}
	return left, right, nil
}

// RootVerifier recomputes a root from a contiguous run of leaves [from, to)
// and a RangeProof, one leaf at a time, so that a verifier never holds more
// than O(log n) hashes. It can also report the root of any intermediate tree
// size when from == 0 (RootSoFar), which is how a complete export is checked
// against an older trusted checkpoint without a consistency proof.
type RootVerifier struct {
	r    *compact.Range
	next []byte
}

// NewRootVerifier starts at leaf index from with the left half of a RangeProof.
func NewRootVerifier(from uint64, left [][]byte) (*RootVerifier, error) {
	for _, h := range left {
		if len(h) != 32 {
			return nil, fmt.Errorf("ledger: proof hash of %d bytes", len(h))
		}
	}
	r, err := RangeFactory.NewRange(0, from, left)
	if err != nil {
		return nil, fmt.Errorf("ledger: range proof: %w", err)
	}
	return &RootVerifier{r: r}, nil
}

// Next returns the index of the next leaf to Append.
func (v *RootVerifier) Next() uint64 { return v.r.End() }

// Append adds the next leaf.
func (v *RootVerifier) Append(leaf [32]byte) error {
	// A private copy: compact.Range keeps the slice it is given.
	if len(v.next) < 32 {
		v.next = make([]byte, 32*1024)
	}
	h := v.next[:32:32]
	v.next = v.next[32:]
	copy(h, leaf[:])
	return v.r.Append(h, nil)
}

// RootSoFar returns the root of the tree of size Next(); it requires the
// verifier to have started at 0.
func (v *RootVerifier) RootSoFar() ([32]byte, error) {
	h, err := v.r.GetRootHash(nil)
	if err != nil {
		return [32]byte{}, fmt.Errorf("ledger: %w", err)
	}
	if h == nil {
		return EmptyRoot, nil
	}
	var out [32]byte
	copy(out[:], h)
	return out, nil
}

// Finish merges the right half of the RangeProof (the compact range
// [Next(), size)) and returns the root of the tree of the given size.
func (v *RootVerifier) Finish(size uint64, right [][]byte) ([32]byte, error) {
	for _, h := range right {
		if len(h) != 32 {
			return [32]byte{}, fmt.Errorf("ledger: proof hash of %d bytes", len(h))
		}
	}
	if size < v.r.End() {
		return [32]byte{}, fmt.Errorf("ledger: tree size %d is smaller than the %d leaves seen", size, v.r.End())
	}
	rr, err := RangeFactory.NewRange(v.r.End(), size, right)
	if err != nil {
		return [32]byte{}, fmt.Errorf("ledger: range proof: %w", err)
	}
	if err := v.r.AppendRange(rr, nil); err != nil {
		return [32]byte{}, fmt.Errorf("ledger: range proof: %w", err)
	}
	return v.RootSoFar()
}

// VerifyInclusion checks an inclusion proof of leaf (a leaf hash) at index
// in the tree of the given size and root.
func VerifyInclusion(index, size uint64, leaf [32]byte, p [][]byte, root [32]byte) error {
	return readable(proof.VerifyInclusion(Hasher, index, size, leaf[:], p, root[:]))
}

// ErrProof is wrapped by proof verification failures.
var ErrProof = errors.New("proof does not verify")

// readable rewrites the library's errors (which print hashes as byte
// lists) as hex.
func readable(err error) error {
	if err == nil {
		return nil
	}
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("%w: it gives root %x, want %x", ErrProof, rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return fmt.Errorf("%w: %v", ErrProof, err)
}

// VerifyConsistency checks a consistency proof between the trees of sizes
// from and to with the given roots.
func VerifyConsistency(from, to uint64, p [][]byte, fromRoot, toRoot [32]byte) error {
	return readable(proof.VerifyConsistency(Hasher, from, to, p, fromRoot[:], toRoot[:]))
}

// MemoryNodes is an in-memory NodeReader, for tests and tools. Put stores
// nodes as Appender.Append reports them.
type MemoryNodes struct {
	levels [][][32]byte
}

// Put stores nodes; a node must be put after the nodes to its left on the
// same level (which Appender guarantees).
func (m *MemoryNodes) Put(nodes ...Node) error {
	for _, n := range nodes {
		for uint(len(m.levels)) <= n.Level {
			m.levels = append(m.levels, nil)
		}
		lv := m.levels[n.Level]
		switch {
		case n.Index == uint64(len(lv)):
			m.levels[n.Level] = append(lv, n.Hash)
		case n.Index < uint64(len(lv)):
			if lv[n.Index] != n.Hash {
				return fmt.Errorf("ledger: node (%d,%d) rewritten", n.Level, n.Index)
			}
		default:
			return fmt.Errorf("ledger: node (%d,%d) put before (%d,%d)", n.Level, n.Index, n.Level, len(lv))
		}
	}
	return nil
}

// Nodes implements NodeReader.
func (m *MemoryNodes) Nodes(ids []compact.NodeID) ([][32]byte, error) {
	out := make([][32]byte, len(ids))
	for i, id := range ids {
		if id.Level >= uint(len(m.levels)) || id.Index >= uint64(len(m.levels[id.Level])) {
			return nil, fmt.Errorf("%w: (%d,%d)", ErrNodeMissing, id.Level, id.Index)
		}
		out[i] = m.levels[id.Level][id.Index]
	}
	return out, nil
}

// Size returns the number of leaves stored.
func (m *MemoryNodes) Size() uint64 {
	if len(m.levels) == 0 {
		return 0
	}
	return uint64(len(m.levels[0]))
}
