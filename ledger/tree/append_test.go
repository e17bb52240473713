package tree

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// memSource is a Source over MemoryNodes and a map of run heads, counting
// how often it is asked.
type memSource struct {
	nodes    MemoryNodes
	runs     map[string]int64
	runReads int
}

func (m *memSource) RunHead(tenant, runID string) (int64, error) {
	m.runReads++
	return m.runs[tenant+"/"+runID], nil
}

func (m *memSource) Nodes(string) NodeReader { return &m.nodes }

// persist stores what a store would: the nodes (all of them, MemoryNodes
// needs every level) and the run head.
func (m *memSource) persist(t *testing.T, r Row, nodes []Node) {
	t.Helper()
	if err := m.nodes.Put(nodes...); err != nil {
		t.Fatal(err)
	}
	if r.RunSeq > 0 {
		m.runs[r.Tenant+"/"+r.RunID] = r.RunSeq
	}
}

func entry(i int) Append {
	run := []string{"", "r1", "r2"}[i%3]
	return Append{Tenant: "t", Type: "job_submitted", RunID: run, JobID: fmt.Sprintf("j%d", i), Event: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func TestStepRows(t *testing.T) {
	src := &memSource{runs: map[string]int64{}}
	h := &Head{Tree: NewAppender()}
	runSeq := map[string]int64{}
	prev := ""
	for i := 0; i < 40; i++ {
		e := entry(i)
		r, nodes, err := h.Step(e, src)
		if err != nil {
			t.Fatal(err)
		}
		if e.RunID != "" {
			runSeq[e.RunID]++
		}
		body, err := ledger.EnvelopeBody("t", uint64(i), prev, runSeq[e.RunID], e.Event)
		if err != nil {
			t.Fatal(err)
		}
		if r.Index != uint64(i) || r.PrevHash != prev || r.RunSeq != runSeq[e.RunID] || !bytes.Equal(r.Body, body) {
			t.Fatalf("entry %d: row %+v, want index %d prev %q run_seq %d body %s", i, r, i, prev, runSeq[e.RunID], body)
		}
		if r.Leaf != ledger.LeafHash(body) || r.LeafHex != ledger.HashHex(r.Leaf) || r.Type != e.Type || r.JobID != e.JobID || r.RunID != e.RunID {
			t.Fatalf("entry %d: row %+v", i, r)
		}
		if len(nodes) == 0 || nodes[0].Level != 0 || nodes[0].Index != uint64(i) || nodes[0].Hash != r.Leaf {
			t.Fatalf("entry %d: nodes %v do not start with the leaf", i, nodes)
		}
		src.persist(t, r, nodes)
		if h.Size != uint64(i+1) || h.Hash != r.LeafHex {
			t.Fatalf("entry %d: head (%d, %s)", i, h.Size, h.Hash)
		}
		prev = r.LeafHex
	}
	if src.runReads != 2 {
		t.Fatalf("asked the store for %d run heads, want once per run (2)", src.runReads)
	}
	root, err := RootAt(40, &src.nodes)
	if err != nil {
		t.Fatal(err)
	}
	if root != h.Tree.Root() {
		t.Fatalf("root %x, tree %x", root, h.Tree.Root())
	}
}

// A head that knows only (size, hash) resumes its tree and run heads from
// the store and appends exactly what an unbroken head appends.
func TestStepResumes(t *testing.T) {
	src := &memSource{runs: map[string]int64{}}
	whole := &Head{Tree: NewAppender()}
	var want []Row
	for i := 0; i < 30; i++ {
		r, nodes, err := whole.Step(entry(i), src)
		if err != nil {
			t.Fatal(err)
		}
		if i < 20 {
			src.persist(t, r, nodes)
		}
		want = append(want, r)
	}
	h := &Head{Size: 20, Hash: want[19].LeafHex}
	for i := 20; i < 30; i++ {
		r, _, err := h.Step(entry(i), src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Body, want[i].Body) || r.RunSeq != want[i].RunSeq {
			t.Fatalf("entry %d resumed: %s run_seq %d, want %s run_seq %d", i, r.Body, r.RunSeq, want[i].Body, want[i].RunSeq)
		}
	}
	if src.runReads != 4 {
		t.Fatalf("asked the store for %d run heads, want once per run and head (4)", src.runReads)
	}
}

func TestStepTreeSizeMismatch(t *testing.T) {
	src := &memSource{runs: map[string]int64{}}
	a := NewAppender()
	a.Append(ledger.LeafHash([]byte("x")))
	h := &Head{Size: 2, Hash: "ab", Tree: a}
	_, _, err := h.Step(entry(0), src)
	if err == nil || !strings.Contains(err.Error(), "has 1 leaves, ledger has 2") {
		t.Fatalf("err %v", err)
	}
	if h.Size != 2 || h.Hash != "ab" || a.Size() != 1 {
		t.Fatalf("a failed step changed the head: %+v", h)
	}
	// A tree the store cannot resume fails too.
	h = &Head{Size: 5, Hash: "ab"}
	if _, _, err := h.Step(entry(0), src); err == nil || !strings.Contains(err.Error(), "resume merkle tree") {
		t.Fatalf("err %v", err)
	}
}

func TestHeadsTiers(t *testing.T) {
	src := &memSource{runs: map[string]int64{}}
	store := NewHeads()
	store.Put("t", &Head{Tree: NewAppender()})
	batch := store.Child()
	op := batch.Child()

	step := func(tier *Heads, i int) Row {
		t.Helper()
		r, _, err := tier.Get("t").Step(entry(i), src)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A dropped op leaves the batch and the store as they were.
	step(op, 1)
	if batch.Peek("t") == nil || batch.Peek("t").Size != 0 || store.Peek("t").Size != 0 || store.Peek("t").Tree.Size() != 0 {
		t.Fatal("an op's step changed a lower tier")
	}
	op = batch.Child()
	r1 := step(op, 1)
	op.Commit()
	if h := batch.Peek("t"); h.Size != 1 || h.Hash != r1.LeafHex {
		t.Fatalf("batch head after commit: %+v", h)
	}
	if n, ok := batch.Get("t").RunHead("r1"); !ok || n != 1 {
		t.Fatalf("batch run head r1 = %d, %v", n, ok)
	}
	if store.Peek("t").Size != 0 {
		t.Fatal("committing an op changed the store tier")
	}
	op = batch.Child()
	r2 := step(op, 4) // r1 again
	if r2.RunSeq != 2 || r2.PrevHash != r1.LeafHex {
		t.Fatalf("second op's row %+v", r2)
	}
	op.Commit()
	batch.Commit()
	h := store.Peek("t")
	if h.Size != 2 || h.Hash != r2.LeafHex || h.Tree.Size() != 2 {
		t.Fatalf("store head after commit: %+v", h)
	}
	if n, ok := h.RunHead("r1"); !ok || n != 2 {
		t.Fatalf("store run head r1 = %d, %v", n, ok)
	}
	if h.base != nil {
		t.Fatal("the store tier's head chains to a fork")
	}
	// r1 once by the dropped op, once by the next: no head knew it.
	if src.runReads != 2 {
		t.Fatalf("asked the store for %d run heads, want 2", src.runReads)
	}

	// MaxRuns forgets run heads beyond the bound.
	store.MaxRuns = 1
	b2 := store.Child()
	step(b2, 2) // r2
	b2.Commit()
	if _, ok := store.Peek("t").RunHead("r1"); ok {
		t.Fatal("MaxRuns did not bound the run heads")
	}

	// A head put fresh replaces the tier's own (a stale cache).
	b3 := store.Child()
	b3.Put("t", &Head{Size: 9, Hash: "ff"})
	b3.Commit()
	if h := store.Peek("t"); h.Size != 9 || h.Tree != nil {
		t.Fatalf("fresh head not installed: %+v", h)
	}
	store.Reset()
	if store.Get("t") != nil {
		t.Fatal("Reset kept a head")
	}
}
