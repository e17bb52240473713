package bundle

import (
	"github.com/cairnhq/cairn/ledger/tree"
)

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
)

// BundleStream is an evidence bundle whose long lists are read while it is
// written: an export of any size is held in memory one entry, proof,
// policy, workflow, payload or job row at a time. Its members are those of
// Bundle; a nil list is JSON null (an omitted member for InclusionProofs),
// and each iterator is consumed once, by WriteTo.
type BundleStream struct {
	Format            string
	Tenant            string
	Origin            string
	PublicKey         string
	Checkpoint        string
	Range             *BundleRange
	Entries           iter.Seq2[Entry, error]
	InclusionProofs   iter.Seq2[BundleInclusionProof, error]
	ConsistencyProofs []BundleConsistencyProof
	Policies          iter.Seq2[Policy, error]
	Workflows         iter.Seq2[WorkflowText, error]
	Payloads          iter.Seq2[Payload, error]
	Jobs              iter.Seq2[JobRow, error]
}

// Values adapts a slice to a BundleStream list; a nil slice gives a nil
// list (JSON null), as in a Bundle.
func Values[T any](s []T) iter.Seq2[T, error] {
	if s == nil {
		return nil
	}
	return func(yield func(T, error) bool) {
		for _, v := range s {
			if !yield(v, nil) {
				return
			}
		}
	}
}

// Stream returns b as a BundleStream over its lists.
func (b *Bundle) Stream() *BundleStream {
	return &BundleStream{
		Format: b.Format, Tenant: b.Tenant, Origin: b.Origin, PublicKey: b.PublicKey, Checkpoint: b.Checkpoint,
		Range: b.Range, Entries: Values(b.Entries), InclusionProofs: Values(b.InclusionProofs),
		ConsistencyProofs: b.ConsistencyProofs, Policies: Values(b.Policies), Workflows: Values(b.Workflows),
		Payloads: Values(b.Payloads), Jobs: Values(b.Jobs),
	}
}

// Collect reads every list of s into a Bundle.
func (s *BundleStream) Collect() (*Bundle, error) {
	b := &Bundle{Format: s.Format, Tenant: s.Tenant, Origin: s.Origin, PublicKey: s.PublicKey, Checkpoint: s.Checkpoint,
		Range: s.Range, ConsistencyProofs: s.ConsistencyProofs}
	var err error
	if b.Entries, err = collect(s.Entries); err != nil {
		return nil, err
	}
	if b.InclusionProofs, err = collect(s.InclusionProofs); err != nil {
		return nil, err
	}
	if b.Policies, err = collect(s.Policies); err != nil {
		return nil, err
	}
	if b.Workflows, err = collect(s.Workflows); err != nil {
		return nil, err
	}
	if b.Payloads, err = collect(s.Payloads); err != nil {
		return nil, err
	}
	if b.Jobs, err = collect(s.Jobs); err != nil {
		return nil, err
	}
	return b, nil
}

func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	if seq == nil {
		return nil, nil
	}
	out := []T{}
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// WriteTo writes the bundle with exactly the bytes EncodeBundle has always
// written (encoding/json, HTML escaping off, one-space indentation, a final
// newline), member by member. Payload data is base64-encoded straight to w.
// An iterator's error stops the writing and is returned: what was written
// is then not a complete JSON text.
func (s *BundleStream) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := &bundleWriter{w: bufio.NewWriterSize(cw, 1<<16)}
	bw.write(s)
	if bw.err == nil {
		bw.err = bw.w.Flush()
	}
	return cw.n, bw.err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// bundleWriter writes a bundle as encoding/json would: the top-level object
// at depth 0, its members one space in, list elements two spaces in.
type bundleWriter struct {
	w       *bufio.Writer
	err     error
	members int
	bufs    [3]bytes.Buffer
	encs    [3]*json.Encoder
}

func (bw *bundleWriter) write(s *BundleStream) {
	bw.str("{")
	bw.member("format", s.Format)
	bw.member("tenant", s.Tenant)
	bw.member("origin", s.Origin)
	bw.member("public_key", s.PublicKey)
	bw.member("checkpoint", s.Checkpoint)
	if s.Range != nil {
		bw.member("range", s.Range)
	}
	list(bw, "entries", false, s.Entries, bw.element)
	list(bw, "inclusion_proofs", true, s.InclusionProofs, bw.element)
	if len(s.ConsistencyProofs) > 0 {
		bw.member("consistency_proofs", s.ConsistencyProofs)
	}
	list(bw, "policies", false, s.Policies, bw.element)
	list(bw, "workflows", false, s.Workflows, bw.element)
	list(bw, "payloads", false, s.Payloads, bw.payload)
	list(bw, "jobs", false, s.Jobs, bw.element)
	bw.str("\n}\n")
}

func (bw *bundleWriter) str(s string) {
	if bw.err == nil {
		_, bw.err = bw.w.WriteString(s)
	}
}

// value writes v as encoding/json does at depth (the indentation of the
// line it starts on), without the newline the encoder ends with.
func (bw *bundleWriter) value(depth int, v any) {
	if bw.err != nil {
		return
	}
	if bw.encs[depth] == nil {
		bw.encs[depth] = json.NewEncoder(&bw.bufs[depth])
		bw.encs[depth].SetEscapeHTML(false)
		bw.encs[depth].SetIndent(strings.Repeat(" ", depth), " ")
	}
	buf := &bw.bufs[depth]
	buf.Reset()
	if bw.err = bw.encs[depth].Encode(v); bw.err != nil {
		return
	}
	_, bw.err = bw.w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if buf.Cap() > 1<<20 {
		buf.Reset()
		*buf = bytes.Buffer{} // do not keep one large element's buffer
	}
}

// name starts a top-level member.
func (bw *bundleWriter) name(n string) {
	if bw.members > 0 {
		bw.str(",")
	}
	bw.members++
	bw.str("\n ")
	bw.value(0, n)
	bw.str(": ")
}

func (bw *bundleWriter) member(n string, v any) {
	bw.name(n)
	bw.value(1, v)
}

func (bw *bundleWriter) element(v any) { bw.value(2, v) }

// list writes a list member from seq: null when seq is nil (omitted when
// omitEmpty), [] when it yields nothing (omitted when omitEmpty).
func list[T any](bw *bundleWriter, n string, omitEmpty bool, seq iter.Seq2[T, error], elem func(any)) {
	if seq == nil {
		if !omitEmpty {
			bw.name(n)
			bw.str("null")
		}
		return
	}
	if !omitEmpty {
		bw.name(n)
		bw.str("[")
	}
	count := 0
	for v, err := range seq {
		if bw.err == nil && err != nil {
			bw.err = err
		}
		if bw.err != nil {
			return
		}
		switch {
		case count > 0:
			bw.str(",\n  ")
		case omitEmpty:
			bw.name(n)
			bw.str("[\n  ")
		default:
			bw.str("\n  ")
		}
		count++
		elem(v)
	}
	switch {
	case count > 0:
		bw.str("\n ]")
	case !omitEmpty:
		bw.str("]")
	}
}

// payload writes a Payload element with its data base64-encoded straight
// to the output (members as encoding/json orders and omits them).
func (bw *bundleWriter) payload(v any) {
	p := v.(Payload)
	bw.str("{\n   \"ptr\": ")
	bw.value(0, p.Ptr)
	bw.str(",\n   \"sha256\": ")
	bw.value(0, p.SHA256)
	if len(p.Data) > 0 {
		bw.str(",\n   \"data\": \"")
		if bw.err == nil {
			enc := base64.NewEncoder(base64.StdEncoding, bw.w)
			if _, bw.err = enc.Write(p.Data); bw.err == nil {
				bw.err = enc.Close()
			}
		}
		bw.str("\"")
	}
	if p.Withheld {
		bw.str(",\n   \"withheld\": true")
	}
	if p.Reason != "" {
		bw.str(",\n   \"reason\": ")
		bw.value(0, p.Reason)
	}
	if p.ErasedBy != nil {
		bw.str(",\n   \"erased_by\": ")
		bw.value(0, *p.ErasedBy)
	}
	bw.str("\n  }")
}

// EntrySpan summarises the indexes of a bundle's entries, added in
// ascending order: enough to choose its proofs before the entries are read.
type EntrySpan struct {
	Count       uint64
	First, Last uint64
}

// Add records the next entry's index; indexes must ascend.
func (sp *EntrySpan) Add(index uint64) error {
	if sp.Count > 0 {
		if index == sp.Last {
			return fmt.Errorf("ledger: entry %d given twice", index)
		}
		if index < sp.Last {
			return fmt.Errorf("ledger: entry %d comes after entry %d; entries must ascend", index, sp.Last)
		}
	} else {
		sp.First = index
	}
	sp.Last = index
	sp.Count++
	return nil
}

// Contiguous reports whether the entries are every index from First to
// Last: the bundle then carries a range proof, otherwise one inclusion
// proof per entry.
func (sp EntrySpan) Contiguous() bool { return sp.Count > 0 && sp.Last-sp.First == sp.Count-1 }

// BundleHead is what a streamed bundle's proofs are computed from before
// any of it is written (see BundleInput for the members).
type BundleHead struct {
	Tenant          string
	Origin          string
	PublicKey       string
	Checkpoint      []byte
	Nodes           tree.NodeReader
	Span            EntrySpan
	ConsistencyFrom []uint64
}

// NewBundleStream opens the checkpoint and computes what BuildBundle
// computes ahead of the entries: the range proof when the entries are
// contiguous, and the consistency proofs. It returns the checkpoint's tree
// size. The caller sets the lists; for entries that are not contiguous,
// InclusionProofs from InclusionProofSeq.
func NewBundleStream(h BundleHead) (*BundleStream, uint64, error) {
	cp, origin, err := openHead(h.PublicKey, h.Checkpoint, h.Origin)
	if err != nil {
		return nil, 0, err
	}
	if h.Span.Count > 0 && h.Span.Last >= cp.Size {
		return nil, 0, fmt.Errorf("ledger: entry %d is beyond checkpoint size %d", h.Span.Last, cp.Size)
	}
	s := &BundleStream{Format: BundleFormat, Tenant: h.Tenant, Origin: origin, PublicKey: strings.TrimSpace(h.PublicKey), Checkpoint: string(h.Checkpoint)}
	if h.Span.Contiguous() {
		if s.Range, err = rangeFor(h.Span.First, h.Span.Last+1, cp.Size, h.Nodes); err != nil {
			return nil, 0, err
		}
	}
	if s.ConsistencyProofs, err = consistencyFor(h.ConsistencyFrom, cp.Size, h.Nodes); err != nil {
		return nil, 0, err
	}
	return s, cp.Size, nil
}

// InclusionProofSeq proves each index, in order, included in the tree of
// size leaves, computing each proof as it is read.
func InclusionProofSeq(indexes iter.Seq2[uint64, error], size uint64, nodes tree.NodeReader) iter.Seq2[BundleInclusionProof, error] {
	return func(yield func(BundleInclusionProof, error) bool) {
		for i, err := range indexes {
			if err == nil && nodes == nil {
				err = errors.New("ledger: a partial export needs a NodeReader")
			}
			var p [][]byte
			if err == nil {
				p, err = tree.InclusionProof(i, size, nodes)
			}
			if err != nil {
				yield(BundleInclusionProof{}, err)
				return
			}
			if !yield(BundleInclusionProof{Index: i, Size: size, Hashes: hexList(p)}, nil) {
				return
			}
		}
	}
}

// openHead opens a bundle's checkpoint with its key and checks its origin.
func openHead(publicKey string, checkpoint []byte, want string) (*tree.Checkpoint, string, error) {
	v, err := tree.NewVerifier(publicKey)
	if err != nil {
		return nil, "", err
	}
	cp, err := tree.OpenCheckpoint(checkpoint, v)
	if err != nil {
		return nil, "", err
	}
	origin := want
	if origin == "" {
		origin = cp.Origin
	}
	if origin != cp.Origin {
		return nil, "", fmt.Errorf("ledger: checkpoint origin %q, want %q", cp.Origin, origin)
	}
	return cp, origin, nil
}

// rangeFor is the range proof of entries [from, to) in the tree of size
// leaves: empty sides for the whole log, which needs no nodes.
func rangeFor(from, to, size uint64, nodes tree.NodeReader) (*BundleRange, error) {
	rp := &BundleRange{From: from, To: to, Left: []string{}, Right: []string{}}
	if from == 0 && to == size {
		return rp, nil
	}
	if nodes == nil {
		return nil, errors.New("ledger: a partial export needs a NodeReader")
	}
	l, r, err := tree.RangeProof(from, to, size, nodes)
	if err != nil {
		return nil, err
	}
	rp.Left, rp.Right = hexList(l), hexList(r)
	return rp, nil
}

// consistencyFor proves the tree of size leaves consistent with each older size.
func consistencyFor(froms []uint64, size uint64, nodes tree.NodeReader) ([]BundleConsistencyProof, error) {
	var out []BundleConsistencyProof
	for _, from := range froms {
		if from > size {
			return nil, fmt.Errorf("ledger: consistency from %d beyond checkpoint size %d", from, size)
		}
		if nodes == nil {
			return nil, errors.New("ledger: consistency proofs need a NodeReader")
		}
		p, err := tree.ConsistencyProof(from, size, nodes)
		if err != nil {
			return nil, err
		}
		out = append(out, BundleConsistencyProof{From: from, To: size, Hashes: hexList(p)})
	}
	return out, nil
}
