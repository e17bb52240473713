package tree

import (
	"github.com/cairnhq/cairn/ledger"
)

import "fmt"

// The append kernel: every store appends to a tenant's ledger through
// Head.Step, which turns (head, canonical event) into the ledger row to
// write, the Merkle nodes to persist and the new head. The stores persist
// rows and nodes and nothing else; what a position in the ledger is, how the
// tree grows and the check that the tree has exactly as many leaves as the
// ledger has entries are written here, once (ADR 0040).

// StoredLevel is the lowest Merkle level a store persists (ledger_nodes).
// Nodes below it cover at most 2^(StoredLevel-1) leaves and are recomputed
// from leaf hashes, which keeps tree maintenance to one row per 8 leaves.
const StoredLevel = 4

// Append is one event to append: its canonical JSON (Canonical) and the
// columns a store indexes it by.
type Append struct {
	Tenant string
	Type   string
	RunID  string // "" when the event belongs to no run
	JobID  string // "" when it belongs to no job
	Event  []byte // the canonical event
}

// Row is a ledger row as a store writes it.
type Row struct {
	Tenant   string
	Index    uint64
	Type     string
	RunID    string
	RunSeq   int64 // the event's place on its run's timeline; 0 for none
	JobID    string
	Body     []byte   // the canonical envelope (EnvelopeBody)
	Leaf     [32]byte // LeafHash(Body)
	LeafHex  string   // HashHex(Leaf)
	PrevHash string   // the previous entry's LeafHex; "" at index 0
}

// Source reads from the store, inside the appending transaction, what a
// Head does not hold yet.
type Source interface {
	// RunHead returns the last run_seq of the tenant's run in the ledger as
	// the transaction sees it (0 when the run has no entry yet).
	RunHead(tenant, runID string) (int64, error)
	// Nodes reads the tenant's persisted tree nodes (to resume its tree).
	Nodes(tenant string) NodeReader
}

// Step appends e to the head: it assigns the entry its index and its run
// timeline seq, builds the envelope, extends the Merkle tree, and advances
// h (size, last hash, tree, run head). It returns the row and every tree
// node the leaf completes (level 0 first); a store persists those at
// StoredLevel and above in the same transaction as the row.
//
// Step reads src only for what h lacks: the run's head, and the tree when
// h.Tree is nil (resumed from the persisted nodes at h.Size). The result
// depends on h and e alone. On error h is unchanged, except that a resumed
// tree is kept.
func (h *Head) Step(e Append, src Source) (Row, []Node, error) {
	if h.Tree == nil {
		a, err := ResumeAppender(h.Size, src.Nodes(e.Tenant))
		if err != nil {
			return Row{}, nil, fmt.Errorf("resume merkle tree of %q at %d: %w", e.Tenant, h.Size, err)
		}
		h.Tree = a
	}
	if h.Tree.Size() != h.Size {
		return Row{}, nil, fmt.Errorf("merkle tree of %q has %d leaves, ledger has %d", e.Tenant, h.Tree.Size(), h.Size)
	}
	var runSeq int64
	if e.RunID != "" {
		n, ok := h.RunHead(e.RunID)
		if !ok {
			var err error
			if n, err = src.RunHead(e.Tenant, e.RunID); err != nil {
				return Row{}, nil, err
			}
		}
		runSeq = n + 1
	}
	body, err := ledger.EnvelopeBody(e.Tenant, h.Size, h.Hash, runSeq, e.Event)
	if err != nil {
		return Row{}, nil, fmt.Errorf("canonical envelope: %w", err)
	}
	leaf := ledger.LeafHash(body)
	nodes, err := h.Tree.Append(leaf)
	if err != nil {
		return Row{}, nil, err
	}
	row := Row{Tenant: e.Tenant, Index: h.Size, Type: e.Type, RunID: e.RunID, RunSeq: runSeq, JobID: e.JobID,
		Body: body, Leaf: leaf, LeafHex: ledger.HashHex(leaf), PrevHash: h.Hash}
	h.Size++
	h.Hash = row.LeafHex
	if runSeq > 0 {
		h.SetRunHead(e.RunID, runSeq)
	}
	return row, nodes, nil
}
