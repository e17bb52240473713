package service

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
)

var hAuditor = cairn.Principal{Tenant: "default", ID: "auditor", Kind: "human", Roles: []string{cairn.RoleAuditor}}

const day = 24 * time.Hour

// withLedgerKey gives the harness's service a checkpoint signing key.
func withLedgerKey(t *testing.T, h *harness) {
	t.Helper()
	key, err := tree.LoadOrCreateKey(t.TempDir()+"/ledger.key", "cairn")
	if err != nil {
		t.Fatal(err)
	}
	h.s.SetLedgerKey(key, "")
}

// finishJob submits a tool.x job with labels and completes it.
func finishJob(t *testing.T, h *harness, id string, labels map[string]string) {
	t.Helper()
	if _, _, err := h.s.Submit(h.ctx, hAgent, cairn.SubmitRequest{JobID: id, Action: "tool.x", Labels: labels, Input: []byte(`{"secret":"` + id + `"}`)}, ""); err != nil {
		t.Fatal(err)
	}
	var lease string
	for _, j := range h.lease("tool.x") {
		if j.JobID == id {
			lease = j.LeaseID
		}
	}
	if _, err := h.s.Complete(h.ctx, hWorker, id, cairn.CompleteRequest{LeaseID: lease, Status: "succeeded", Result: []byte(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	var e *cairn.Error
	if !errors.As(err, &e) || e.Code != code || e.Field != field {
		t.Fatalf("%s: err %v, want %s (field %q)", what, err, code, field)
	}
}

func decodeHashes(t *testing.T, hs []string) [][]byte {
	out := make([][]byte, len(hs))
	for i, s := range hs {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func root32(t *testing.T, s string) [32]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("root %q", s)
	}
	return [32]byte(b)
}

// TestRetentionCompaction: past retention, a compaction prunes old
// evidence up to the last checkpoint before the cutoff, except what a hold
// covers; reads say 410 with the compaction's ledger index; proofs made
// before still verify; an export verifies and lists the pruned entries.
func TestRetentionCompaction(t *testing.T) {
	h := newHarness(t)
	withLedgerKey(t, h)
	if err := h.s.SetRetention(400*day, false); err != nil {
		t.Fatal(err)
	}
	finishJob(t, h, "old-a", map[string]string{"data_subject": "alice"})
	finishJob(t, h, "old-held", nil)
	finishJob(t, h, "old-subject", map[string]string{"data_subject": "bob"})
	cp1, err := h.s.IssueCheckpoint(h.ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := h.s.Decisions(h.ctx, hAuditor, "old-a")
	if err != nil || len(ds) == 0 || ds[0].Ledger == nil {
		t.Fatalf("old-a's decisions: %+v, %v", ds, err)
	}
	oldA := struct{ Ledger *cairn.LedgerRef }{ds[0].Ledger}
	proofBefore, err := h.s.InclusionProof(h.ctx, hAuditor, oldA.Ledger.Index, cp1.Size)
	if err != nil {
		t.Fatal(err)
	}
	h.advance(10 * day)
	finishJob(t, h, "new", nil)
	for _, req := range []cairn.PlaceHoldRequest{
		{Scope: cairn.HoldJob, ID: "old-held", Reason: "litigation 2026-17"},
		{Scope: cairn.HoldSubject, ID: "bob", Reason: "regulator inquiry"},
	} {
		if _, err := h.s.PlaceHold(h.ctx, hAuditor, req); err != nil {
			t.Fatal(err)
		}
	}
	cp2, err := h.s.IssueCheckpoint(h.ctx, "default")
	if err != nil {
		t.Fatal(err)
	}

	// Not yet past retention: nothing is pruned.
	h.advance(300 * day)
	if cs, err := h.s.Compact(h.ctx); err != nil || len(cs) != 0 {
		t.Fatalf("compaction within retention: %+v, %v", cs, err)
	}
	// Past it for cp1 only (cutoff = t0 + 5 days).
	h.advance(95 * day)
	cs, err := h.s.Compact(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].From != 0 || cs[0].To != cp1.Size {
		t.Fatalf("compactions = %+v, want one of [0, %d)", cs, cp1.Size)
	}
	c := cs[0]
	if again, err := h.s.Compact(h.ctx); err != nil || len(again) != 0 {
		t.Fatalf("second pass: %+v, %v", again, err)
	}

	_, err = h.s.GetJob(h.ctx, hAuditor, "old-a")
	wantErr(t, "pruned job", err, cairn.CodePrunedByRetention, "")
	var e *cairn.Error
	if errors.As(err, &e); e.LedgerIndex == nil || *e.LedgerIndex != c.Event {
		t.Fatalf("pruned job names ledger index %v, want %d", e.LedgerIndex, c.Event)
	}
	_, err = h.s.Payload(h.ctx, hAuditor, "old-a", false, false)
	wantErr(t, "pruned payload", err, cairn.CodePrunedByRetention, "")
	for _, id := range []string{"old-held", "old-subject", "new"} {
		if _, err := h.s.GetJob(h.ctx, hAuditor, id); err != nil {
			t.Fatalf("%s after compaction: %v", id, err)
		}
		if _, err := h.s.Payload(h.ctx, hAuditor, id, false, false); err != nil {
			t.Fatalf("%s's context after compaction: %v", id, err)
		}
	}
	if got := h.events(cairn.EventFilter{JobID: "old-held"}); !strings.Contains(got, "job_submitted") {
		t.Fatalf("held job's events after compaction: %q", got)
	}
	if got := h.events(cairn.EventFilter{JobID: "old-a"}); got != "" {
		t.Fatalf("pruned job's events: %q", got)
	}
	// Its id stays taken.
	_, _, err = h.s.Submit(h.ctx, hAgent, cairn.SubmitRequest{JobID: "old-a", Action: "tool.x", Input: []byte(`{}`)}, "")
	wantErr(t, "reusing a pruned job's id", err, cairn.CodeJobConflict, "")
	_, err = h.s.GetJob(h.ctx, hAuditor, "never-was")
	wantErr(t, "unknown job", err, cairn.ENotFound, "")

	// Proofs made before compaction verify after it, and are remade equal.
	proofAfter, err := h.s.InclusionProof(h.ctx, hAuditor, oldA.Ledger.Index, cp1.Size)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(proofAfter.Hashes, ",") != strings.Join(proofBefore.Hashes, ",") || proofAfter.RootHash != cp1.RootHash {
		t.Fatal("inclusion proof changed by compaction")
	}
	leaf := root32(t, oldA.Ledger.LeafHash)
	if err := tree.VerifyInclusion(oldA.Ledger.Index, cp1.Size, leaf, decodeHashes(t, proofBefore.Hashes), root32(t, cp1.RootHash)); err != nil {
		t.Fatalf("old inclusion proof: %v", err)
	}
	cons, err := h.s.ConsistencyProof(h.ctx, hAuditor, cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.VerifyConsistency(cp1.Size, cp2.Size, decodeHashes(t, cons.Hashes), root32(t, cp1.RootHash), root32(t, cp2.RootHash)); err != nil {
		t.Fatalf("consistency after compaction: %v", err)
	}

	// The export verifies, listing the pruned entries as pruned.
	b, err := h.s.Export(h.ctx, hAuditor, ExportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Bundle(b, verify.Options{})
	if err != nil {
		t.Fatalf("verify after compaction: %v (%+v)", err, rep.Problems)
	}
	if rep.Pruned == 0 || rep.Mode != "complete" {
		t.Fatalf("report: pruned %d mode %s", rep.Pruned, rep.Mode)
	}
	listed := false
	for _, pe := range rep.PrunedEntries {
		if pe.LeafHash == oldA.Ledger.LeafHash && pe.PrunedBy == c.Event {
			listed = true
		}
	}
	if !listed {
		t.Fatal("the pruned job's decision entry is not listed as pruned")
	}
	// A pruned entry that names a non-compaction entry is a failure.
	for i := range b.Entries {
		if b.Entries[i].PrunedBy != nil {
			bad := uint64(c.Event - 1)
			b.Entries[i].PrunedBy = &bad
			break
		}
	}
	if _, err := verify.Bundle(b, verify.Options{}); !errors.Is(err, verify.ErrPruned) {
		t.Fatalf("pruned_by naming another entry: %v", err)
	}
}

// TestRetentionFloor: a retention below 183 days is refused, naming the
// floor and why, unless allowed; the allowance is recorded in the ledger.
func TestRetentionFloor(t *testing.T) {
	h := newHarness(t)
	err := h.s.SetRetention(100*day, false)
	wantErr(t, "retention below the floor", err, cairn.EInvalid, "retention")
	for _, want := range []string{"183", "AI Act", "--allow-retention-below-floor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if err := h.s.SetRetention(183*day, false); err != nil {
		t.Fatalf("the floor itself: %v", err)
	}
	_, err = h.s.SetTenantRetention(h.ctx, hAdmin, cairn.SetRetentionRequest{Retention: "30d", Reason: "test"})
	wantErr(t, "tenant retention below the floor", err, cairn.EInvalid, "retention")

	if err := h.s.SetRetention(100*day, true); err != nil {
		t.Fatal(err)
	}
	if err := h.s.startRetention(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.s.Stop()
	if got := h.ledgerTypes(); !strings.Contains(got, cairn.EventRetentionFloorWaived) {
		t.Fatalf("ledger has no %s: %s", cairn.EventRetentionFloorWaived, got)
	}
	v, err := h.s.SetTenantRetention(h.ctx, hAdmin, cairn.SetRetentionRequest{Retention: "30d", Reason: "allowed below the floor"})
	if err != nil || !v.BelowFloor || v.Source != "tenant" || v.Ledger == nil {
		t.Fatalf("tenant retention below an allowed floor: %+v, %v", v, err)
	}
}

// ledgerTypes lists the types of the default tenant's ledger entries.
func (h *harness) ledgerTypes() string {
	h.t.Helper()
	var types []string
	err := h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
		es, err := tx.LedgerEntries("default", 0, 10000)
		for _, e := range es {
			ev, err := cairn.EventFromLedger(string(e.Body), e.LeafHash)
			if err != nil {
				return err
			}
			types = append(types, ev.Type)
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Join(types, " ")
}

// TestTenantRetention: admin sets it (recorded), others may not; bad input
// is refused with the field.
func TestTenantRetention(t *testing.T) {
	h := newHarness(t)
	v, err := h.s.TenantRetention(h.ctx, hAuditor)
	if err != nil || v.Source != "none" || v.Retention != "" {
		t.Fatalf("retention before any: %+v, %v", v, err)
	}
	for _, tc := range []struct {
		p     cairn.Principal
		req   cairn.SetRetentionRequest
		code  string
		field string
	}{
		{hAuditor, cairn.SetRetentionRequest{Retention: "400d", Reason: "r"}, cairn.EForbidden, ""},
		{hAdmin, cairn.SetRetentionRequest{Retention: "", Reason: "r"}, cairn.EInvalid, "retention"},
		{hAdmin, cairn.SetRetentionRequest{Retention: "-5d", Reason: "r"}, cairn.EInvalid, "retention"},
		{hAdmin, cairn.SetRetentionRequest{Retention: "forever", Reason: "r"}, cairn.EInvalid, "retention"},
		{hAdmin, cairn.SetRetentionRequest{Retention: strings.Repeat("9", 100) + "d", Reason: "r"}, cairn.EInvalid, "retention"},
		{hAdmin, cairn.SetRetentionRequest{Retention: "400d", Reason: ""}, cairn.EInvalid, "reason"},
		{hAdmin, cairn.SetRetentionRequest{Retention: "400d", Reason: "a\x00b"}, cairn.EInvalid, "reason"},
	} {
		_, err := h.s.SetTenantRetention(h.ctx, tc.p, tc.req)
		wantErr(t, tc.req.Retention+"/"+tc.req.Reason, err, tc.code, tc.field)
	}
	v, err = h.s.SetTenantRetention(h.ctx, hAdmin, cairn.SetRetentionRequest{Retention: "400d", Reason: "records policy v3"})
	if err != nil || v.Retention != "400d" || v.RetentionSeconds != 400*86400 || v.Source != "tenant" {
		t.Fatalf("set: %+v, %v", v, err)
	}
	if got := h.ledgerTypes(); !strings.Contains(got, cairn.EventRetentionSet) {
		t.Fatalf("no %s in the ledger: %s", cairn.EventRetentionSet, got)
	}
	v, err = h.s.TenantRetention(h.ctx, hAuditor)
	if err != nil || v.Retention != "400d" || string(v.SetBy) != "admin" {
		t.Fatalf("read back: %+v, %v", v, err)
	}
}

// TestHolds: roles, hostile input, release rules, ledger events, HeldBy.
func TestHolds(t *testing.T) {
	h := newHarness(t)
	finishJob(t, h, "j1", map[string]string{"data_subject": "alice"})
	other := cairn.Principal{Tenant: "acme", ID: "auditor", Kind: "human", Roles: []string{cairn.RoleAuditor}}
	for _, tc := range []struct {
		p     cairn.Principal
		req   cairn.PlaceHoldRequest
		code  string
		field string
	}{
		{hAgent, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: "r"}, cairn.EForbidden, ""},
		{hApprover, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: "r"}, cairn.EForbidden, ""},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "bucket", ID: "j1", Reason: "r"}, cairn.EInvalid, "scope"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "", ID: "j1", Reason: "r"}, cairn.EInvalid, "scope"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: ""}, cairn.EInvalid, "reason"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: "   "}, cairn.EInvalid, "reason"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: strings.Repeat("x", MaxReasonBytes+1)}, cairn.EInvalid, "reason"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: "bidi\u202e\x1b[31m"}, cairn.EInvalid, "reason"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: "../../etc", Reason: "r"}, cairn.EInvalid, "id"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: strings.Repeat("j", MaxIDBytes+1), Reason: "r"}, cairn.EInvalid, "id"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "subject", ID: "", Reason: "r"}, cairn.EInvalid, "id"},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "job", ID: "nope", Reason: "r"}, cairn.ENotFound, ""},
		{hAuditor, cairn.PlaceHoldRequest{Scope: "tenant", ID: "acme", Reason: "r"}, cairn.ENotFound, ""},
		// Another tenant's job and run are not found from acme.
		{other, cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: "r"}, cairn.ENotFound, ""},
		{other, cairn.PlaceHoldRequest{Scope: "run", ID: "j1", Reason: "r"}, cairn.ENotFound, ""},
	} {
		_, err := h.s.PlaceHold(h.ctx, tc.p, tc.req)
		wantErr(t, tc.req.Scope+"/"+tc.req.ID, err, tc.code, tc.field)
	}
	hold, err := h.s.PlaceHold(h.ctx, hAuditor, cairn.PlaceHoldRequest{Scope: "subject", ID: "alice", Reason: "DSAR dispute"})
	if err != nil || hold.Status != cairn.HoldActive || hold.Ledger == nil || hold.PlacedBy != "auditor" {
		t.Fatalf("place: %+v, %v", hold, err)
	}
	tenantHold, err := h.s.PlaceHold(h.ctx, hAdmin, cairn.PlaceHoldRequest{Scope: "tenant", ID: "default", Reason: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	err = h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
		got, err := HeldBy(tx, "default", "j9", "", "alice")
		if err != nil || got == nil {
			t.Fatalf("HeldBy(subject alice) = %+v, %v", got, err)
		}
		got, err = HeldBy(tx, "acme", "j1", "", "alice")
		if err != nil || got != nil {
			t.Fatalf("HeldBy(another tenant) = %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg := LegalHoldError(hold).Error(); !strings.Contains(msg, hold.HoldID) || cairn.ErrorCode(LegalHoldError(hold)) != cairn.CodeLegalHold {
		t.Fatalf("legal hold error %q", msg)
	}

	_, err = h.s.ReleaseHold(h.ctx, hAuditor, hold.HoldID, cairn.ReleaseHoldRequest{Reason: "done"})
	wantErr(t, "auditor release", err, cairn.EForbidden, "")
	_, err = h.s.ReleaseHold(h.ctx, hAdmin, hold.HoldID, cairn.ReleaseHoldRequest{})
	wantErr(t, "release without a reason", err, cairn.EInvalid, "reason")
	_, err = h.s.ReleaseHold(h.ctx, hAdmin, "hold_nope", cairn.ReleaseHoldRequest{Reason: "x"})
	wantErr(t, "unknown hold", err, cairn.ENotFound, "")
	_, err = h.s.ReleaseHold(h.ctx, hAdmin, "bad id!", cairn.ReleaseHoldRequest{Reason: "x"})
	wantErr(t, "bad hold id", err, cairn.EInvalid, "hold_id")
	_, err = h.s.ReleaseHold(h.ctx, cairn.Principal{Tenant: "acme", ID: "a", Roles: []string{cairn.RoleAdmin}}, hold.HoldID, cairn.ReleaseHoldRequest{Reason: "x"})
	wantErr(t, "another tenant's release", err, cairn.ENotFound, "")
	rel, err := h.s.ReleaseHold(h.ctx, hAdmin, hold.HoldID, cairn.ReleaseHoldRequest{Reason: "dispute settled"})
	if err != nil || rel.Status != cairn.HoldReleased || string(rel.ReleaseReason) != "dispute settled" || rel.ReleaseLedger == nil {
		t.Fatalf("release: %+v, %v", rel, err)
	}
	_, err = h.s.ReleaseHold(h.ctx, hAdmin, hold.HoldID, cairn.ReleaseHoldRequest{Reason: "again"})
	wantErr(t, "double release", err, cairn.EConflict, "")

	hs, err := h.s.ListHolds(h.ctx, hAuditor, cairn.HoldFilter{Page: cairn.Page{Limit: 10}})
	if err != nil || len(hs) != 2 || hs[0].HoldID != tenantHold.HoldID {
		t.Fatalf("list: %+v, %v", hs, err)
	}
	_, err = h.s.ListHolds(h.ctx, hAgent, cairn.HoldFilter{Page: cairn.Page{Limit: 10}})
	wantErr(t, "agent list", err, cairn.EForbidden, "")
	got := h.ledgerTypes()
	if strings.Count(got, cairn.EventHoldPlaced) != 2 || strings.Count(got, cairn.EventHoldReleased) != 1 {
		t.Fatalf("hold events in the ledger: %s", got)
	}

	// A tenant hold stops compaction altogether.
	withLedgerKey(t, h)
	if _, err := h.s.IssueCheckpoint(h.ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if err := h.s.SetRetention(200*day, false); err != nil {
		t.Fatal(err)
	}
	h.advance(300 * day)
	if cs, err := h.s.Compact(h.ctx); err != nil || len(cs) != 0 {
		t.Fatalf("compaction under a tenant hold: %+v, %v", cs, err)
	}
	if _, err := h.s.ReleaseHold(h.ctx, hAdmin, tenantHold.HoldID, cairn.ReleaseHoldRequest{Reason: "audit over"}); err != nil {
		t.Fatal(err)
	}
	if cs, err := h.s.Compact(h.ctx); err != nil || len(cs) != 1 {
		t.Fatalf("compaction after the release: %+v, %v", cs, err)
	}
}
