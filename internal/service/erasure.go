package service

import (
	"context"
	"slices"
	"strings"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// Erasure (crypto-shredding, ADR 0048): an admin erases a data subject
// (its data key is destroyed and every payload sealed under it deleted) or
// a list of jobs (their payloads deleted). Each erasure is one ledger event,
// erasure, naming the jobs and the payloads' hashes, never the data; the
// ledger still commits to those hashes, so every proof stays valid.

// EventErasure is the ledger event of an erasure.
const EventErasure = cairn.EventErasure

// Limits of an erasure request.
const (
	MaxErasureJobs   = 1000
	MaxErasureReason = 1024
	// MaxSubjectBytes bounds a subject (a label value).
	MaxSubjectBytes = 1024
)

// HoldChecker says whether a legal hold covers what an erasure would
// remove: the tenant's jobs jobIDs (and, for an erasure by subject, the
// subject). A held erasure is refused with 409 legal_hold naming the hold.
type HoldChecker interface {
	HoldFor(ctx context.Context, tenant string, jobIDs []string, subject string) (holdID string, held bool, err error)
}

// noHolds is the default HoldChecker: nothing is held.
type noHolds struct{}

func (noHolds) HoldFor(context.Context, string, []string, string) (string, bool, error) {
	return "", false, nil
}

// SetHoldChecker sets what an erasure asks about legal holds.
func (s *Service) SetHoldChecker(h HoldChecker) {
	if h == nil {
		h = noHolds{}
	}
	s.holds = h
}

// erasureTarget is what an erasure removes.
type erasureTarget struct {
	keyID    string // the subject's data key ("" for an erasure by jobs)
	jobIDs   []string
	payloads []cairn.ErasedPayload
	erased   *cairn.ErasedPayload // set when every payload is erased already
}

func validErasure(p cairn.Principal, req *cairn.ErasureRequest) error {
	if !p.Has(cairn.RoleAdmin) {
		return cairn.Forbidden(cairn.EForbidden, "erasure needs the admin role")
	}
	if strings.TrimSpace(req.Reason) == "" {
		return cairn.Invalid("reason", "is required")
	}
	if err := validText("reason", req.Reason, MaxErasureReason); err != nil {
		return err
	}
	switch {
	case req.Subject == "" && len(req.JobIDs) == 0:
		return cairn.Invalid("subject", "name a subject or job_ids")
	case req.Subject != "" && len(req.JobIDs) > 0:
		return cairn.Invalid("job_ids", "name a subject or job_ids, not both")
	case req.Subject != "":
		return validText("subject", req.Subject, MaxSubjectBytes)
	case len(req.JobIDs) > MaxErasureJobs:
		return cairn.Invalid("job_ids", "has %d ids; the maximum is %d", len(req.JobIDs), MaxErasureJobs)
	}
	for _, id := range req.JobIDs {
		if err := validID("job_ids", id); err != nil {
			return err
		}
	}
	return nil
}

// Erase erases a data subject's payloads or some jobs' payloads.
func (s *Service) Erase(ctx context.Context, p cairn.Principal, req cairn.ErasureRequest) (*cairn.Erasure, error) {
	if err := validErasure(p, &req); err != nil {
		return nil, err
	}
	var checked erasureTarget
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		checked, err = erasureTargetOf(rawRead(tx), p.Tenant, &req)
		return err
	}); err != nil {
		return nil, err
	}
	if checked.erased != nil {
		return nil, erasedError(checked.erased)
	}
	if hold, held, err := s.holds.HoldFor(ctx, p.Tenant, checked.jobIDs, req.Subject); err != nil {
		return nil, err
	} else if held {
		return nil, cairn.Conflict(cairn.CodeLegalHold, "legal hold %s covers what this erasure would remove", hold)
	}
	var out *cairn.Erasure
	err := s.Store.Update(ctx, func(tx cairn.Tx) error {
		t, err := erasureTargetOf(rawTx(tx), p.Tenant, &req)
		if err != nil {
			return err
		}
		if t.erased != nil {
			return erasedError(t.erased)
		}
		if !slices.Equal(t.jobIDs, checked.jobIDs) {
			return cairn.Conflict(cairn.EConflict, "the subject's jobs changed while the erasure was checked; retry")
		}
		if err := s.heldIn(rawTx(tx), p.Tenant, t, req.Subject); err != nil {
			return err
		}
		out, err = s.recordErasure(tx, p, &req, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	if checked.keyID != "" {
		s.crypt.forget(p.Tenant, checked.keyID)
	}
	if c, ok := compactorOf(s.Store); ok {
		if err := c.CompactErased(ctx); err != nil {
			s.Log.Warn("erasure: the store could not yet remove the leftovers of erased rows", "err", err.Error())
		}
	}
	return out, nil
}

// recordErasure appends the erasure event and removes what t names.
func (s *Service) recordErasure(tx cairn.Tx, p cairn.Principal, req *cairn.ErasureRequest, t erasureTarget) (*cairn.Erasure, error) {
	out := &cairn.Erasure{JobIDs: t.jobIDs, Payloads: make([]cairn.ErasedSummary, 0, len(t.payloads)), KeyDestroyed: t.keyID != ""}
	for _, e := range t.payloads {
		out.Payloads = append(out.Payloads, cairn.ErasedSummary{Ptr: e.Ptr, SHA256: e.SHA256})
	}
	scope := "jobs"
	if req.Subject != "" {
		scope = "subject"
	}
	ev := &cairn.Event{Tenant: p.Tenant, Type: EventErasure, Timestamp: s.now(), Actor: p.ID,
		Data: map[string]any{"scope": scope, "reason": req.Reason, "job_ids": out.JobIDs, "payloads": out.Payloads, "key_destroyed": out.KeyDestroyed}}
	if err := tx.AppendEvent(ev); err != nil {
		return nil, err
	}
	out.Entry = ev.Ledger.Index
	raw := rawTx(tx)
	for i := range t.payloads {
		e := t.payloads[i]
		e.Entry = out.Entry
		if err := raw.ErasePayload(&e); err != nil {
			return nil, err
		}
	}
	if t.keyID != "" {
		if err := raw.DestroyPayloadKey(p.Tenant, t.keyID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// erasureTargetOf finds what req would erase. A job that may still run
// (pending approval, queued, running) is refused: its worker needs its
// input; cancel it first.
func erasureTargetOf(tx cairn.ReadTx, tenant string, req *cairn.ErasureRequest) (erasureTarget, error) {
	var t erasureTarget
	var err error
	if req.Subject != "" {
		t, err = subjectTarget(tx, tenant, req.Subject)
	} else {
		t, err = jobsTarget(tx, tenant, req.JobIDs)
	}
	if err != nil {
		return t, err
	}
	for _, id := range t.jobIDs {
		j, err := tx.GetJob(tenant, id)
		if cairn.IsNotFound(err) {
			continue // a gate's job, not submitted yet
		}
		if err != nil {
			return t, err
		}
		if j.State == cairn.StatePendingApproval || j.State == cairn.StateQueued || j.State == cairn.StateRunning {
			return t, cairn.Conflict(cairn.EConflict, "job %q is still open (%s): cancel it before erasing its payloads", id, j.State)
		}
	}
	return t, nil
}

// subjectTarget: the subject's data key and every payload under it.
func subjectTarget(tx cairn.ReadTx, tenant, subject string) (erasureTarget, error) {
	k, err := tx.PayloadKey(tenant, subject)
	if err != nil {
		return erasureTarget{}, err
	}
	if k == nil {
		return erasureTarget{}, cairn.NotFound("no data of that subject is stored (never, or erased already)")
	}
	ps, err := tx.PayloadsByKey(tenant, k.KeyID)
	if err != nil {
		return erasureTarget{}, err
	}
	t := erasureTarget{keyID: k.KeyID}
	for _, p := range ps {
		t.payloads = append(t.payloads, cairn.ErasedPayload{Tenant: tenant, Ptr: p.Ptr, SHA256: p.SHA256, JobID: jobOfPtr(p.Ptr)})
	}
	t.jobIDs = jobsOf(t.payloads)
	return t, nil
}

// jobsTarget: the stored payloads of each job (context, result, redacted
// copy). A job of another tenant is not found.
func jobsTarget(tx cairn.ReadTx, tenant string, ids []string) (erasureTarget, error) {
	var t erasureTarget
	for _, id := range ids {
		j, err := tx.GetJob(tenant, id)
		if err != nil {
			return erasureTarget{}, err
		}
		for _, ptr := range []string{j.ContextPtr, string(j.ResultPtr), redactedPtr(id), gateInputPtr(id)} {
			if ptr == "" {
				continue
			}
			p, err := tx.GetPayload(tenant, ptr)
			if cairn.IsNotFound(err) {
				e, err := tx.ErasedPayload(tenant, ptr)
				if err != nil {
					return erasureTarget{}, err
				}
				if e != nil && t.erased == nil {
					t.erased = e
				}
				continue
			}
			if err != nil {
				return erasureTarget{}, err
			}
			t.payloads = append(t.payloads, cairn.ErasedPayload{Tenant: tenant, Ptr: ptr, SHA256: p.SHA256, JobID: id})
		}
	}
	if len(t.payloads) > 0 {
		t.erased = nil
	}
	t.jobIDs = jobsOf(t.payloads)
	return t, nil
}

// jobOfPtr is the job a payload pointer belongs to ("" for a run's input).
func jobOfPtr(ptr string) string {
	for _, prefix := range []string{"ctx:", "res:", "gate:"} {
		if id, ok := strings.CutPrefix(ptr, prefix); ok {
			return strings.TrimSuffix(id, "#redacted")
		}
	}
	return ""
}

func jobsOf(ps []cairn.ErasedPayload) []string {
	ids := []string{}
	for _, p := range ps {
		if p.JobID != "" && !slices.Contains(ids, p.JobID) {
			ids = append(ids, p.JobID)
		}
	}
	slices.Sort(ids)
	return ids
}

// WithheldErased is the reason of a payload an export lists as erased.
const WithheldErased = "erased"

// erasedInBundle is how an export lists an erased payload: withheld, with
// the SHA-256 the ledger committed to and the erasure event's index.
func erasedInBundle(tx cairn.ReadTx, tenant, ptr string) (bundle.Payload, bool, error) {
	e, err := rawRead(tx).ErasedPayload(tenant, ptr)
	if err != nil {
		return bundle.Payload{}, false, err
	}
	if e == nil { // its data key is destroyed, its row not yet deleted
		return bundle.Payload{Ptr: ptr, Withheld: true, Reason: WithheldErased}, true, nil
	}
	entry := e.Entry
	return bundle.Payload{Ptr: ptr, SHA256: e.SHA256, Withheld: true, Reason: WithheldErased, ErasedBy: &entry}, true, nil
}

// undecryptableInBundle lists a stored payload whose ciphertext does not
// open (altered, or moved to another row, at rest): withheld with the
// verifier's reason for it, which fails verification, and the hash the
// row claims.
func undecryptableInBundle(tx cairn.ReadTx, tenant, ptr string) (bundle.Payload, bool, error) {
	p, err := rawRead(tx).GetPayload(tenant, ptr)
	if err != nil {
		return bundle.Payload{}, false, err
	}
	return bundle.Payload{Ptr: ptr, SHA256: p.SHA256, Withheld: true, Reason: verify.ReasonUndecryptable}, true, nil
}

// heldIn refuses an erasure of jobs an active legal hold covers (HeldBy,
// in the erasing transaction, so that a hold placed meanwhile is seen):
// a hold on the tenant, a job, its run or its data subject.
func (s *Service) heldIn(tx cairn.ReadTx, tenant string, t erasureTarget, subject string) error {
	st, err := s.crypt.tenantSettings(tx, tenant)
	if err != nil {
		return err
	}
	for _, id := range t.jobIDs {
		runID, subj := "", subject
		j, err := tx.GetJob(tenant, id)
		switch {
		case err == nil:
			runID = string(j.RunID)
			if subj == "" {
				subj = j.Labels[st.Label()]
			}
		case !cairn.IsNotFound(err): // a gate's job is not submitted yet
			return err
		}
		h, err := HeldBy(tx, tenant, id, runID, subj)
		if err != nil {
			return err
		}
		if h != nil {
			return LegalHoldError(h)
		}
	}
	return nil
}
