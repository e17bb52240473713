package service

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/payloadkey"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
	sumnote "golang.org/x/mod/sumdb/note"
)

// ExportFilter selects what an evidence export contains. With no member set
// the export is the tenant's whole ledger.
type ExportFilter struct {
	RunID, JobID    string
	Since, Until    time.Time
	ConsistencyFrom []uint64 // older tree sizes to prove consistency from
	// hashesOnly: the caller may not read payloads (the tenant's payload
	// reader roles); they are exported withheld, with their hashes.
	hashesOnly bool
}

// DefaultMaxExports bounds the evidence exports (and ledger verifications,
// which export) that run at once; see SetMaxExports.
const DefaultMaxExports = 2

// ExportRetryAfter is how long a refused export is asked to wait.
const ExportRetryAfter = 5 * time.Second

// WithheldMissing is the reason of a payload an export lists as withheld:
// the only one, since every stored payload is exported in full.
const WithheldMissing = "missing from the store"

// exportPage is how many ledger entries an export reads at a time.
const exportPage = 256

// SetMaxExports sets how many evidence exports and ledger verifications may
// run at once; past that they are refused with 503 unavailable and a
// Retry-After. n < 1 restores DefaultMaxExports. An export streams, so its
// memory is bounded; each one holds a read transaction and a reader of
// the store for as long as its client reads.
func (s *Service) SetMaxExports(n int) {
	if n < 1 {
		n = DefaultMaxExports
	}
	s.maxExports.Store(int64(n))
}

// exportSlot takes one of the export slots, or refuses.
func (s *Service) exportSlot() (func(), error) {
	if s.exportsNow.Add(1) > s.maxExports.Load() {
		s.exportsNow.Add(-1)
		return nil, &cairn.Error{Code: cairn.EUnavailable, RetryAfter: ExportRetryAfter,
			Message: fmt.Sprintf("%d evidence exports are running, the most this server runs at once; retry shortly", s.maxExports.Load())}
	}
	return func() { s.exportsNow.Add(-1) }, nil
}

// ExportTo writes a self-contained evidence bundle to the writer open
// returns: the selected ledger entries with proofs to a fresh signed
// checkpoint, the public key, the policy texts the decisions refer to, the
// texts of the workflow definitions the entries name, the payloads the
// entries commit to, and the job rows. Auditors (and admins) only.
//
// The bundle is written as it is read from the store, in one read
// transaction, so memory stays bounded whatever its size. open is called
// once, just before the first byte, when everything that can refuse the
// export has passed: an error returned before open was called is the
// export's answer; one returned after it means what was written is an
// incomplete bundle (the caller must not let it pass for a complete one).
func (s *Service) ExportTo(ctx context.Context, p cairn.Principal, f ExportFilter, open func() io.Writer) error {
	return s.export(ctx, p, f, func(bs *bundle.BundleStream) error {
		_, err := bs.WriteTo(open())
		return err
	})
}

// Export is ExportTo's bundle, held in memory.
func (s *Service) Export(ctx context.Context, p cairn.Principal, f ExportFilter) (*bundle.Bundle, error) {
	var b *bundle.Bundle
	err := s.export(ctx, p, f, func(bs *bundle.BundleStream) error {
		var err error
		b, err = bs.Collect()
		return err
	})
	return b, err
}

// export checks an export request, takes an export slot, and hands use the
// bundle stream of a consistent read at a fresh checkpoint. Its phases:
// the request is checked (validExport, consistencyInRange), a slot taken
// (exportSlot), and the bundle read from one snapshot (exportSnapshot).
func (s *Service) export(ctx context.Context, p cairn.Principal, f ExportFilter, use func(*bundle.BundleStream) error) error {
	if err := validExport(p, f); err != nil {
		return err
	}
	origin, key, err := s.LedgerKey(p.Tenant)
	if err != nil {
		return err
	}
	if err := s.consistencyInRange(ctx, p.Tenant, f.ConsistencyFrom); err != nil {
		return err
	}
	release, err := s.exportSlot()
	if err != nil {
		return err
	}
	defer release()
	// One read snapshot gives the ledger size, the checkpoint at that size
	// and the job rows, so they agree however fast the ledger grows (ADR
	// 0016, 0022).
	return s.Store.View(ctx, func(tx cairn.ReadTx) error {
		err := s.payloadAccess(tx, p)
		if f.hashesOnly = err != nil; err != nil && cairn.ErrorCode(err) != cairn.CodePayloadAccessDenied {
			return err
		}
		return s.exportSnapshot(ctx, tx, p.Tenant, origin, key, f, use)
	})
}

// validExport checks who asks for an export and the ids it names.
func validExport(p cairn.Principal, f ExportFilter) error {
	if !p.Has(cairn.RoleAuditor) {
		return cairn.Forbidden(cairn.EForbidden, "exporting evidence needs the auditor role")
	}
	if f.RunID != "" {
		if err := validID("run_id", f.RunID); err != nil {
			return err
		}
	}
	if f.JobID != "" {
		return validID("job_id", f.JobID)
	}
	return nil
}

// consistencyInRange refuses a consistency_from beyond the ledger's size.
func (s *Service) consistencyInRange(ctx context.Context, tenant string, froms []uint64) error {
	for _, from := range froms {
		var size uint64
		if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			var err error
			size, err = tx.LedgerSize(tenant)
			return err
		}); err != nil {
			return err
		}
		if from > size {
			return cairn.Invalid("consistency_from", "is beyond the ledger size %d", size)
		}
	}
	return nil
}

// exportSnapshot exports from one read snapshot: the checkpoint at the
// ledger's size is signed from it (signing is deterministic) and stored
// durably before the first byte, so the store knows every checkpoint
// handed out (ADR 0022); the bundle then streams from the same snapshot
// (ADR 0016).
func (s *Service) exportSnapshot(ctx context.Context, tx cairn.ReadTx, tenant, origin, key string, f ExportFilter, use func(*bundle.BundleStream) error) error {
	cp, fresh, err := s.exportCheckpoint(tx, tenant, origin)
	if err != nil {
		return err
	}
	src := &exportSource{ctx: ctx, tx: tx, tenant: tenant, size: cp.Size, f: f}
	bs, err := src.stream(origin, key, cp)
	if err != nil {
		return err
	}
	if fresh {
		if err := s.update(ctx, func(w cairn.Tx) error { return w.InsertCheckpoint(cp) }); err != nil {
			return err
		}
	}
	// Serve only durable data: this read began before the barrier.
	if err := s.durable(ctx); err != nil {
		return err
	}
	return use(bs)
}

// exportCheckpoint is the checkpoint at the ledger's size in tx: the
// latest stored one, or one signed now (fresh) when the ledger has grown
// since. A ledger shorter than its checkpoints, or empty, is refused.
func (s *Service) exportCheckpoint(tx cairn.ReadTx, tenant, origin string) (cp *cairn.Checkpoint, fresh bool, err error) {
	size, err := tx.LedgerSize(tenant)
	if err != nil {
		return nil, false, err
	}
	latest, err := tx.LatestCheckpoint(tenant)
	if err != nil {
		return nil, false, err
	}
	if err := truncated(tenant, size, latest); err != nil {
		return nil, false, err
	}
	if size == 0 {
		return nil, false, cairn.NotFound("the ledger of tenant %q is empty; there is nothing to checkpoint", tenant)
	}
	if latest != nil && latest.Size == size {
		return latest, false, nil
	}
	root, err := tree.RootAt(size, cairn.TenantNodes{Src: tx, Tenant: tenant})
	if err != nil {
		return nil, false, err
	}
	if cp, err = s.signCheckpoint(tenant, origin, size, root); err != nil {
		return nil, false, err
	}
	return cp, true, nil
}

// exportAsStored bundles the whole ledger as it is now against a
// checkpoint signed at its current size and not stored: for verifying a
// ledger that is shorter than its stored checkpoints (the export refuses
// it with ledger_truncated), so the report can say what is missing.
func (s *Service) exportAsStored(ctx context.Context, tenant string) (*bundle.Bundle, error) {
	origin, key, err := s.LedgerKey(tenant)
	if err != nil {
		return nil, err
	}
	var b *bundle.Bundle
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		size, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		root, err := tree.RootAt(size, cairn.TenantNodes{Src: tx, Tenant: tenant})
		if err != nil {
			return err
		}
		cp, err := s.signCheckpoint(tenant, origin, size, root)
		if err != nil {
			return err
		}
		src := &exportSource{ctx: ctx, tx: tx, tenant: tenant, size: size}
		bs, err := src.stream(origin, key, cp)
		if err != nil {
			return err
		}
		b, err = bs.Collect()
		return err
	})
	return b, err
}

// durable returns once everything committed so far is durable: a store
// read returns only then, so an empty one is the barrier.
func (s *Service) durable(ctx context.Context) error {
	return s.Store.View(ctx, func(cairn.ReadTx) error { return nil })
}

// exportSource reads what an export holds from one read transaction, one
// page or record at a time.
type exportSource struct {
	ctx    context.Context
	tx     cairn.ReadTx
	tenant string
	size   uint64 // the checkpoint's tree size
	f      ExportFilter
	// selected: a job or run export, of the entries at idx (ascending).
	selected bool
	idx      []uint64
	pruned   *prunedEntries // the compaction of the last pruned entry met
	// olderThanSince (timed exports): the pruned entries below it are
	// proved older than f.Since; see prunedInTime.
	olderThanSince uint64
}

func (f ExportFilter) timed() bool { return !f.Since.IsZero() || !f.Until.IsZero() }

// stream reads the entries once for what they span and refer to, computes
// the proofs that come before them, and returns the bundle stream whose
// lists read the store again as they are written.
func (x *exportSource) stream(origin, key string, cp *cairn.Checkpoint) (*bundle.BundleStream, error) {
	if err := x.selectEntries(); err != nil {
		return nil, err
	}
	if !x.f.Since.IsZero() {
		var err error
		if x.olderThanSince, err = x.tx.CheckpointSizeAt(x.tenant, x.f.Since); err != nil {
			return nil, err
		}
	}
	span, refs, err := x.scan()
	if err != nil {
		return nil, err
	}
	n := cairn.TenantNodes{Src: x.tx, Tenant: x.tenant}
	// The checkpoint carries the cosignatures stored with it (witnesses'
	// lines), which cairn verify --witness-key checks.
	head := bundle.BundleHead{Tenant: x.tenant, Origin: origin, PublicKey: key, Checkpoint: NoteWithCosignatures(cp),
		Nodes: n, Span: span, ConsistencyFrom: x.f.ConsistencyFrom}
	bs, size, wholeLog, err := x.open(head, span, n)
	if err != nil {
		return nil, err
	}
	bs.Entries = x.entries()
	if wholeLog && span.Count == 0 {
		bs.Entries = nil // as the whole-log export has always written it: null
	}
	if !wholeLog && span.Count > 0 && !span.Contiguous() {
		bs.InclusionProofs = bundle.InclusionProofSeq(x.indexes(), size, n)
	}
	x.attach(bs, refs)
	return bs, nil
}

// scan reads the entries once for the span of indexes they cover and what
// they refer to.
func (x *exportSource) scan() (bundle.EntrySpan, *bundle.Refs, error) {
	var span bundle.EntrySpan
	refs := bundle.NewRefCollector()
	for e, err := range x.entries() {
		if err != nil {
			return span, nil, err
		}
		if err := span.Add(e.Index); err != nil {
			return span, nil, err
		}
		if err := refs.Add(e); err != nil {
			return span, nil, err
		}
	}
	return span, refs.Refs(), nil
}

// open starts the bundle stream of head at the checkpoint's size. When the
// stored tree cannot prove what a whole export holds (entries are
// missing), it exports the whole log as a range without proofs instead
// (wholeLog): the verifier recomputes the root from the leaves and names
// what is missing.
func (x *exportSource) open(head bundle.BundleHead, span bundle.EntrySpan, n cairn.TenantNodes) (bs *bundle.BundleStream, size uint64, wholeLog bool, err error) {
	bs, size, err = bundle.NewBundleStream(head)
	whole := !x.selected && !x.f.timed()
	if err == nil && whole && span.Count > 0 && !span.Contiguous() {
		// Entries are missing from the stored log: prove each one, before
		// anything is written, as a complete export is proved.
		err = proveEach(x.indexes(), size, n)
	}
	if !whole || !errors.Is(err, tree.ErrNodeMissing) {
		return bs, size, false, err
	}
	head.Nodes, head.Span, head.ConsistencyFrom = nil, bundle.EntrySpan{}, nil
	if bs, size, err = bundle.NewBundleStream(head); err != nil {
		return nil, 0, true, err
	}
	bs.Range = &bundle.BundleRange{From: 0, To: size, Left: []string{}, Right: []string{}}
	return bs, size, true, nil
}

// proveEach computes the inclusion proof of each of idx at size, for the
// first error.
func proveEach(idx iter.Seq2[uint64, error], size uint64, n cairn.TenantNodes) error {
	for _, err := range bundle.InclusionProofSeq(idx, size, n) {
		if err != nil {
			return err
		}
	}
	return nil
}

// attach gives the bundle stream the lists that read the store as they are
// written: the policies, workflows, payloads and job rows the entries
// refer to. The export carries what is stored, as stored: what is missing
// or altered is for the verifier to report, not for the exporter to hide.
func (x *exportSource) attach(bs *bundle.BundleStream, r *bundle.Refs) {
	bs.Policies = x.policies(r.Snapshots)
	bs.Workflows = x.workflows(r.Workflows)
	bs.Payloads = x.payloads(r.Payloads)
	// Job rows are the jobs' state now (= as of the checkpoint). A time-range
	// export may hold only part of a job's evidence, against which the
	// current row cannot be checked: it carries no rows.
	if x.f.timed() {
		r.Jobs = nil
	}
	bs.Jobs = x.jobs(r.Jobs)
}

// selectEntries finds the ledger indexes of a job's or run's events (a
// run's pruned ones included: the ledger row still names the run).
func (x *exportSource) selectEntries() error {
	switch {
	case x.f.JobID != "":
		if _, err := x.tx.GetJob(x.tenant, x.f.JobID); err != nil {
			return prunedJobError(x.tx, x.tenant, x.f.JobID, err)
		}
		x.selected = true
		for after := int64(0); ; {
			evs, err := x.tx.ListEvents(x.tenant, cairn.EventFilter{JobID: x.f.JobID, Page: cairn.Page{Limit: 1000, After: after}})
			if err != nil {
				return err
			}
			x.addSelected(evs)
			if len(evs) < 1000 {
				break
			}
			after = int64(evs[len(evs)-1].Ledger.Index) + 1
		}
	case x.f.RunID != "":
		if _, err := x.tx.GetRun(x.tenant, x.f.RunID); err != nil {
			return err
		}
		x.selected = true
		for after := int64(0); ; {
			evs, err := x.tx.ListEvents(x.tenant, cairn.EventFilter{RunID: x.f.RunID, WithPruned: true, Page: cairn.Page{Limit: 1000, After: after}})
			if err != nil {
				return err
			}
			x.addSelected(evs)
			if len(evs) < 1000 {
				break
			}
			after = evs[len(evs)-1].Seq
		}
	}
	slices.Sort(x.idx)
	x.idx = slices.Compact(x.idx)
	return x.ctx.Err()
}

func (x *exportSource) addSelected(evs []*cairn.Event) {
	for _, e := range evs {
		if e.Ledger != nil && e.Ledger.Index < x.size {
			x.idx = append(x.idx, e.Ledger.Index)
		}
	}
}

// entries reads the exported entries in index order, a page at a time.
func (x *exportSource) entries() iter.Seq2[bundle.Entry, error] {
	return func(yield func(bundle.Entry, error) bool) {
		if x.selected {
			x.yieldSelected(yield)
			return
		}
		for from := uint64(0); from < x.size; {
			if err := x.ctx.Err(); err != nil {
				yield(bundle.Entry{}, err)
				return
			}
			es, err := x.tx.LedgerEntries(x.tenant, from, exportPage)
			if err != nil {
				yield(bundle.Entry{}, err)
				return
			}
			if len(es) == 0 || !x.yieldPage(es, yield) {
				return
			}
			from = es[len(es)-1].Index + 1
		}
	}
}

// exportEntry is a stored entry as exported.
func exportEntry(e *cairn.LedgerEntry) bundle.Entry {
	body := string(e.Body)
	return bundle.Entry{Index: e.Index, LeafHash: ledger.HashHex(ledger.LeafHash(e.Body)), Body: body}
}

// yieldSelected yields the selected entries (x.idx), each read on its own.
func (x *exportSource) yieldSelected(yield func(bundle.Entry, error) bool) {
	for _, i := range x.idx {
		es, err := x.tx.LedgerEntries(x.tenant, i, 1)
		if err == nil && (len(es) == 0 || es[0].Index != i) {
			err = fmt.Errorf("ledger entry %d of tenant %q is missing from the store", i, x.tenant)
		}
		if err != nil {
			yield(bundle.Entry{}, err)
			return
		}
		if !x.emit(es[0], yield) {
			return
		}
	}
}

// yieldPage yields the entries of a page that are in the export (below its
// size, in its time range); it reports whether to go on.
func (x *exportSource) yieldPage(es []*cairn.LedgerEntry, yield func(bundle.Entry, error) bool) bool {
	for _, e := range es {
		if e.Index >= x.size {
			return false
		}
		if e.Pruned && x.f.timed() {
			if x.prunedInTime(e.Index) && !x.emit(e, yield) {
				return false
			}
			continue
		}
		in, err := x.inTime(e.Body)
		if err != nil {
			yield(bundle.Entry{}, err)
			return false
		}
		if in && !x.emit(e, yield) {
			return false
		}
	}
	return true
}

// emit yields one stored entry as exported; a pruned entry is listed by
// its leaf hash with the compaction that pruned it (prunedEntries).
func (x *exportSource) emit(e *cairn.LedgerEntry, yield func(bundle.Entry, error) bool) bool {
	if !e.Pruned {
		return yield(exportEntry(e), nil)
	}
	if x.pruned == nil {
		x.pruned = &prunedEntries{tx: x.tx, tenant: x.tenant}
	}
	pe, err := x.pruned.entry(e)
	return yield(pe, err) && err == nil
}

// prunedInTime reports whether a pruned entry may fall in the filter's
// time range. Its time is gone with its body, so what is kept is what may
// be in range: every pruned entry but those below the latest checkpoint
// signed at or before Since, which were appended (and so timestamped)
// before it. Nothing bounds a pruned entry's time from below, so one past
// Until may be listed too (docs/evidence.md §2.7).
func (x *exportSource) prunedInTime(idx uint64) bool {
	return idx >= x.olderThanSince
}

// inTime reports whether an entry's event falls in the filter's time range.
func (x *exportSource) inTime(body []byte) (bool, error) {
	if !x.f.timed() {
		return true, nil
	}
	var env struct {
		Event struct {
			Timestamp time.Time `json:"timestamp"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return false, err
	}
	ts := env.Event.Timestamp
	return (x.f.Since.IsZero() || !ts.Before(x.f.Since)) && (x.f.Until.IsZero() || ts.Before(x.f.Until)), nil
}

// indexes are the exported entries' indexes, in order.
func (x *exportSource) indexes() iter.Seq2[uint64, error] {
	return func(yield func(uint64, error) bool) {
		for e, err := range x.entries() {
			if !yield(e.Index, err) || err != nil {
				return
			}
		}
	}
}

// records reads one record per id, in the ids' (sorted) order; get
// returns ok false for a record to leave out.
func records[T any](ctx context.Context, ids []string, get func(id string) (T, bool, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				yield(zero, err)
				return
			}
			v, ok, err := get(id)
			if err != nil {
				yield(zero, err)
				return
			}
			if ok && !yield(v, nil) {
				return
			}
		}
	}
}

func (x *exportSource) policies(ids []string) iter.Seq2[bundle.Policy, error] {
	return records(x.ctx, ids, func(id string) (bundle.Policy, bool, error) {
		snap, err := x.tx.GetSnapshot(id)
		if cairn.IsNotFound(err) {
			return bundle.Policy{}, false, nil
		}
		if err != nil {
			return bundle.Policy{}, false, err
		}
		return bundle.Policy{Snapshot: snap.ID, Text: snap.Text}, true, nil
	})
}

// workflows: the exact registered texts; one missing from the store is
// left out, like a policy (the verifier reports it).
func (x *exportSource) workflows(ids []string) iter.Seq2[bundle.WorkflowText, error] {
	return records(x.ctx, ids, func(id string) (bundle.WorkflowText, bool, error) {
		w, err := x.tx.GetWorkflow(x.tenant, id)
		if cairn.IsNotFound(err) {
			return bundle.WorkflowText{}, false, nil
		}
		if err != nil {
			return bundle.WorkflowText{}, false, err
		}
		return bundle.WorkflowText{WorkflowID: w.WorkflowID, Name: w.Name, Version: uint64(max(w.Version, 0)), Text: w.Definition}, true, nil
	})
}

func (x *exportSource) payloads(ptrs []string) iter.Seq2[bundle.Payload, error] {
	return records(x.ctx, ptrs, func(ptr string) (bundle.Payload, bool, error) {
		if x.f.hashesOnly {
			return hashOnlyInBundle(x.tx, x.tenant, ptr)
		}
		pl, err := x.tx.GetPayload(x.tenant, ptr)
		if cairn.IsNotFound(err) {
			return bundle.Payload{Ptr: ptr, Withheld: true, Reason: WithheldMissing}, true, nil
		}
		if cairn.ErrorCode(err) == cairn.CodeErased {
			return erasedInBundle(x.tx, x.tenant, ptr)
		}
		if errors.Is(err, payloadkey.ErrOpen) {
			return undecryptableInBundle(x.tx, x.tenant, ptr)
		}
		if err != nil {
			return bundle.Payload{}, false, err
		}
		return bundle.Payload{Ptr: pl.Ptr, SHA256: pl.SHA256, Data: pl.Data}, true, nil
	})
}

func (x *exportSource) jobs(ids []string) iter.Seq2[bundle.JobRow, error] {
	return records(x.ctx, ids, func(id string) (bundle.JobRow, bool, error) {
		j, err := x.tx.GetJob(x.tenant, id)
		if cairn.IsNotFound(err) {
			return bundle.JobRow{}, false, nil
		}
		if err != nil {
			return bundle.JobRow{}, false, err
		}
		row := bundle.JobRow{JobID: j.JobID, JobHash: j.JobHash, State: j.State, Decision: j.Decision,
			PolicyRuleID: string(j.PolicyRuleID), PolicySnapshot: string(j.PolicySnapshot),
			ContextPtr: j.ContextPtr, ContextSHA256: j.ContextSHA256, ResultPtr: string(j.ResultPtr), ResultSHA256: string(j.ResultSHA256)}
		if j.OutputSafety != nil {
			row.OutputSafety = j.OutputSafety.Decision
		}
		if a, err := x.tx.GetApproval(x.tenant, id); err == nil {
			row.Resolution, row.ResolvedBy = string(a.Resolution), string(a.ResolvedBy)
		} else if !cairn.IsNotFound(err) {
			return bundle.JobRow{}, false, err
		}
		return row, true, nil
	})
}

// VerifyLedger exports the tenant's whole ledger and verifies it as an
// outside auditor would, plus what only the server can check: every stored
// checkpoint (and witness cosignature) must be consistent with the tree as
// it is now. trusted, when given, is a checkpoint note the caller kept.
func (s *Service) VerifyLedger(ctx context.Context, p cairn.Principal, trusted []byte) (*verify.Report, error) {
	if !p.Has(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "verifying the ledger needs the auditor role")
	}
	// Checkpoints stored before the export are checked against it.
	stored, err := s.storedCheckpoints(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	b, err := s.Export(ctx, p, ExportFilter{})
	if cairn.ErrorCode(err) == cairn.CodeLedgerTruncated {
		// Report it: the stored checkpoints below are checked against
		// the ledger as it is, and the longer ones named as truncated.
		b, err = s.exportAsStored(ctx, p.Tenant)
	}
	if err != nil {
		return nil, err
	}
	_, key, err := s.LedgerKey(p.Tenant)
	if err != nil {
		return nil, err
	}
	// A failed verification is the report's content, not an error of this call.
	rep, verr := verify.Bundle(b, verify.Options{TrustedKey: key, TrustedCheckpoint: trusted})
	if rep == nil {
		return nil, verr
	}
	// Stored checkpoints: each must be signed by the log and consistent with the tree now.
	head, err := tree.ParseCheckpoint([]byte(b.Checkpoint))
	if err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		logV, err := tree.NewVerifier(key)
		if err != nil {
			return err
		}
		nodes := cairn.TenantNodes{Src: tx, Tenant: p.Tenant}
		for _, c := range stored {
			checkStoredCheckpoint(rep, c, logV, head, nodes)
		}
		return nil
	})
	return rep, err
}

// storedCheckpoints lists every stored checkpoint of the tenant.
func (s *Service) storedCheckpoints(ctx context.Context, tenant string) ([]*cairn.Checkpoint, error) {
	var stored []*cairn.Checkpoint
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		for after := int64(0); ; {
			page, err := tx.ListCheckpoints(tenant, cairn.Page{Limit: 1000, After: after})
			if err != nil {
				return err
			}
			stored = append(stored, page...)
			if len(page) < 1000 || page[len(page)-1].Size == 0 {
				return nil
			}
			after = int64(page[len(page)-1].Size)
		}
	})
	return stored, err
}

// checkStoredCheckpoint adds to rep what is wrong with the stored
// checkpoint c: not signed by the log, longer than the tree head, or not
// consistent with it.
func checkStoredCheckpoint(rep *verify.Report, c *cairn.Checkpoint, logV sumnote.Verifier, head *tree.Checkpoint, nodes cairn.TenantNodes) {
	cp, err := tree.OpenCheckpoint([]byte(c.Note), logV)
	if err != nil {
		addProblem(rep, verify.ErrSignature, fmt.Sprintf("stored checkpoint %d", c.Size), err.Error())
		return
	}
	if cp.Size > head.Size {
		addProblem(rep, verify.ErrTruncated, fmt.Sprintf("stored checkpoint %d", c.Size), fmt.Sprintf("the log had %d entries when this checkpoint was signed and has %d now", cp.Size, head.Size))
		return
	}
	if cp.Size == 0 {
		return
	}
	pr, err := tree.ConsistencyProof(cp.Size, head.Size, nodes)
	if err == nil {
		err = tree.VerifyConsistency(cp.Size, head.Size, pr, cp.Root, head.Root)
	}
	if err != nil || hex.EncodeToString(cp.Root[:]) != c.RootHash {
		msg := "the tree no longer extends this checkpoint"
		if err != nil {
			msg += ": " + err.Error()
		}
		addProblem(rep, verify.ErrConsistency, fmt.Sprintf("stored checkpoint %d", c.Size), msg)
	}
}

func addProblem(rep *verify.Report, kind error, record, detail string) {
	rep.OK = false
	rep.Problems = append(rep.Problems, &verify.Error{Record: record, Index: -1, Kind: kind, Detail: detail})
}
