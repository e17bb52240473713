package service

import (
	"context"
	"strings"

	"github.com/cairnhq/cairn"
)

// Legal holds (issue 14 §2; ADR 0046). A hold freezes what it covers:
// while it is active the retention compaction skips it and an erasure that
// touches it is refused with 409 legal_hold. Placing and releasing a hold
// are ledger events (hold_placed, hold_released).

// Limits on holds.
const (
	// MaxReasonBytes bounds a hold's (or a release's, or a retention
	// change's) reason.
	MaxReasonBytes = 2048
	// MaxActiveHolds bounds a tenant's active holds: each compaction and
	// erasure reads them all.
	MaxActiveHolds = 1000
)

// PlaceHold places a legal hold (admin or auditor).
func (s *Service) PlaceHold(ctx context.Context, p cairn.Principal, req cairn.PlaceHoldRequest) (*cairn.Hold, error) {
	if !p.HasAny(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "placing a legal hold needs the admin or auditor role")
	}
	if err := validHoldTarget(p.Tenant, req.Scope, req.ID); err != nil {
		return nil, err
	}
	if err := validReason("reason", req.Reason); err != nil {
		return nil, err
	}
	h := &cairn.Hold{HoldID: randomID("hold_", 12), Tenant: p.Tenant, Scope: req.Scope, ID: req.ID, Reason: req.Reason,
		Status: cairn.HoldActive, PlacedBy: p.ID}
	err := s.update(ctx, func(tx cairn.Tx) error {
		if err := holdTargetExists(tx, h); err != nil {
			return err
		}
		active, err := tx.ListHolds(p.Tenant, cairn.HoldFilter{ActiveOnly: true, Page: cairn.Page{Limit: MaxActiveHolds}})
		if err != nil {
			return err
		}
		if len(active) >= MaxActiveHolds {
			return cairn.Conflict(cairn.EConflict, "tenant %q has %d active holds, the maximum; release one first", p.Tenant, len(active))
		}
		h.PlacedAt = s.now()
		data := map[string]any{"hold_id": h.HoldID, "scope": h.Scope, "id": h.ID, "reason": h.Reason}
		if h.Scope == cairn.HoldRun {
			data["run_id"] = h.ID
		}
		ev := &cairn.Event{Tenant: p.Tenant, Type: cairn.EventHoldPlaced, Timestamp: h.PlacedAt, Actor: p.ID, Data: data}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		h.Ledger = ev.Ledger
		return tx.InsertHold(h)
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ListHolds lists the tenant's holds, newest first (admin or auditor).
func (s *Service) ListHolds(ctx context.Context, p cairn.Principal, f cairn.HoldFilter) ([]*cairn.Hold, error) {
	if !p.HasAny(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading legal holds needs the admin or auditor role")
	}
	var out []*cairn.Hold
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListHolds(p.Tenant, f)
		return err
	})
	return out, err
}

// ReleaseHold releases an active hold (admin only); the reason is required.
func (s *Service) ReleaseHold(ctx context.Context, p cairn.Principal, holdID string, req cairn.ReleaseHoldRequest) (*cairn.Hold, error) {
	if !p.Has(cairn.RoleAdmin) {
		return nil, cairn.Forbidden(cairn.EForbidden, "releasing a legal hold needs the admin role")
	}
	if err := validID("hold_id", holdID); err != nil {
		return nil, err
	}
	if err := validReason("reason", req.Reason); err != nil {
		return nil, err
	}
	var h *cairn.Hold
	err := s.update(ctx, func(tx cairn.Tx) error {
		var err error
		if h, err = tx.GetHold(p.Tenant, holdID); err != nil {
			return err
		}
		if h.Status != cairn.HoldActive {
			return cairn.Conflict(cairn.EConflict, "hold %q is already released", holdID)
		}
		now := s.now()
		ev := &cairn.Event{Tenant: p.Tenant, Type: cairn.EventHoldReleased, Timestamp: now, Actor: p.ID,
			Data: map[string]any{"hold_id": h.HoldID, "scope": h.Scope, "id": h.ID, "reason": req.Reason}}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		h.Status, h.ReleasedBy, h.ReleasedAt, h.ReleaseReason = cairn.HoldReleased, cairn.Opt(p.ID), &now, cairn.Opt(req.Reason)
		h.ReleaseLedger = ev.Ledger
		return tx.ReleaseHold(h)
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// HeldBy answers whether a job is under an active legal hold, and which:
// the first active hold of tx's tenant whose scope covers the tenant, the
// job id, its run id or its data subject (the value of the tenant's
// subject label, "" when the job has none). It returns nil when none does.
//
// Erasure calls it (inside the erasing transaction, so that a hold placed
// concurrently is seen) and refuses with LegalHoldError; the retention
// compaction uses the same rule.
func HeldBy(tx cairn.ReadTx, tenant, jobID, runID, subject string) (*cairn.Hold, error) {
	active, err := tx.ListHolds(tenant, cairn.HoldFilter{ActiveOnly: true, Page: cairn.Page{Limit: MaxActiveHolds}})
	if err != nil {
		return nil, err
	}
	return coveringHold(active, tenant, jobID, runID, subject), nil
}

// LegalHoldError is the 409 legal_hold refusal of an erasure (or another
// removal) that touches data under h.
func LegalHoldError(h *cairn.Hold) error {
	return cairn.Conflict(cairn.CodeLegalHold, "legal hold %s (scope %s, id %q, placed by %s) covers this data; it must be released first",
		h.HoldID, h.Scope, h.ID, h.PlacedBy)
}

// coveringHold is the first of holds that covers the job.
func coveringHold(holds []*cairn.Hold, tenant, jobID, runID, subject string) *cairn.Hold {
	for _, h := range holds {
		if h.Covers(tenant, jobID, runID, subject) {
			return h
		}
	}
	return nil
}

// validHoldTarget checks a hold's scope and id. A tenant hold names the
// caller's own tenant: any other is not found, as another tenant's run or
// job is.
func validHoldTarget(tenant, scope, id string) error {
	switch scope {
	case cairn.HoldTenant:
		if err := validID("id", id); err != nil {
			return err
		}
		if id != tenant {
			return cairn.NotFound("tenant %q not found", id)
		}
		return nil
	case cairn.HoldRun, cairn.HoldJob:
		return validID("id", id)
	case cairn.HoldSubject:
		if id == "" {
			return cairn.Invalid("id", "must not be empty")
		}
		return validText("id", id, MaxIDBytes)
	case "":
		return cairn.Invalid("scope", "is required: tenant, run, job or subject")
	}
	return cairn.Invalid("scope", "must be tenant, run, job or subject")
}

// holdTargetExists checks that a run or job hold names a run or job of the
// tenant (a job whose row was pruned still exists in the ledger).
func holdTargetExists(tx cairn.ReadTx, h *cairn.Hold) error {
	switch h.Scope {
	case cairn.HoldRun:
		if _, err := tx.GetRun(h.Tenant, h.ID); err != nil {
			if cairn.IsNotFound(err) {
				return cairn.NotFound("run %q not found", h.ID)
			}
			return err
		}
	case cairn.HoldJob:
		if _, err := tx.GetJob(h.Tenant, h.ID); err != nil {
			if cairn.IsNotFound(err) {
				return cairn.NotFound("job %q not found", h.ID)
			}
			return err
		}
	}
	return nil
}

// validReason checks a required free-text reason.
func validReason(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return cairn.Invalid(field, "is required")
	}
	return validText(field, s, MaxReasonBytes)
}
