package bundle

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"github.com/cairnhq/cairn/ledger/tree"
)

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
)

// BundleFormat is the format member of a version-1 evidence bundle.
const BundleFormat = "cairn-evidence-bundle/v1"

// Bundle is an evidence export: a signed checkpoint of one tenant's ledger,
// ledger entries with what proves them included in that checkpoint, and the
// policy texts, workflow definition texts, payloads and job projection rows
// the entries commit to. A
// bundle is checked offline by package verify; docs/evidence.md specifies
// every member precisely.
type Bundle struct {
	// Format is BundleFormat.
	Format string `json:"format"`
	// Tenant is the tenant whose ledger this is; every entry body names it.
	Tenant string `json:"tenant"`
	// Origin is the checkpoint origin of the tenant's ledger.
	Origin string `json:"origin"`
	// PublicKey is the note verifier key the checkpoint is signed with. It is
	// a convenience: an auditor should verify with a key obtained otherwise.
	PublicKey string `json:"public_key"`
	// Checkpoint is the signed checkpoint note (C2SP tlog-checkpoint).
	Checkpoint string `json:"checkpoint"`
	// Range, when present, declares that Entries contains every entry with
	// index in [From, To), and carries what recomputes the checkpoint root
	// from those leaves. A complete export is the range [0, size).
	Range *BundleRange `json:"range,omitempty"`
	// Entries are ledger entries in ascending index order.
	Entries []Entry `json:"entries"`
	// InclusionProofs prove entries outside Range, one per entry, to the
	// checkpoint's tree size.
	InclusionProofs []BundleInclusionProof `json:"inclusion_proofs,omitempty"`
	// ConsistencyProofs prove that the checkpoint's tree extends the trees of
	// earlier sizes (for auditors holding older checkpoints).
	ConsistencyProofs []BundleConsistencyProof `json:"consistency_proofs,omitempty"`
	// Policies are the texts of the policy snapshots the entries refer to.
	Policies []Policy `json:"policies"`
	// Workflows are the exact texts of the workflow definitions the entries
	// refer to (workflow_registered and run events naming a workflow id),
	// sorted by id. A bundle exported before workflows were exported has
	// none (nil): it verifies only if no entry refers to a workflow.
	Workflows []WorkflowText `json:"workflows"`
	// Payloads are the context and result payloads the entries commit to.
	Payloads []Payload `json:"payloads"`
	// Jobs are the job projection rows (the jobs table as served by the API)
	// as of the checkpoint, for the jobs whose evidence is in the bundle.
	Jobs []JobRow `json:"jobs"`
}

// Entry is one ledger entry: its index, leaf hash (hex) and body (the exact
// canonical JSON text of the Envelope; the leaf hash is over its UTF-8
// bytes).
//
// A pruned entry (docs/evidence.md, "Pruned entries") has PrunedBy set to
// the ledger index of the retention_compacted event that removed its body,
// and an empty Body: its leaf hash is taken as given, and still proves the
// tree.
type Entry struct {
	Index    uint64  `json:"index"`
	LeafHash string  `json:"leaf_hash"`
	Body     string  `json:"body"`
	PrunedBy *uint64 `json:"pruned_by,omitempty"`
}

// BundleRange is a RangeProof: Left are the hex hashes of the compact
// range [0, From), Right those of [To, size), each ordered left to right.
type BundleRange struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Left  []string `json:"left"`
	Right []string `json:"right"`
}

// BundleInclusionProof is an RFC 9162 inclusion proof of entry Index in the
// tree of Size leaves (hex hashes, leaf to root).
type BundleInclusionProof struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

// BundleConsistencyProof is an RFC 9162 consistency proof from the tree of
// From leaves to the tree of To leaves (hex hashes).
type BundleConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

// Policy is the exact text of a published policy snapshot; SHA-256 of its
// UTF-8 bytes is the hex at the end of the snapshot id.
type Policy struct {
	Snapshot string `json:"policy_snapshot"`
	Text     string `json:"text"`
}

// WorkflowText is the exact text of a registered workflow definition: the
// SHA-256 of its UTF-8 bytes is the hex at the end of WorkflowID
// ("wf:<tenant>:<name>#sha256:<hex>"). Name and Version are as registered.
type WorkflowText struct {
	WorkflowID string `json:"workflow_id"`
	Name       string `json:"name"`
	Version    uint64 `json:"version"`
	Text       string `json:"text"`
}

// Payload is a stored context or result payload. Data is the exact stored
// bytes (base64 in JSON). A withheld payload (quarantined, redacted,
// erased …) has no data, only its SHA-256 and a reason.
type Payload struct {
	Ptr      string `json:"ptr"`
	SHA256   string `json:"sha256"`
	Data     []byte `json:"data,omitempty"`
	Withheld bool   `json:"withheld,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// ErasedBy, on a payload an erasure removed (withheld, reason
	// "erased"), is the ledger index of that erasure event.
	ErasedBy *uint64 `json:"erased_by,omitempty"`
}

// JobRow is a job projection row as of the checkpoint. Empty members are
// "not recorded" (JSON: omitted or null) and are compared as such.
type JobRow struct {
	JobID          string `json:"job_id"`
	JobHash        string `json:"job_hash"`
	State          string `json:"state"`
	Decision       string `json:"decision"`
	PolicyRuleID   string `json:"policy_rule_id,omitempty"`
	PolicySnapshot string `json:"policy_snapshot,omitempty"`
	Resolution     string `json:"resolution,omitempty"`
	ResolvedBy     string `json:"resolved_by,omitempty"`
	OutputSafety   string `json:"output_safety,omitempty"`
	ContextPtr     string `json:"context_ptr,omitempty"`
	ContextSHA256  string `json:"context_sha256,omitempty"`
	ResultPtr      string `json:"result_ptr,omitempty"`
	ResultSHA256   string `json:"result_sha256,omitempty"`
}

// UnmarshalJSON accepts null for every member.
func (j *JobRow) UnmarshalJSON(b []byte) error {
	type plain struct {
		JobID          *string `json:"job_id"`
		JobHash        *string `json:"job_hash"`
		State          *string `json:"state"`
		Decision       *string `json:"decision"`
		PolicyRuleID   *string `json:"policy_rule_id"`
		PolicySnapshot *string `json:"policy_snapshot"`
		Resolution     *string `json:"resolution"`
		ResolvedBy     *string `json:"resolved_by"`
		OutputSafety   *string `json:"output_safety"`
		ContextPtr     *string `json:"context_ptr"`
		ContextSHA256  *string `json:"context_sha256"`
		ResultPtr      *string `json:"result_ptr"`
		ResultSHA256   *string `json:"result_sha256"`
	}
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	*j = JobRow{
		JobID: s(p.JobID), JobHash: s(p.JobHash), State: s(p.State), Decision: s(p.Decision),
		PolicyRuleID: s(p.PolicyRuleID), PolicySnapshot: s(p.PolicySnapshot),
		Resolution: s(p.Resolution), ResolvedBy: s(p.ResolvedBy), OutputSafety: s(p.OutputSafety),
		ContextPtr: s(p.ContextPtr), ContextSHA256: s(p.ContextSHA256),
		ResultPtr: s(p.ResultPtr), ResultSHA256: s(p.ResultSHA256),
	}
	return nil
}

// BundleInput is what BuildBundle assembles. The caller reads everything in
// one consistent read transaction: the checkpoint for tree size n, entries
// with index < n, and job rows as of that same moment.
type BundleInput struct {
	Tenant string
	// Origin defaults to the checkpoint's origin.
	Origin string
	// PublicKey is the note verifier key for Origin (the log key).
	PublicKey string
	// Checkpoint is the signed checkpoint note; its tree size is the
	// bundle's size. It is opened with PublicKey.
	Checkpoint []byte
	// Nodes reads the tenant's persisted tree nodes. It is not needed when
	// Entries are the whole log [0, size) and ConsistencyFrom is empty.
	Nodes tree.NodeReader
	// Entries to export, any order; index < checkpoint size.
	Entries []Entry
	// ConsistencyFrom lists older tree sizes to include consistency proofs
	// from (e.g. the size of the auditor's last checkpoint).
	ConsistencyFrom []uint64
	Policies        []Policy
	Workflows       []WorkflowText
	Payloads        []Payload
	Jobs            []JobRow
}

// BuildBundle assembles a bundle: it verifies the checkpoint signature,
// checks each entry's leaf hash (filling it in when empty), and adds the
// proofs: a single RangeProof when the entries are contiguous, otherwise
// one inclusion proof per entry. Policies, workflows, payloads and jobs are
// sorted (by id, id, ptr, job_id) so that equal inputs give byte-identical
// bundles.
func BuildBundle(in BundleInput) (*Bundle, error) {
	cp, origin, err := openHead(in.PublicKey, in.Checkpoint, in.Origin)
	if err != nil {
		return nil, err
	}
	size := cp.Size
	b := &Bundle{
		Format:     BundleFormat,
		Tenant:     in.Tenant,
		Origin:     origin,
		PublicKey:  strings.TrimSpace(in.PublicKey),
		Checkpoint: string(in.Checkpoint),
		Entries:    slices.Clone(in.Entries),
		Policies:   slices.Clone(in.Policies),
		Workflows:  slices.Clone(in.Workflows),
		Payloads:   slices.Clone(in.Payloads),
		Jobs:       slices.Clone(in.Jobs),
	}
	if err := b.sortEntries(size); err != nil {
		return nil, err
	}
	if err := b.addProofs(size, in.Nodes); err != nil {
		return nil, err
	}
	if b.ConsistencyProofs, err = consistencyFor(in.ConsistencyFrom, size, in.Nodes); err != nil {
		return nil, err
	}
	slices.SortFunc(b.Policies, func(x, y Policy) int { return strings.Compare(x.Snapshot, y.Snapshot) })
	slices.SortFunc(b.Workflows, func(x, y WorkflowText) int { return strings.Compare(x.WorkflowID, y.WorkflowID) })
	slices.SortFunc(b.Payloads, func(x, y Payload) int { return strings.Compare(x.Ptr, y.Ptr) })
	slices.SortFunc(b.Jobs, func(x, y JobRow) int { return strings.Compare(x.JobID, y.JobID) })
	b.Policies = nonNil(b.Policies)
	b.Workflows = nonNil(b.Workflows)
	b.Payloads = nonNil(b.Payloads)
	b.Jobs = nonNil(b.Jobs)
	b.Entries = nonNil(b.Entries)
	return b, nil
}

// sortEntries sorts the entries by index and checks them: each given once,
// below size, with its body's leaf hash (filled in when empty).
func (b *Bundle) sortEntries(size uint64) error {
	slices.SortFunc(b.Entries, func(x, y Entry) int { return cmpU64(x.Index, y.Index) })
	for i := range b.Entries {
		e := &b.Entries[i]
		if i > 0 && b.Entries[i-1].Index == e.Index {
			return fmt.Errorf("ledger: entry %d given twice", e.Index)
		}
		if e.Index >= size {
			return fmt.Errorf("ledger: entry %d is beyond checkpoint size %d", e.Index, size)
		}
		lh := ledger.HashHex(ledger.LeafHash([]byte(e.Body)))
		if e.LeafHash == "" {
			e.LeafHash = lh
		} else if e.LeafHash != lh {
			return fmt.Errorf("ledger: entry %d: leaf hash %s does not match its body (%s)", e.Index, e.LeafHash, lh)
		}
	}
	return nil
}

// addProofs adds a range proof when the (sorted) entries are contiguous,
// otherwise one inclusion proof per entry.
func (b *Bundle) addProofs(size uint64, nodes tree.NodeReader) error {
	var err error
	if n := len(b.Entries); n > 0 && b.Entries[n-1].Index-b.Entries[0].Index == uint64(n-1) {
		b.Range, err = rangeFor(b.Entries[0].Index, b.Entries[n-1].Index+1, size, nodes)
		return err
	}
	for p, err := range InclusionProofSeq(entryIndexes(b.Entries), size, nodes) {
		if err != nil {
			return err
		}
		b.InclusionProofs = append(b.InclusionProofs, p)
	}
	return nil
}

// nonNil returns s, or an empty slice for nil (JSON [] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func entryIndexes(es []Entry) iter.Seq2[uint64, error] {
	return func(yield func(uint64, error) bool) {
		for _, e := range es {
			if !yield(e.Index, nil) {
				return
			}
		}
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hexList(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// Refs lists what a set of entries refers to, so that an exporter knows
// which policies, workflows, payloads and job rows to include.
type Refs struct {
	// Snapshots are the policy snapshot ids referred to, sorted.
	Snapshots []string
	// Workflows are the workflow ids referred to (data.workflow_id of
	// workflow_registered and run events, see EntryWorkflowRef), sorted.
	Workflows []string
	// Payloads are the payload pointers committed to (context pointers of
	// job_submitted, result pointers of job_completed), sorted.
	Payloads []string
	// Jobs are the job ids with a job_submitted entry, sorted.
	Jobs []string
}

// CollectRefs parses entry bodies and returns what they refer to. A body
// that is not an entry is an error; workflow members of the wrong type are
// not (the workflow is not referred to, and the verifier reports the entry).
func CollectRefs(entries []Entry) (*Refs, error) {
	c := NewRefCollector()
	for _, e := range entries {
		if err := c.Add(e); err != nil {
			return nil, err
		}
	}
	return c.Refs(), nil
}

// RefCollector gathers the Refs of entries added one at a time, for
// exports that do not hold their entries (see CollectRefs).
type RefCollector struct {
	snaps, wfs, ptrs, jobs map[string]bool
}

// NewRefCollector returns an empty collector.
func NewRefCollector() *RefCollector {
	return &RefCollector{snaps: map[string]bool{}, wfs: map[string]bool{}, ptrs: map[string]bool{}, jobs: map[string]bool{}}
}

// Add parses one entry body and records what it refers to (a pruned
// entry refers to nothing).
func (c *RefCollector) Add(e Entry) error {
	if e.PrunedBy != nil {
		return nil
	}
	f, err := ledger.ParseEntry([]byte(e.Body))
	if err != nil {
		return fmt.Errorf("ledger: entry %d: %w", e.Index, err)
	}
	for _, s := range f.Event.SnapshotRefs() {
		c.snaps[s] = true
	}
	if ledger.IsWorkflowEvent(f.Event.Type) {
		if ref, err := ledger.EntryWorkflowRef(e.Body); err == nil && ref != nil {
			c.wfs[ref.WorkflowID] = true
		}
	}
	if j := f.Event.Job; j != nil {
		if j.ContextPtr != "" {
			c.ptrs[j.ContextPtr] = true
		}
		c.jobs[j.JobID] = true
	}
	if f.Event.ResultPtr != "" {
		c.ptrs[f.Event.ResultPtr] = true
	}
	return nil
}

// Refs returns what the entries added so far refer to, each list sorted.
func (c *RefCollector) Refs() *Refs {
	keys := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	return &Refs{Snapshots: keys(c.snaps), Workflows: keys(c.wfs), Payloads: keys(c.ptrs), Jobs: keys(c.jobs)}
}

// EncodeBundle writes b as indented JSON: the bytes encoding/json writes
// for a Bundle with HTML escaping off and one-space indentation, so every
// string (entry bodies included) is written exactly; any conforming JSON
// encoder that round-trips strings preserves a bundle's meaning. It writes
// through BundleStream.WriteTo, as streamed exports do.
func EncodeBundle(w io.Writer, b *Bundle) error {
	_, err := b.Stream().WriteTo(w)
	return err
}

// ErrBundleFormat means the input is not a v1 evidence bundle.
var ErrBundleFormat = errors.New("not a " + BundleFormat + " bundle")

// DecodeBundle reads a bundle (see UnmarshalBundle).
func DecodeBundle(r io.Reader) (*Bundle, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ledger: bundle: %w", err)
	}
	return UnmarshalBundle(data)
}

// ReadBundleFile reads and parses the bundle file at path.
func ReadBundleFile(path string) (*Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return UnmarshalBundle(data)
}

// UnmarshalBundle parses a bundle and checks its format member. Member
// names match exactly; a repeated member name in an object it reads is an
// error; unknown members are ignored (a later v1 may add optional members).
func UnmarshalBundle(data []byte) (*Bundle, error) {
	b, err := unmarshalBundle(data)
	if err != nil {
		return nil, fmt.Errorf("ledger: bundle: %w", err)
	}
	if b.Format != BundleFormat {
		return nil, fmt.Errorf("ledger: %w (format %q)", ErrBundleFormat, b.Format)
	}
	return b, nil
}
