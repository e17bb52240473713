package service

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/transparency-dev/merkle/compact"
	merkleproof "github.com/transparency-dev/merkle/proof"
	sumnote "golang.org/x/mod/sumdb/note"
)

// DefaultOriginPrefix names checkpoint origins: "<prefix>/<tenant>".
const DefaultOriginPrefix = "cairn.local"

// CheckpointEvery is how often a checkpoint is issued while a ledger grows.
const CheckpointEvery = time.Second

// SetLedgerKey installs the Ed25519 key that signs checkpoints.
func (s *Service) SetLedgerKey(k *tree.Key, originPrefix string) {
	if originPrefix == "" {
		originPrefix = DefaultOriginPrefix
	}
	s.ledgerKey = k
	s.originPrefix = originPrefix
}

func (s *Service) origin(tenant string) (string, error) {
	return tree.Origin(s.originPrefix, tenant)
}

// LedgerKey is the note verifier key checkpoints of tenant are signed with.
func (s *Service) LedgerKey(tenant string) (origin, verifierKey string, err error) {
	if s.ledgerKey == nil {
		return "", "", cairn.Errorf(cairn.EUnavailable, "no ledger signing key is configured")
	}
	origin, err = s.origin(tenant)
	if err != nil {
		return "", "", err
	}
	vk, err := s.ledgerKey.VerifierKeyFor(origin)
	return origin, vk, err
}

// IssueCheckpoint signs and stores a checkpoint of the tenant's ledger at
// its current size, unless the latest checkpoint already has that size.
func (s *Service) IssueCheckpoint(ctx context.Context, tenant string) (*cairn.Checkpoint, error) {
	return s.issueCheckpoint(ctx, tenant, 0, true)
}

// issueCheckpoint signs a checkpoint of the tenant's ledger at size (0: its
// current size) and stores it. The checkpoint is a pure function of the
// durable ledger (origin, size and root, signed with deterministic Ed25519),
// so with durable false it is stored in the background: a crash that loses
// it loses nothing, because signing the same size again reproduces the same
// bytes (CheckpointAt does so on demand).
func (s *Service) issueCheckpoint(ctx context.Context, tenant string, size uint64, durable bool) (*cairn.Checkpoint, error) {
	if s.ledgerKey == nil {
		return nil, cairn.Errorf(cairn.EUnavailable, "no ledger signing key is configured")
	}
	origin, err := s.origin(tenant)
	if err != nil {
		return nil, err
	}
	var latest *cairn.Checkpoint
	var root [32]byte
	historic := size != 0
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		have, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		if historic {
			if size > have {
				return cairn.NotFound("the ledger of tenant %q has %d entries; no checkpoint at size %d", tenant, have, size)
			}
		} else {
			if latest, err = tx.LatestCheckpoint(tenant); err != nil {
				return err
			}
			size = have
			if err := truncated(tenant, have, latest); err != nil {
				return err
			}
			if latest != nil && latest.Size >= size {
				return nil
			}
		}
		root, err = tree.RootAt(size, cairn.TenantNodes{Src: tx, Tenant: tenant})
		return err
	})
	if err != nil {
		return nil, err
	}
	if latest != nil && latest.Size >= size {
		return latest, nil
	}
	if size == 0 {
		return nil, cairn.NotFound("the ledger of tenant %q is empty; there is nothing to checkpoint", tenant)
	}
	return s.signAndStore(ctx, tenant, origin, size, root, durable)
}

// signAndStore signs the checkpoint of tenant's ledger at size with root
// and stores it, waiting for it to be durable or not (see issueCheckpoint).
func (s *Service) signAndStore(ctx context.Context, tenant, origin string, size uint64, root [32]byte, durable bool) (*cairn.Checkpoint, error) {
	c, err := s.signCheckpoint(tenant, origin, size, root)
	if err != nil {
		return nil, err
	}
	insert := func(ctx context.Context) error {
		return s.update(ctx, func(tx cairn.Tx) error { return tx.InsertCheckpoint(c) })
	}
	if durable {
		if err := insert(ctx); err != nil {
			return nil, err
		}
		return c, nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := insert(context.Background()); err != nil {
			s.Log.Warn("storing a checkpoint failed; it is reissued on demand", "tenant", tenant, "size", size, "err", err)
		}
	}()
	return c, nil
}

// checkpointLoop issues a checkpoint for every tenant whose ledger grew.
func (s *Service) checkpointLoop() {
	defer s.wg.Done()
	t := time.NewTicker(CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		var tenants []string
		ctx := context.Background()
		if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			var err error
			tenants, err = tx.Tenants()
			return err
		}); err != nil {
			s.Log.Error("checkpoint: list tenants", "err", err)
			continue
		}
		damaged := s.Integrity() != nil
		for _, tenant := range tenants {
			_, err := s.IssueCheckpoint(ctx, tenant)
			switch {
			case err == nil, cairn.IsNotFound(err):
			case cairn.ErrorCode(err) == cairn.CodeLedgerTruncated:
				damaged = true // logged once by CheckIntegrity
			default:
				s.Log.Error("checkpoint failed", "tenant", tenant, "err", err)
			}
		}
		if damaged {
			// Found now, or found before: look again (it may have been restored).
			s.CheckIntegrity(ctx)
		}
	}
}

// coveringCheckpoint returns the latest checkpoint, issuing one when it
// does not cover index.
func (s *Service) coveringCheckpoint(ctx context.Context, tenant string, index uint64) (*cairn.Checkpoint, error) {
	var latest *cairn.Checkpoint
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		latest, err = tx.LatestCheckpoint(tenant)
		return err
	}); err != nil {
		return nil, err
	}
	if latest != nil && latest.Size > index {
		return latest, nil
	}
	// A receipt needs the signed checkpoint, not its row: it is stored in
	// the background (see issueCheckpoint).
	return s.issueCheckpoint(ctx, tenant, 0, false)
}

// Checkpoint returns the latest checkpoint of the caller's tenant with its
// cosignatures; fresh issues one first if the ledger grew.
func (s *Service) Checkpoint(ctx context.Context, p cairn.Principal, fresh bool) (*cairn.Checkpoint, error) {
	if fresh {
		if _, err := s.IssueCheckpoint(ctx, p.Tenant); err != nil {
			return nil, err
		}
	}
	var c *cairn.Checkpoint
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		c, err = tx.LatestCheckpoint(p.Tenant)
		return err
	})
	if err == nil && c == nil {
		return s.IssueCheckpoint(ctx, p.Tenant)
	}
	return c, err
}

// CheckpointAt returns the checkpoint of a given tree size.
// One that was handed out but not stored (see issueCheckpoint) is signed
// again, byte for byte the same, and stored.
func (s *Service) CheckpointAt(ctx context.Context, p cairn.Principal, size uint64) (*cairn.Checkpoint, error) {
	var c *cairn.Checkpoint
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		c, err = tx.GetCheckpoint(p.Tenant, size)
		return err
	})
	if cairn.IsNotFound(err) && size > 0 && s.ledgerKey != nil {
		if _, cerr := s.issueCheckpoint(ctx, p.Tenant, size, true); cerr == nil {
			err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
				var err error
				c, err = tx.GetCheckpoint(p.Tenant, size)
				return err
			})
		}
	}
	return c, err
}

// Checkpoints pages the checkpoint history, newest first.
func (s *Service) Checkpoints(ctx context.Context, p cairn.Principal, page cairn.Page) ([]*cairn.Checkpoint, error) {
	var out []*cairn.Checkpoint
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListCheckpoints(p.Tenant, page)
		return err
	})
	return out, err
}

// Proof is an inclusion proof (hex hashes, leaf to root).
type Proof struct {
	Index    uint64   `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	Size     uint64   `json:"size"`
	RootHash string   `json:"root_hash"`
	Hashes   []string `json:"hashes"`
}

// Consistency is a consistency proof from tree size From to Size.
type Consistency struct {
	From     uint64   `json:"from"`
	Size     uint64   `json:"size"`
	RootHash string   `json:"root_hash"`
	Hashes   []string `json:"hashes"`
}

func hexes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// InclusionProof proves entry index is in the tenant's tree of the given size.
func (s *Service) InclusionProof(ctx context.Context, p cairn.Principal, index, size uint64) (*Proof, error) {
	var out *Proof
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = inclusion(tx, p.Tenant, index, size)
		return err
	})
	return out, err
}

func inclusion(tx cairn.ReadTx, tenant string, index, size uint64) (*Proof, error) {
	n, err := tx.LedgerSize(tenant)
	if err != nil {
		return nil, err
	}
	if size == 0 || size > n {
		return nil, cairn.Invalid("size", "must be from 1 to the ledger size %d", n)
	}
	if index >= size {
		return nil, cairn.Invalid("index", "must be below size %d", size)
	}
	r := cairn.TenantNodes{Src: tx, Tenant: tenant}
	hs, err := tree.InclusionProof(index, size, r)
	if err != nil {
		return nil, err
	}
	root, err := tree.RootAt(size, r)
	if err != nil {
		return nil, err
	}
	leaf, err := r.Nodes([]compact.NodeID{compact.NewNodeID(0, index)})
	if err != nil {
		return nil, err
	}
	return &Proof{Index: index, LeafHash: hex.EncodeToString(leaf[0][:]), Size: size, RootHash: hex.EncodeToString(root[:]), Hashes: hexes(hs)}, nil
}

// ConsistencyProof proves the tree of size to extends the tree of size from.
func (s *Service) ConsistencyProof(ctx context.Context, p cairn.Principal, from, to uint64) (*Consistency, error) {
	var out *Consistency
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		n, err := tx.LedgerSize(p.Tenant)
		if err != nil {
			return err
		}
		if to == 0 || to > n {
			return cairn.Invalid("to", "must be from 1 to the ledger size %d", n)
		}
		if from == 0 || from > to {
			return cairn.Invalid("from", "must be from 1 to %d", to)
		}
		r := cairn.TenantNodes{Src: tx, Tenant: p.Tenant}
		hs, err := tree.ConsistencyProof(from, to, r)
		if err != nil {
			return err
		}
		root, err := tree.RootAt(to, r)
		if err != nil {
			return err
		}
		out = &Consistency{From: from, Size: to, RootHash: hex.EncodeToString(root[:]), Hashes: hexes(hs)}
		return nil
	})
	return out, err
}

// MaxCosignatureSkew is how far in the future a cosignature/v1 timestamp
// may be (witness clock skew); a later one is refused.
const MaxCosignatureSkew = 10 * time.Minute

// Cosign stores a witness's cosignature of one of the tenant's checkpoints.
// The note must be the checkpoint text signed by the log key and by the
// witness key given: a C2SP cosignature/v1 key (type 0x04 Ed25519 or 0x06
// ML-DSA-44; its signature's timestamp may not be more than
// MaxCosignatureSkew in the future) or a plain Ed25519 note key (type 0x01,
// earlier cairn witnesses).
func (s *Service) Cosign(ctx context.Context, p cairn.Principal, witnessKey string, note []byte) (*cairn.Checkpoint, error) {
	if !p.HasAny(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "submitting cosignatures needs the auditor role")
	}
	_, logKey, err := s.LedgerKey(p.Tenant)
	if err != nil {
		return nil, err
	}
	logV, err := tree.NewVerifier(logKey)
	if err != nil {
		return nil, err
	}
	wv, err := tree.NewWitnessVerifier(witnessKey)
	if err != nil {
		return nil, cairn.Invalid("witness_key", "is not a witness verifier key: %v", err)
	}
	cp, err := tree.OpenCheckpoint(note, logV, wv)
	if err != nil {
		return nil, cairn.Invalid("note", "is not this log's checkpoint cosigned by the witness key: %v", err)
	}
	stamp, err := s.witnessStamp(note, logV, wv)
	if err != nil {
		return nil, err
	}
	origin, _ := s.origin(p.Tenant)
	if cp.Origin != origin {
		return nil, cairn.Invalid("note", "origin %q is not this tenant's %q", cp.Origin, origin)
	}
	if !stamp.IsZero() {
		// Read outside the write transaction: the writer is shared.
		if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			return checkCosignatureOrder(tx, p.Tenant, wv, cp.Size, stamp)
		}); err != nil {
			return nil, err
		}
	}
	var stored *cairn.Checkpoint
	err = s.update(ctx, func(tx cairn.Tx) error {
		c, err := tx.GetCheckpoint(p.Tenant, cp.Size)
		if err != nil {
			return err
		}
		if c.RootHash != hex.EncodeToString(cp.Root[:]) {
			return cairn.Conflict(cairn.EConflict, "the cosigned root differs from the stored checkpoint of size %d", cp.Size)
		}
		if err := tx.InsertCosignature(p.Tenant, cp.Size, &cairn.Cosignature{Witness: wv.Name(), Note: string(note), CreatedAt: s.now()}); err != nil {
			return err
		}
		stored = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.CheckpointAt(ctx, p, stored.Size)
}

// witnessStamp checks that the note carries the witness's own signature,
// not only the log's, and returns its cosignature/v1 timestamp, if any
// (zero otherwise), which may not be more than MaxCosignatureSkew ahead.
func (s *Service) witnessStamp(note []byte, logV, wv sumnote.Verifier) (time.Time, error) {
	n, err := sumnote.Open(note, sumnote.VerifierList(logV, wv))
	if err != nil {
		return time.Time{}, cairn.Invalid("note", "signatures do not verify: %v", err)
	}
	signed := false
	var stamp time.Time
	for _, sig := range n.Sigs {
		if sig.Name != wv.Name() || sig.Hash != wv.KeyHash() {
			continue
		}
		signed = true
		ts, ok, err := tree.CosignatureTime(wv, sig)
		if err != nil {
			return time.Time{}, cairn.Invalid("note", "witness signature: %v", err)
		}
		if ok && ts.After(s.now().Add(MaxCosignatureSkew)) {
			return time.Time{}, cairn.Invalid("note", "the cosignature's timestamp %s is more than %v in the future", ts.UTC().Format(time.RFC3339), MaxCosignatureSkew)
		}
		if ok {
			stamp = ts
		}
	}
	if !signed {
		return time.Time{}, cairn.Invalid("note", "carries no signature by the witness key %s", wv.Name())
	}
	return stamp, nil
}

// proveEvents adds inclusion proofs of events to a checkpoint covering them all.
func (s *Service) proveEvents(ctx context.Context, tenant string, refs []*cairn.LedgerRef) (*cairn.EvidenceProof, error) {
	if len(refs) == 0 || s.ledgerKey == nil {
		return nil, nil
	}
	var max uint64
	for _, r := range refs {
		if r.Index > max {
			max = r.Index
		}
	}
	cp, err := s.coveringCheckpoint(ctx, tenant, max)
	if err != nil {
		return nil, err
	}
	_, vk, err := s.LedgerKey(tenant)
	if err != nil {
		return nil, err
	}
	out := &cairn.EvidenceProof{Checkpoint: cp.Note, TreeSize: cp.Size, RootHash: cp.RootHash, PublicKey: vk}
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		r := cairn.TenantNodes{Src: tx, Tenant: tenant}
		for _, ref := range refs {
			hs, err := tree.InclusionProof(ref.Index, cp.Size, r)
			if err != nil {
				return err
			}
			out.Inclusion = append(out.Inclusion, cairn.InclusionProof{Index: ref.Index, LeafHash: ref.LeafHash, Hashes: hexes(hs)})
		}
		return nil
	})
	sort.Slice(out.Inclusion, func(i, j int) bool { return out.Inclusion[i].Index < out.Inclusion[j].Index })
	return out, err
}

// signCheckpoint signs the checkpoint of tenant's ledger at size with root.
func (s *Service) signCheckpoint(tenant, origin string, size uint64, root [32]byte) (*cairn.Checkpoint, error) {
	signer, err := s.signer(origin)
	if err != nil {
		return nil, err
	}
	note, err := tree.SignCheckpoint(origin, size, root, signer)
	if err != nil {
		return nil, err
	}
	return &cairn.Checkpoint{Tenant: tenant, Size: size, RootHash: hex.EncodeToString(root[:]), Note: string(note), CreatedAt: s.now(), Cosignatures: []cairn.Cosignature{}}, nil
}

// signer returns the checkpoint signer for origin (derived once).
func (s *Service) signer(origin string) (sumnote.Signer, error) {
	if v, ok := s.signers.Load(origin); ok {
		return v.(sumnote.Signer), nil
	}
	sg, err := s.ledgerKey.SignerFor(origin)
	if err != nil {
		return nil, err
	}
	s.signers.Store(origin, sg)
	return sg, nil
}

// receipt completes a dispatch receipt with the signed checkpoint covering
// the dispatch decision, its inclusion proof and the decision's ledger body.
// It reads all of it in one view; a new checkpoint, when one is needed, is
// stored in the background (see issueCheckpoint).
// decidedBody rebuilds the ledger entry of a receipt's dispatch decision
// from its appended event, or returns nil when it cannot (the store did
// not report what it chained) or the result is not the entry the ledger
// holds (its leaf hash differs).
func decidedBody(r *cairn.DispatchReceipt) []byte {
	e := r.Decided
	if e == nil || e.Canon == nil || e.Ledger == nil || e.Ledger.Index != r.Ledger.Index {
		return nil
	}
	body, err := ledger.EnvelopeBody(e.Tenant, e.Ledger.Index, e.PrevHash, e.Seq, e.Canon)
	if err != nil || ledger.HashHex(ledger.LeafHash(body)) != r.Ledger.LeafHash {
		return nil
	}
	return body
}

func (s *Service) receipt(ctx context.Context, tenant string, r *cairn.DispatchReceipt) error {
	if s.ledgerKey == nil || r == nil || r.Ledger == nil {
		return nil
	}
	origin, err := s.origin(tenant)
	if err != nil {
		return err
	}
	var pr receiptProof
	err = s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		pr, err = readReceiptProof(tx, tenant, r)
		return err
	})
	if err != nil {
		return err
	}
	// Signed, not stored: the checkpoint loop stores one a second, and
	// CheckpointAt reproduces this one byte for byte on demand.
	cp, err := s.signCheckpoint(tenant, origin, pr.size, pr.root)
	if err != nil {
		return err
	}
	r.Body = string(pr.body)
	r.Checkpoint = cp.Note
	r.TreeSize = cp.Size
	r.Inclusion = hexes(pr.hashes)
	return nil
}

// receiptProof is what a dispatch receipt proves: the dispatch decision's
// body and its inclusion in the tree of the given size and root.
type receiptProof struct {
	size   uint64
	root   [32]byte
	hashes [][]byte
	body   []byte
}

// readReceiptProof proves the dispatch decision r.Ledger. It was just
// appended: no stored checkpoint covers it yet, so the proof is at the size
// right after the dispatch (set by the lease), else at the current size.
func readReceiptProof(tx cairn.ReadTx, tenant string, r *cairn.DispatchReceipt) (receiptProof, error) {
	var pr receiptProof
	var err error
	idx := r.Ledger.Index
	if pr.size = r.TreeSize; pr.size == 0 {
		if pr.size, err = tx.LedgerSize(tenant); err != nil {
			return pr, err
		}
	}
	if pr.size <= idx {
		return pr, fmt.Errorf("dispatch decision %d is not in the ledger", idx)
	}
	if pr.hashes, err = tree.InclusionProof(idx, pr.size, cairn.TenantNodes{Src: tx, Tenant: tenant}); err != nil {
		return pr, err
	}
	// The root follows from the leaf and its audit path: no second walk
	// over the tree's nodes.
	leaf, err := hex.DecodeString(r.Ledger.LeafHash)
	if err != nil {
		return pr, fmt.Errorf("dispatch decision %d: leaf hash: %w", idx, err)
	}
	rt, err := merkleproof.RootFromInclusionProof(tree.Hasher, idx, pr.size, leaf, pr.hashes)
	if err != nil {
		return pr, err
	}
	copy(pr.root[:], rt)
	pr.body, err = dispatchBody(tx, tenant, r)
	return pr, err
}

// dispatchBody is the ledger body of the dispatch decision: rebuilt from
// the event the receipt carries when that is the one the ledger holds,
// else read from the ledger.
func dispatchBody(tx cairn.ReadTx, tenant string, r *cairn.DispatchReceipt) ([]byte, error) {
	if body := decidedBody(r); body != nil {
		return body, nil
	}
	idx := r.Ledger.Index
	es, err := tx.LedgerEntries(tenant, idx, 1)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 || es[0].Index != idx {
		return nil, fmt.Errorf("dispatch decision %d is not in the ledger", idx)
	}
	return es[0].Body, nil
}
