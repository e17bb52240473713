// Package verify checks a Cairn evidence bundle offline; it depends only on
// the ledger formats and can be vendored.
//
// Bundle checks, in this order: the checkpoint signature; every entry (leaf
// hash recomputed from its body, body index and tenant, prev_hash chain
// between consecutive entries); that the entries are in the checkpoint's
// tree (one root recomputation for a declared range, an inclusion proof for
// every other entry); given a trusted older checkpoint, that the bundle's
// tree extends it; payload, policy and workflow definition hashes;
// job_hash recomputation and every event's binding to it; that every
// referenced policy and workflow text is present; and that each job
// projection row agrees with the latest ledger evidence for its job. The
// algorithm is specified in docs/evidence.md.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
	"golang.org/x/mod/sumdb/note"
)

// Options configures Bundle.
type Options struct {
	// TrustedKey is the log's note verifier key ("<name>+<hash>+<base64>"),
	// obtained independently of the bundle. When empty, the bundle's own
	// public_key is used and the report says the key is not trusted: such a
	// check only shows the bundle is self-consistent.
	TrustedKey string
	// TrustedCheckpoint is an older signed checkpoint note of the same log
	// that the auditor kept. When set, the bundle's checkpoint must extend it
	// (same origin, not smaller, consistency proof or recomputed root).
	TrustedCheckpoint []byte
	// WitnessKeys are verifier keys of witnesses (ledger.NewWitnessVerifier:
	// type 0x04 Ed25519 or 0x06 ML-DSA-44 cosignature/v1, or 0x01 plain
	// Ed25519); their cosignatures on the bundle's checkpoint and on the
	// trusted checkpoint are verified (an invalid one is a failure) and
	// listed in the report.
	WitnessKeys []string
	// MinWitnesses is how many distinct witnesses of WitnessKeys must have
	// cosigned the bundle's checkpoint or the trusted checkpoint; fewer is
	// an ErrWitness failure. 0 requires none.
	MinWitnesses int
	// Workers bounds the goroutines hashing and parsing entries
	// (0: GOMAXPROCS).
	Workers int
	// MaxProblems bounds Report.Problems (0: 100).
	MaxProblems int
}

// Report is the outcome of Bundle. It is filled as far as verification got.
type Report struct {
	OK       bool   `json:"ok"`
	Tenant   string `json:"tenant"`
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"tree_size"`
	Root     string `json:"root"` // hex
	// LogKey is "<name>+<hash>" of the key that signed the checkpoint;
	// KeyTrusted is false when it came from the bundle itself.
	LogKey     string `json:"log_key"`
	KeyTrusted bool   `json:"key_trusted"`
	// Cosigners are the names of the given witnesses (Options.WitnessKeys)
	// whose cosignatures on the bundle's checkpoint verified;
	// TrustedCosigners the same for the trusted checkpoint. Witnesses is
	// how many distinct given witnesses cosigned either.
	Cosigners        []string `json:"cosigners,omitempty"`
	TrustedCosigners []string `json:"trusted_cosigners,omitempty"`
	Witnesses        int      `json:"witnesses,omitempty"`
	// Mode is how inclusion was checked: "complete" (all entries 0..size-1,
	// root recomputed from the leaves), "range" (a contiguous range plus its
	// range proof), "proofs" (one inclusion proof per entry) or
	// "range+proofs".
	Mode            string `json:"mode"`
	Entries         int    `json:"entries"`
	InclusionProofs int    `json:"inclusion_proofs"`
	ChainLinks      int    `json:"chain_links"`
	// TrustedSize is the trusted checkpoint's tree size (0: none given);
	// Consistency says how the bundle was proven to extend it.
	TrustedSize      uint64 `json:"trusted_size,omitempty"`
	Consistency      string `json:"consistency,omitempty"`
	Policies         int    `json:"policies"`
	Workflows        int    `json:"workflows"`
	Payloads         int    `json:"payloads"`
	PayloadsWithheld int    `json:"payloads_withheld"`
	// PayloadsErased counts the withheld payloads an erasure removed;
	// JobHashesErased the job_hash checks not made because the context
	// payload they need was erased ("erased, not checked").
	PayloadsErased    int `json:"payloads_erased"`
	JobHashesErased   int `json:"job_hashes_erased"`
	Jobs              int `json:"jobs"`
	JobHashesVerified int `json:"job_hashes_verified"`
	// Pruned counts the entries whose bodies a retention compaction removed
	// (docs/evidence.md, "Pruned entries"): their leaf hashes still prove
	// the tree, but nothing in their bodies can be checked. PrunedEntries
	// lists the first MaxPrunedListed of them.
	Pruned        int           `json:"pruned,omitempty"`
	PrunedEntries []PrunedEntry `json:"pruned_entries,omitempty"`
	// Notes list what could not be checked, and why (e.g. a withheld
	// payload), and other caveats.
	Notes []string `json:"notes,omitempty"`
	// Problems are the failures found, the first being the one returned.
	Problems []*Error `json:"problems,omitempty"`
}

type checker struct {
	b     *bundle.Bundle
	opts  Options
	rep   *Report
	max   int
	cp    *tree.Checkpoint
	facts []*ledger.EntryFacts // nil for a body that does not parse
	slab  []ledger.EntryFacts
	leafs [][32]byte
	// jobHash[i] is the job_hash recomputed for entry i (a job_submitted
	// whose context payload is usable), computed in the parallel phase.
	jobHash    []string
	jobHashErr []error
	// rootAtTrusted is the root of the tree of the trusted size, recomputed
	// from the leaves of a range starting at 0 (nil when not available).
	rootAtTrusted *[32]byte
	// witnesses are the verifiers of Options.WitnessKeys; cosigned holds
	// "<name>+<hash>" of those that cosigned the bundle's or the trusted
	// checkpoint.
	witnesses    []note.Verifier
	cosigned     map[string]bool
	treeProblems []*Error
	// prev[i] is entry i's prev_hash decoded (prevOK[i]: it was 64 hex digits).
	prev   [][32]byte
	prevOK []bool

	payloads map[string]*bundle.Payload
	payOK    map[string]bool // data present and hashing to sha256
	policies map[string]bool // snapshot id -> text verified
	// workflows maps a workflow id to its text in the bundle (the first,
	// when listed twice) and wfSum to the hex SHA-256 of that text.
	workflows map[string]*bundle.WorkflowText
	wfSum     map[string]string
	jobs      map[string]*jobEvidence
}

// Bundle verifies b. It returns the report and, if anything failed, the
// first problem (an *Error); the report lists up to MaxProblems of them.
func Bundle(b *bundle.Bundle, opts Options) (*Report, error) {
	c := &checker{b: b, opts: opts, rep: &Report{}, max: opts.MaxProblems}
	if c.max <= 0 {
		c.max = 100
	}
	if b == nil {
		c.fail(recordErr("bundle", ErrFormat, "no bundle"))
		return c.done()
	}
	c.rep.Tenant, c.rep.Origin = b.Tenant, b.Origin
	if b.Format != bundle.BundleFormat {
		c.fail(recordErr("bundle", ErrFormat, "format %q, want %q", b.Format, bundle.BundleFormat))
		return c.done()
	}
	if b.Tenant == "" {
		c.fail(recordErr("bundle", ErrFormat, "no tenant"))
		return c.done()
	}
	if !c.checkpoint() {
		return c.done()
	}
	c.indexPayloads()
	ordered := c.entries()
	// The tree checks need only the leaf hashes; the evidence checks only
	// the parsed bodies: run them side by side, then report in a fixed
	// order (entries, tree, trusted checkpoint, payloads and policies,
	// evidence, job rows).
	var wg sync.WaitGroup
	if ordered {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.tree()
		}()
	}
	early := c.rep.Problems
	c.rep.Problems = nil
	c.payloadsAndPolicies()
	c.workflowTexts()
	c.evidence()
	c.compactions()
	c.jobRows()
	late := c.rep.Problems
	wg.Wait()
	c.rep.Problems = append(early, c.treeProblems...)
	c.trusted(ordered)
	c.witnessQuorum()
	c.rep.Problems = append(c.rep.Problems, late...)
	if len(c.rep.Problems) > c.max {
		c.rep.Problems = c.rep.Problems[:c.max]
	}
	return c.done()
}

func (c *checker) fail(e *Error) {
	if len(c.rep.Problems) < c.max {
		c.rep.Problems = append(c.rep.Problems, e)
	}
}

// tfail records a problem found by tree, which runs concurrently with the
// evidence checks.
func (c *checker) tfail(e *Error) {
	if len(c.treeProblems) < c.max {
		c.treeProblems = append(c.treeProblems, e)
	}
}

func (c *checker) note(format string, args ...any) {
	if len(c.rep.Notes) < 1000 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf(format, args...))
	}
}

func (c *checker) done() (*Report, error) {
	c.rep.OK = len(c.rep.Problems) == 0
	if !c.rep.OK {
		return c.rep, c.rep.Problems[0]
	}
	return c.rep, nil
}

// checkpoint opens the bundle's checkpoint with the trusted key (or the
// bundle's key) and the witness keys.
func (c *checker) checkpoint() bool {
	key := c.opts.TrustedKey
	c.rep.KeyTrusted = key != ""
	if key == "" {
		key = c.b.PublicKey
		c.note("checkpoint verified with the public key shipped in the bundle; pass a trusted key to rule out a re-signed bundle")
	} else if c.b.PublicKey != "" && strings.TrimSpace(c.b.PublicKey) != strings.TrimSpace(key) {
		c.note("the bundle's public_key differs from the trusted key; the trusted key was used")
	}
	if key == "" {
		c.fail(recordErr("checkpoint", ErrKey, "no trusted key given and the bundle has no public_key"))
		return false
	}
	v, err := tree.NewVerifier(key)
	if err != nil {
		c.fail(recordErr("checkpoint", ErrKey, "%v", err))
		return false
	}
	var ws []note.Verifier
	seen := map[string]bool{}
	for _, wk := range c.opts.WitnessKeys {
		w, err := tree.NewWitnessVerifier(wk)
		if err != nil {
			c.fail(recordErr("checkpoint", ErrKey, "witness key: %v", trimLedger(err)))
			return false
		}
		id := fmt.Sprintf("%s+%08x", w.Name(), w.KeyHash())
		if seen[id] || (w.Name() == v.Name() && w.KeyHash() == v.KeyHash()) {
			continue // given twice, or the log's own key: not a witness
		}
		seen[id] = true
		ws = append(ws, w)
	}
	c.witnesses, c.cosigned = ws, map[string]bool{}
	cp, err := tree.OpenCheckpoint([]byte(c.b.Checkpoint), v, ws...)
	if err != nil {
		c.fail(recordErr("checkpoint", ErrSignature, "%v", trimLedger(err)))
		return false
	}
	c.cp = cp
	c.rep.LogKey, c.rep.Cosigners = cp.LogKey, c.countCosigners(cp)
	c.rep.TreeSize, c.rep.Root = cp.Size, hex.EncodeToString(cp.Root[:])
	for _, u := range cp.Unverified {
		c.note("checkpoint signature by unknown key %s not verified", u)
	}
	if cp.Origin != c.b.Origin {
		c.fail(recordErr("checkpoint", ErrOrigin, "checkpoint origin %q, bundle origin %q", cp.Origin, c.b.Origin))
		return false
	}
	return true
}

func trimLedger(err error) string {
	s := strings.TrimPrefix(err.Error(), "ledger: ")
	return strings.TrimPrefix(s, tree.ErrCheckpointSignature.Error()+": ")
}

// entries hashes and parses every entry (in parallel), then checks order,
// leaf hashes, envelopes and the prev_hash chain. It reports whether the
// entries are strictly ordered (the tree checks need that).
func (c *checker) entries() bool {
	es := c.b.Entries
	n := len(es)
	c.rep.Entries = n
	c.leafs = make([][32]byte, n)
	c.facts = make([]*ledger.EntryFacts, n)
	c.slab = make([]ledger.EntryFacts, n)
	c.prev = make([][32]byte, n)
	c.prevOK = make([]bool, n)
	c.jobHash = make([]string, n)
	c.jobHashErr = make([]error, n)
	declared := make([][32]byte, n)
	declOK := make([]bool, n)
	perr := make([]error, n)

	c.parallel(n, func(i int) { c.prepare(i, declared, declOK, perr) })

	ordered := true
	for i := range es {
		if !c.checkEntry(i, declared[i], declOK[i], perr[i]) {
			ordered = false
		}
	}
	return ordered
}

// checkEntry checks entry i's place (it reports whether the entry follows
// the one before it and is below the tree size), its leaf hash and its
// body.
func (c *checker) checkEntry(i int, declared [32]byte, declOK bool, perr error) (ordered bool) {
	es, size := c.b.Entries, c.cp.Size
	e := &es[i]
	ordered = true
	if i > 0 && e.Index <= es[i-1].Index {
		c.fail(entryErr(e.Index, ErrOrder, "follows entry %d in the bundle", es[i-1].Index))
		ordered = false
	}
	if e.Index >= size {
		c.fail(entryErr(e.Index, ErrBeyond, "index is not below checkpoint tree size %d", size))
		ordered = false
	}
	if !declOK {
		c.fail(entryErr(e.Index, ErrFormat, "leaf_hash %q is not 64 hex digits", e.LeafHash))
	} else if e.PrunedBy != nil {
		c.prunedEntry(e)
		return ordered
	} else if declared != c.leafs[i] {
		c.fail(entryErr(e.Index, ErrLeafHash, "body hashes to %s, entry says %s", ledger.HashHex(c.leafs[i]), e.LeafHash))
	}
	if c.facts[i] == nil {
		c.fail(entryErr(e.Index, ErrBody, "%v", trimLedger(perr)))
		return ordered
	}
	c.checkBody(i)
	return ordered
}

// checkBody checks entry i's parsed body: its index, its tenant and its
// prev_hash link to the entry before it.
func (c *checker) checkBody(i int) {
	es, f := c.b.Entries, c.facts[i]
	e := &es[i]
	if f.Index != e.Index {
		c.fail(entryErr(e.Index, ErrIndex, "body has index %d", f.Index))
	}
	if f.Tenant != c.b.Tenant {
		c.fail(entryErr(e.Index, ErrTenant, "body has tenant %q, bundle is for %q", f.Tenant, c.b.Tenant))
	}
	switch {
	case e.Index == 0:
		if f.PrevHash != "" {
			c.fail(entryErr(e.Index, ErrChain, "first entry has prev_hash %q, want \"\"", f.PrevHash))
		}
	case i > 0 && es[i-1].Index == e.Index-1:
		c.rep.ChainLinks++
		if !c.prevOK[i] || c.prev[i] != c.leafs[i-1] {
			c.fail(entryErr(e.Index, ErrChain, "prev_hash %q is not entry %d's leaf hash %s", f.PrevHash, e.Index-1, ledger.HashHex(c.leafs[i-1])))
		}
	}
}

func (c *checker) prepare(i int, declared [][32]byte, declOK []bool, perr []error) {
	e := &c.b.Entries[i]
	if len(e.LeafHash) == 64 {
		if _, err := hex.Decode(declared[i][:], []byte(e.LeafHash)); err == nil {
			declOK[i] = true
		}
	}
	if e.PrunedBy != nil {
		c.leafs[i] = declared[i] // pruned: the leaf hash is all there is
		return
	}
	c.leafs[i] = ledger.LeafHashString(e.Body)
	f := &c.slab[i]
	err := ledger.ParseEntryString(e.Body, f)
	if err != nil {
		c.facts[i], perr[i] = nil, err
		return
	}
	c.facts[i] = f
	if lowerHex64(f.PrevHash) {
		_, _ = hex.Decode(c.prev[i][:], []byte(f.PrevHash))
		c.prevOK[i] = true
	}
	if f.Event.Type == ledger.EventJobSubmitted && f.Event.Job != nil {
		if input, ok := c.contextInput(f.Event.Job); ok {
			c.jobHash[i], c.jobHashErr[i] = f.Event.Job.ComputeJobHash(input)
		}
	}
}

// contextInput returns the input a job_hash is recomputed with: the
// context payload's data when it is in the bundle, not withheld and hashes
// to its sha256 (nil input when the job has no context pointer).
func (c *checker) contextInput(j *ledger.SubmittedJob) ([]byte, bool) {
	if j.ContextPtr == "" {
		return nil, true
	}
	p := c.payloads[j.ContextPtr]
	if p == nil || p.Withheld || !c.payOK[j.ContextPtr] {
		return nil, false
	}
	return p.Data, true
}

// lowerHex64 reports whether s is 64 lowercase hex digits.
func lowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func decodeHashes(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("hash %d (%q) is not 64 hex digits", i, h)
		}
		out[i] = b
	}
	return out, nil
}

// countCosigners returns the names of the given witnesses whose signatures
// on cp verified (OpenCheckpoint verified every signature by a given key),
// and records them in c.cosigned.
func (c *checker) countCosigners(cp *tree.Checkpoint) []string {
	var names []string
	for _, s := range cp.Note.Sigs {
		for _, w := range c.witnesses {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				names = append(names, s.Name)
				c.cosigned[fmt.Sprintf("%s+%08x", s.Name, s.Hash)] = true
			}
		}
	}
	c.rep.Witnesses = len(c.cosigned)
	return names
}

// witnessQuorum checks that at least MinWitnesses distinct given witnesses
// cosigned the bundle's checkpoint or the trusted checkpoint.
func (c *checker) witnessQuorum() {
	n := c.opts.MinWitnesses
	if n <= 0 || len(c.cosigned) >= n {
		return
	}
	switch {
	case len(c.witnesses) < n:
		c.fail(recordErr("checkpoint", ErrWitness, "%d witness cosignatures required but only %d distinct witness keys given", n, len(c.witnesses)))
	default:
		var got []string
		for id := range c.cosigned {
			got = append(got, id)
		}
		sort.Strings(got)
		by := "none"
		if len(got) > 0 {
			by = fmt.Sprintf("%d (%s)", len(got), strings.Join(got, ", "))
		}
		c.fail(recordErr("checkpoint", ErrWitness, "%d witness cosignatures required; of the %d witness keys given, %s cosigned the checkpoint or the trusted checkpoint", n, len(c.witnesses), by))
	}
}

// trusted checks the bundle's checkpoint against the trusted one.
func (c *checker) trusted(ordered bool) {
	if c.opts.TrustedCheckpoint == nil {
		return
	}
	t := c.openTrusted()
	if t == nil {
		return
	}
	if t.Origin != c.cp.Origin {
		c.fail(recordErr("checkpoint", ErrOrigin, "origin %q, trusted checkpoint is for %q", c.cp.Origin, t.Origin))
		return
	}
	switch {
	case c.cp.Size < t.Size:
		c.fail(recordErr("checkpoint", ErrTruncated, "tree size %d is smaller than the trusted checkpoint's %d: entries %d.. were removed (or the bundle predates the trusted checkpoint)", c.cp.Size, t.Size, c.cp.Size))
	case c.cp.Size == t.Size:
		if c.cp.Root != t.Root {
			c.fail(recordErr("checkpoint", ErrConsistency, "same tree size %d as the trusted checkpoint but a different root: the log was rewritten", t.Size))
			return
		}
		c.rep.Consistency = "same tree as the trusted checkpoint"
	case t.Size == 0:
		c.rep.Consistency = "trusted checkpoint is the empty tree"
	case c.rootAtTrusted != nil:
		if *c.rootAtTrusted != t.Root {
			c.fail(recordErr("checkpoint", ErrConsistency, "the bundle's entries 0..%d give root %s, the trusted checkpoint has %s: the log was rewritten", t.Size-1, ledger.HashHex(*c.rootAtTrusted), ledger.HashHex(t.Root)))
			return
		}
		c.rep.Consistency = fmt.Sprintf("root at trusted size %d recomputed from the bundle's entries", t.Size)
	default:
		c.consistencyProof(t)
	}
}

// openTrusted opens the trusted checkpoint with the log key and the
// witness keys (nil: it does not open, a problem recorded).
func (c *checker) openTrusted() *tree.Checkpoint {
	key := c.opts.TrustedKey
	if key == "" {
		key = c.b.PublicKey
	}
	v, err := tree.NewVerifier(key)
	if err != nil {
		c.fail(recordErr("trusted checkpoint", ErrKey, "%v", err))
		return nil
	}
	t, err := tree.OpenCheckpoint(c.opts.TrustedCheckpoint, v, c.witnesses...)
	if err != nil {
		c.fail(recordErr("trusted checkpoint", ErrTrustedCheckpoint, "%v", trimLedger(err)))
		return nil
	}
	c.rep.TrustedSize = t.Size
	c.rep.TrustedCosigners = c.countCosigners(t)
	for _, u := range t.Unverified {
		c.note("trusted checkpoint signature by unknown key %s not verified", u)
	}
	return t
}

// consistencyProof checks the bundle's consistency proof from the trusted
// checkpoint's size to the bundle's.
func (c *checker) consistencyProof(t *tree.Checkpoint) {
	for _, p := range c.b.ConsistencyProofs {
		if p.From != t.Size || p.To != c.cp.Size {
			continue
		}
		hs, err := decodeHashes(p.Hashes)
		if err != nil {
			c.fail(recordErr("checkpoint", ErrFormat, "consistency proof: %v", err))
			return
		}
		if err := tree.VerifyConsistency(t.Size, c.cp.Size, hs, t.Root, c.cp.Root); err != nil {
			c.fail(recordErr("checkpoint", ErrConsistency, "from trusted size %d to %d: %v: the log was rewritten", t.Size, c.cp.Size, err))
			return
		}
		c.rep.Consistency = fmt.Sprintf("consistency proof from trusted size %d verified", t.Size)
		return
	}
	c.fail(recordErr("checkpoint", ErrConsistency, "the bundle has no consistency proof from trusted size %d to %d", t.Size, c.cp.Size))
}

// indexPayloads maps payloads by pointer and checks (in parallel) which
// hash to their sha256; problems are reported later, by
// payloadsAndPolicies.
func (c *checker) indexPayloads() {
	ps := c.b.Payloads
	good := make([]bool, len(ps))
	c.parallel(len(ps), func(i int) {
		if p := &ps[i]; !p.Withheld {
			sum := sha256.Sum256(p.Data)
			good[i] = hex.EncodeToString(sum[:]) == p.SHA256
		}
	})
	c.payloads = make(map[string]*bundle.Payload, len(ps))
	c.payOK = make(map[string]bool, len(ps))
	for i := range ps {
		p := &ps[i]
		if _, dup := c.payloads[p.Ptr]; dup {
			continue
		}
		c.payloads[p.Ptr] = p
		if good[i] {
			c.payOK[p.Ptr] = true
		}
	}
}

// parallel runs fn(0..n-1) on the configured number of workers.
func (c *checker) parallel(n int, fn func(i int)) {
	workers := c.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	const chunk = 512
	if workers <= 1 || n <= chunk {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, (n+chunk-1)/chunk)
	for i := 0; i < n; i += chunk {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				for i := lo; i < min(lo+chunk, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}

// payloadsAndPolicies reports payload problems and checks each policy's
// text against its snapshot id.
func (c *checker) payloadsAndPolicies() {
	seen := map[string]bool{}
	for i := range c.b.Payloads {
		p := &c.b.Payloads[i]
		rec := "payload " + p.Ptr
		if seen[p.Ptr] {
			c.fail(recordErr(rec, ErrFormat, "listed twice"))
			continue
		}
		seen[p.Ptr] = true
		c.rep.Payloads++
		if c.sealedWithheld(p) {
			continue
		}
		if p.Withheld {
			c.rep.PayloadsWithheld++
			if len(p.Data) > 0 {
				c.fail(recordErr(rec, ErrFormat, "withheld but has data"))
			}
			reason := p.Reason
			if reason == "" {
				reason = "no reason given"
			}
			c.note("payload %s withheld (%s): its content is not checked", p.Ptr, reason)
			continue
		}
		if !c.payOK[p.Ptr] {
			sum := sha256.Sum256(p.Data)
			c.fail(recordErr(rec, ErrPayload, "data hashes to %s, payload says %s", hex.EncodeToString(sum[:]), p.SHA256))
		}
	}
	c.policies = map[string]bool{}
	for _, p := range c.b.Policies {
		rec := "policy " + p.Snapshot
		if _, dup := c.policies[p.Snapshot]; dup {
			c.fail(recordErr(rec, ErrFormat, "listed twice"))
			continue
		}
		c.rep.Policies++
		want, err := ledger.SnapshotDigest(p.Snapshot)
		if err != nil {
			c.policies[p.Snapshot] = false
			c.fail(recordErr(rec, ErrPolicy, "%v", trimLedger(err)))
			continue
		}
		got := ledger.SHA256Hex([]byte(p.Text))
		c.policies[p.Snapshot] = got == want
		if got != want {
			c.fail(recordErr(rec, ErrPolicy, "text hashes to %s, not to the snapshot id", got))
		}
	}
}
