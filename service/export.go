package service

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/verify"
)

// ExportFilter selects what an evidence export contains. With no member set
// the export is the tenant's whole ledger.
type ExportFilter struct {
	RunID, JobID    string
	Since, Until    time.Time
	ConsistencyFrom []uint64 // older tree sizes to prove consistency from
}

// Export assembles a self-contained evidence bundle: the selected ledger
// entries with proofs to a fresh signed checkpoint, the public key, the
// policy texts the decisions refer to, the texts of the workflow
// definitions the entries name, the payloads the entries commit to, and the
// job rows. Auditors (and admins) only.
func (s *Service) Export(ctx context.Context, p cairn.Principal, f ExportFilter) (*ledger.Bundle, error) {
	if !p.Has(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "exporting evidence needs the auditor role")
	}
	if f.RunID != "" {
		if err := validID("run_id", f.RunID); err != nil {
			return nil, err
		}
	}
	if f.JobID != "" {
		if err := validID("job_id", f.JobID); err != nil {
			return nil, err
		}
	}
	origin, key, err := s.LedgerKey(p.Tenant)
	if err != nil {
		return nil, err
	}
	for _, from := range f.ConsistencyFrom {
		var size uint64
		if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			var err error
			size, err = tx.LedgerSize(p.Tenant)
			return err
		}); err != nil {
			return nil, err
		}
		if from > size {
			return nil, cairn.Invalid("consistency_from", "is beyond the ledger size %d", size)
		}
	}
	// One read snapshot gives the ledger size, the checkpoint at that size
	// and the job rows, so they agree however fast the ledger grows. The
	// checkpoint is signed from that snapshot (signing is deterministic)
	// and stored durably before the export is answered, so the store knows
	// every checkpoint handed out (ADR 0022).
	var b *ledger.Bundle
	var fresh *cairn.Checkpoint
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		size, err := tx.LedgerSize(p.Tenant)
		if err != nil {
			return err
		}
		latest, err := tx.LatestCheckpoint(p.Tenant)
		if err != nil {
			return err
		}
		if err := truncated(p.Tenant, size, latest); err != nil {
			return err
		}
		if size == 0 {
			return cairn.NotFound("the ledger of tenant %q is empty; there is nothing to checkpoint", p.Tenant)
		}
		cp := latest
		if cp == nil || cp.Size != size {
			root, err := ledger.RootAt(size, nodes{tx, p.Tenant})
			if err != nil {
				return err
			}
			if cp, err = s.signCheckpoint(p.Tenant, origin, size, root); err != nil {
				return err
			}
			fresh = cp
		}
		b, err = s.bundleAt(tx, p.Tenant, cp, f, origin, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	if fresh != nil {
		if err := s.Store.Update(ctx, func(tx cairn.Tx) error { return tx.InsertCheckpoint(fresh) }); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// bundleAt builds the export bundle of f against checkpoint cp.
func (s *Service) bundleAt(tx cairn.ReadTx, tenant string, cp *cairn.Checkpoint, f ExportFilter, origin, key string) (*ledger.Bundle, error) {
	in, err := s.exportInput(tx, tenant, cp, f)
	if err != nil {
		return nil, err
	}
	in.Origin, in.PublicKey = origin, key
	b, err := ledger.BuildBundle(*in)
	if errors.Is(err, ledger.ErrNodeMissing) && f.RunID == "" && f.JobID == "" && f.Since.IsZero() && f.Until.IsZero() {
		// The stored tree cannot prove what is stored (entries
		// are missing). Export the whole log as a range without
		// proofs: the verifier recomputes the root from the leaves
		// and names what is missing.
		b, err = wholeLog(in, cp.Size)
	}
	return b, err
}

// exportAsStored bundles the whole ledger as it is now against a
// checkpoint signed at its current size and not stored: for verifying a
// ledger that is shorter than its stored checkpoints (the export refuses
// it with ledger_truncated), so the report can say what is missing.
func (s *Service) exportAsStored(ctx context.Context, tenant string) (*ledger.Bundle, error) {
	origin, key, err := s.LedgerKey(tenant)
	if err != nil {
		return nil, err
	}
	var b *ledger.Bundle
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		size, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		root, err := ledger.RootAt(size, nodes{tx, tenant})
		if err != nil {
			return err
		}
		cp, err := s.signCheckpoint(tenant, origin, size, root)
		if err != nil {
			return err
		}
		b, err = s.bundleAt(tx, tenant, cp, ExportFilter{}, origin, key)
		return err
	})
	return b, err
}

// wholeLog bundles entries claimed to be the whole log [0, size) with no
// proof hashes: a complete range needs none.
func wholeLog(in *ledger.BundleInput, size uint64) (*ledger.Bundle, error) {
	b := &ledger.Bundle{Format: ledger.BundleFormat, Tenant: in.Tenant, Origin: in.Origin, PublicKey: in.PublicKey,
		Checkpoint: string(in.Checkpoint), Range: &ledger.BundleRange{From: 0, To: size, Left: []string{}, Right: []string{}},
		Entries: in.Entries, Policies: in.Policies, Workflows: in.Workflows, Payloads: in.Payloads, Jobs: in.Jobs}
	for i := range b.Entries {
		b.Entries[i].LeafHash = ledger.HashHex(ledger.LeafHash([]byte(b.Entries[i].Body)))
	}
	if b.Policies == nil {
		b.Policies = []ledger.Policy{}
	}
	if b.Workflows == nil {
		b.Workflows = []ledger.WorkflowText{}
	}
	if b.Payloads == nil {
		b.Payloads = []ledger.Payload{}
	}
	if b.Jobs == nil {
		b.Jobs = []ledger.JobRow{}
	}
	return b, nil
}

func (s *Service) exportInput(tx cairn.ReadTx, tenant string, cp *cairn.Checkpoint, f ExportFilter) (*ledger.BundleInput, error) {
	var idx []uint64
	add := func(evs []*cairn.Event) {
		for _, e := range evs {
			if e.Ledger.Index < cp.Size {
				idx = append(idx, e.Ledger.Index)
			}
		}
	}
	switch {
	case f.JobID != "":
		if _, err := tx.GetJob(tenant, f.JobID); err != nil {
			return nil, err
		}
		evs, err := tx.ListEvents(tenant, cairn.EventFilter{JobID: f.JobID, Page: cairn.Page{Limit: 1 << 20}})
		if err != nil {
			return nil, err
		}
		add(evs)
	case f.RunID != "":
		if _, err := tx.GetRun(tenant, f.RunID); err != nil {
			return nil, err
		}
		evs, err := tx.ListEvents(tenant, cairn.EventFilter{RunID: f.RunID, Page: cairn.Page{Limit: 1 << 20}})
		if err != nil {
			return nil, err
		}
		add(evs)
	}
	var entries []ledger.Entry
	if idx != nil {
		for _, i := range idx {
			es, err := tx.LedgerEntries(tenant, i, 1)
			if err != nil {
				return nil, err
			}
			entries = append(entries, ledger.Entry{Index: es[0].Index, Body: string(es[0].Body)})
		}
	} else {
		for from := uint64(0); from < cp.Size; {
			es, err := tx.LedgerEntries(tenant, from, 10000)
			if err != nil {
				return nil, err
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				if e.Index >= cp.Size {
					break
				}
				if !f.Since.IsZero() || !f.Until.IsZero() {
					var env struct {
						Event struct {
							Timestamp time.Time `json:"timestamp"`
						} `json:"event"`
					}
					if err := json.Unmarshal(e.Body, &env); err != nil {
						return nil, err
					}
					ts := env.Event.Timestamp
					if (!f.Since.IsZero() && ts.Before(f.Since)) || (!f.Until.IsZero() && !ts.Before(f.Until)) {
						continue
					}
				}
				entries = append(entries, ledger.Entry{Index: e.Index, Body: string(e.Body)})
			}
			from = es[len(es)-1].Index + 1
		}
	}
	refs, err := ledger.CollectRefs(entries)
	if err != nil {
		return nil, err
	}
	in := &ledger.BundleInput{Tenant: tenant, Checkpoint: []byte(cp.Note), Nodes: nodes{tx, tenant}, Entries: entries, ConsistencyFrom: f.ConsistencyFrom}
	// The export carries what is stored, as stored: what is missing or
	// altered is for the verifier to report, not for the exporter to hide.
	for _, id := range refs.Snapshots {
		snap, err := tx.GetSnapshot(id)
		if cairn.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		in.Policies = append(in.Policies, ledger.Policy{Snapshot: snap.ID, Text: snap.Text})
	}
	// Workflow definitions: the exact registered text; one missing from the
	// store is left out, like a policy (the verifier reports it).
	for _, id := range refs.Workflows {
		w, err := tx.GetWorkflow(tenant, id)
		if cairn.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		in.Workflows = append(in.Workflows, ledger.WorkflowText{WorkflowID: w.WorkflowID, Name: w.Name, Version: uint64(max(w.Version, 0)), Text: w.Definition})
	}
	for _, ptr := range refs.Payloads {
		pl, err := tx.GetPayload(tenant, ptr)
		if cairn.IsNotFound(err) {
			in.Payloads = append(in.Payloads, ledger.Payload{Ptr: ptr, Withheld: true, Reason: "missing from the store"})
			continue
		}
		if err != nil {
			return nil, err
		}
		in.Payloads = append(in.Payloads, ledger.Payload{Ptr: pl.Ptr, SHA256: pl.SHA256, Data: pl.Data})
	}
	// Job rows are the jobs' state now (= as of the checkpoint). A time-range
	// export may hold only part of a job's evidence, against which the
	// current row cannot be checked: it carries no rows.
	if !f.Since.IsZero() || !f.Until.IsZero() {
		refs.Jobs = nil
	}
	for _, id := range refs.Jobs {
		j, err := tx.GetJob(tenant, id)
		if cairn.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		row := ledger.JobRow{JobID: j.JobID, JobHash: j.JobHash, State: j.State, Decision: j.Decision,
			PolicyRuleID: string(j.PolicyRuleID), PolicySnapshot: string(j.PolicySnapshot),
			ContextPtr: j.ContextPtr, ContextSHA256: j.ContextSHA256, ResultPtr: string(j.ResultPtr), ResultSHA256: string(j.ResultSHA256)}
		if j.OutputSafety != nil {
			row.OutputSafety = j.OutputSafety.Decision
		}
		if a, err := tx.GetApproval(tenant, id); err == nil {
			row.Resolution, row.ResolvedBy = string(a.Resolution), string(a.ResolvedBy)
		} else if !cairn.IsNotFound(err) {
			return nil, err
		}
		in.Jobs = append(in.Jobs, row)
	}
	return in, nil
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
	var stored []*cairn.Checkpoint
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		for after := int64(0); ; {
			page, err := tx.ListCheckpoints(p.Tenant, cairn.Page{Limit: 1000, After: after})
			if err != nil {
				return err
			}
			stored = append(stored, page...)
			if len(page) < 1000 || page[len(page)-1].Size == 0 {
				return nil
			}
			after = int64(page[len(page)-1].Size)
		}
	}); err != nil {
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
	head, err := ledger.ParseCheckpoint([]byte(b.Checkpoint))
	if err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		logV, err := ledger.NewVerifier(key)
		if err != nil {
			return err
		}
		for _, c := range stored {
			cp, err := ledger.OpenCheckpoint([]byte(c.Note), logV)
			if err != nil {
				addProblem(rep, verify.ErrSignature, fmt.Sprintf("stored checkpoint %d", c.Size), err.Error())
				continue
			}
			if cp.Size > head.Size {
				addProblem(rep, verify.ErrTruncated, fmt.Sprintf("stored checkpoint %d", c.Size), fmt.Sprintf("the log had %d entries when this checkpoint was signed and has %d now", cp.Size, head.Size))
				continue
			}
			if cp.Size == 0 {
				continue
			}
			pr, err := ledger.ConsistencyProof(cp.Size, head.Size, nodes{tx, p.Tenant})
			if err == nil {
				err = ledger.VerifyConsistency(cp.Size, head.Size, pr, cp.Root, head.Root)
			}
			if err != nil || hex.EncodeToString(cp.Root[:]) != c.RootHash {
				msg := "the tree no longer extends this checkpoint"
				if err != nil {
					msg += ": " + err.Error()
				}
				addProblem(rep, verify.ErrConsistency, fmt.Sprintf("stored checkpoint %d", c.Size), msg)
			}
		}
		return nil
	})
	return rep, err
}

func addProblem(rep *verify.Report, kind error, record, detail string) {
	rep.OK = false
	rep.Problems = append(rep.Problems, &verify.Error{Record: record, Index: -1, Kind: kind, Detail: detail})
}
