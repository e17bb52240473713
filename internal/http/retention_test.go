package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	ledgerbundle "github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// TestHoldsAPI: legal holds over HTTP, with the hostile cases: a hold on
// another tenant's run, bad scope, a release without a reason, by a
// non-admin, of an unknown hold, twice, and huge or hostile strings.
func TestHoldsAPI(t *testing.T) {
	e := newEnv(t)
	e.publish("default: allow\n")
	run := "run-held-1"
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j1", RunID: run, Action: "tool.x", Input: json.RawMessage(`{}`)})
	var b cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "b-admin", Kind: "human", Roles: []string{"admin"}, Tenant: "tenant-b"}, 201, &b)
	e.Keys["b-admin"] = b.Key

	place := func(as string, req any, status int, code string) {
		t.Helper()
		e.ErrCode(as, "POST", "/api/v1/holds", req, status, code)
	}
	place("b-admin", cairn.PlaceHoldRequest{Scope: "run", ID: run, Reason: "not yours"}, 404, cairn.ENotFound)
	place("b-admin", cairn.PlaceHoldRequest{Scope: "job", ID: "j1", Reason: "not yours"}, 404, cairn.ENotFound)
	place("b-admin", cairn.PlaceHoldRequest{Scope: "tenant", ID: "default", Reason: "not yours"}, 404, cairn.ENotFound)
	place("agent-1", cairn.PlaceHoldRequest{Scope: "run", ID: run, Reason: "r"}, 403, cairn.EForbidden)
	place("manager-2", cairn.PlaceHoldRequest{Scope: "run", ID: run, Reason: "r"}, 403, cairn.EForbidden)
	place("auditor-1", cairn.PlaceHoldRequest{Scope: "everything", ID: run, Reason: "r"}, 400, cairn.EInvalid)
	place("auditor-1", cairn.PlaceHoldRequest{Scope: "run", ID: run}, 400, cairn.EInvalid)
	place("auditor-1", cairn.PlaceHoldRequest{Scope: "run", ID: run, Reason: strings.Repeat("€", 2000)}, 400, cairn.EInvalid)
	place("auditor-1", cairn.PlaceHoldRequest{Scope: "subject", ID: "a\u0000b", Reason: "r"}, 400, cairn.EInvalid)
	place("auditor-1", `{"scope":"run","id":"`+run+`","reason":"r","extra":1}`, 400, cairn.EInvalid)
	place("auditor-1", strings.Repeat("[", 100000), 400, cairn.EInvalid)
	place("auditor-1", `{"scope":"run","id":"`+strings.Repeat("x", 2<<20)+`","reason":"r"}`, 413, cairn.ETooLarge)

	var h cairn.Hold
	e.MustDo("auditor-1", "POST", "/api/v1/holds", cairn.PlaceHoldRequest{Scope: "run", ID: run, Reason: "litigation 2026-17"}, 201, &h)
	if h.Status != cairn.HoldActive || h.ID != run || h.PlacedBy != "auditor-1" || h.Ledger == nil {
		t.Fatalf("hold: %+v", h)
	}
	var bh cairn.Hold
	e.MustDo("b-admin", "POST", "/api/v1/holds", cairn.PlaceHoldRequest{Scope: "tenant", ID: "tenant-b", Reason: "b's own"}, 201, &bh)

	var list cairn.List[*cairn.Hold]
	e.MustDo("auditor-1", "GET", "/api/v1/holds?active=true", nil, 200, &list)
	if len(list.Items) != 1 || list.Items[0].HoldID != h.HoldID {
		t.Fatalf("default's holds: %+v", list.Items)
	}
	e.ErrCode("auditor-1", "GET", "/api/v1/holds?active=maybe", nil, 400, cairn.EInvalid)
	e.ErrCode("agent-1", "GET", "/api/v1/holds", nil, 403, cairn.EForbidden)

	rel := "/api/v1/holds/" + h.HoldID + "/release"
	e.ErrCode("admin", "POST", rel, cairn.ReleaseHoldRequest{}, 400, cairn.EInvalid)
	e.ErrCode("admin", "POST", rel, `{"reason":"\u0007bell"}`, 400, cairn.EInvalid)
	e.ErrCode("auditor-1", "POST", rel, cairn.ReleaseHoldRequest{Reason: "done"}, 403, cairn.EForbidden)
	e.ErrCode("b-admin", "POST", rel, cairn.ReleaseHoldRequest{Reason: "done"}, 404, cairn.ENotFound)
	e.ErrCode("admin", "POST", "/api/v1/holds/hold_0000/release", cairn.ReleaseHoldRequest{Reason: "done"}, 404, cairn.ENotFound)
	e.ErrCode("admin", "POST", "/api/v1/holds/"+strings.Repeat("h", 300)+"/release", cairn.ReleaseHoldRequest{Reason: "done"}, 400, cairn.EInvalid)
	var released cairn.Hold
	e.MustDo("admin", "POST", rel, cairn.ReleaseHoldRequest{Reason: "case settled"}, 200, &released)
	if released.Status != cairn.HoldReleased || string(released.ReleasedBy) != "admin" || released.ReleaseLedger == nil {
		t.Fatalf("released: %+v", released)
	}
	e.ErrCode("admin", "POST", rel, cairn.ReleaseHoldRequest{Reason: "again"}, 409, cairn.EConflict)
	e.MustDo("auditor-1", "GET", "/api/v1/holds?active=true", nil, 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("active holds after release: %+v", list.Items)
	}
}

// TestRetentionAPI: the tenant's retention over HTTP, the floor, and a
// compaction's effects on reads: 410 pruned_by_retention naming the
// compaction, pruned ledger entries, and an export that verifies and
// lists them.
func TestRetentionAPI(t *testing.T) {
	e := newEnv(t)
	e.publish("default: allow\n")
	var v cairn.RetentionView
	e.MustDo("auditor-1", "GET", "/api/v1/tenant/retention", nil, 200, &v)
	if v.Source != "none" || v.Floor != "183d" {
		t.Fatalf("initial retention: %+v", v)
	}
	e.ErrCode("auditor-1", "PUT", "/api/v1/tenant/retention", cairn.SetRetentionRequest{Retention: "400d", Reason: "r"}, 403, cairn.EForbidden)
	status, raw := e.Do("admin", "PUT", "/api/v1/tenant/retention", cairn.SetRetentionRequest{Retention: "30d", Reason: "r"})
	if status != 400 || !strings.Contains(string(raw), "183") || !strings.Contains(string(raw), `"field":"retention"`) {
		t.Fatalf("below the floor: %d %s", status, raw)
	}
	e.ErrCode("admin", "PUT", "/api/v1/tenant/retention", cairn.SetRetentionRequest{Retention: "400d"}, 400, cairn.EInvalid)
	e.MustDo("admin", "PUT", "/api/v1/tenant/retention", cairn.SetRetentionRequest{Retention: "400d", Reason: "records policy"}, 200, &v)
	if v.Retention != "400d" || v.Source != "tenant" || v.Ledger == nil {
		t.Fatalf("set: %+v", v)
	}

	// A server allowed below the floor, with a tiny retention: the job is
	// past it as soon as a checkpoint covers it.
	if err := e.Svc.SetRetention(time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	e.MustDo("admin", "PUT", "/api/v1/tenant/retention", cairn.SetRetentionRequest{Retention: "1ms", Reason: "test"}, 200, &v)
	if !v.BelowFloor {
		t.Fatalf("below floor not reported: %+v", v)
	}
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "gone", RunID: "run-gone", Action: "tool.x", Input: json.RawMessage(`{"secret":"s"}`)})
	lease := e.Lease("tool.x")[0]
	e.MustDo("worker-1", "POST", "/api/v1/jobs/gone/complete", cairn.CompleteRequest{LeaseID: lease.LeaseID, Status: "succeeded", Result: json.RawMessage(`{"ok":1}`)}, 200, nil)
	ctx := context.Background()
	if _, err := e.Svc.IssueCheckpoint(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // past a 1 ms retention (no test waits for days)
	cs, err := e.Svc.Compact(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("compaction: %+v, %v", cs, err)
	}
	for _, path := range []string{"/api/v1/jobs/gone", "/api/v1/jobs/gone/context", "/api/v1/jobs/gone/result", "/api/v1/jobs/gone/evidence", "/api/v1/jobs/gone/decisions"} {
		status, raw := e.Do("auditor-1", "GET", path, nil)
		var eb struct {
			Error struct {
				Code        string  `json:"code"`
				LedgerIndex *uint64 `json:"ledger_index"`
			} `json:"error"`
		}
		json.Unmarshal(raw, &eb)
		if status != 410 || eb.Error.Code != cairn.CodePrunedByRetention || eb.Error.LedgerIndex == nil || *eb.Error.LedgerIndex != cs[0].Event {
			t.Fatalf("GET %s: %d %s, want 410 naming entry %d", path, status, raw, cs[0].Event)
		}
	}
	e.ErrCode("agent-1", "GET", "/api/v1/jobs/gone", nil, 404, cairn.ENotFound)
	checkPrunedTimeline(t, e, "run-gone", cs[0].Event)

	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	pruned := 0
	for _, en := range entries.Items {
		if en.Pruned {
			pruned++
			if len(en.Body) != 0 && string(en.Body) != "null" || len(en.LeafHash) != 64 {
				t.Fatalf("pruned entry %d: body %s leaf %q", en.Index, en.Body, en.LeafHash)
			}
		}
	}
	if pruned == 0 {
		t.Fatal("no pruned entry in /ledger/entries")
	}
	status, raw = e.Do("auditor-1", "GET", "/api/v1/events?limit=1000", nil)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	feedPruned := 0
	for sc.Scan() {
		var line struct {
			Pruned bool `json:"pruned"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("event feed line %q: %v", sc.Text(), err)
		}
		if line.Pruned {
			feedPruned++
		}
	}
	if status != 200 || feedPruned != pruned {
		t.Fatalf("event feed: %d, %d pruned lines, want %d", status, feedPruned, pruned)
	}

	status, raw = e.Do("auditor-1", "GET", "/api/v1/evidence/export", nil)
	if status != 200 {
		t.Fatalf("export: %d %s", status, raw)
	}
	bundle, err := ledgerbundle.UnmarshalBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Bundle(bundle, verify.Options{})
	if err != nil || rep.Pruned != pruned {
		t.Fatalf("verify: %v, pruned %d, want %d", err, rep.Pruned, pruned)
	}
	e.ErrCode("auditor-1", "GET", "/api/v1/evidence/export?job_id=gone", nil, 410, cairn.CodePrunedByRetention)
	// A run export lists the run's pruned entries.
	status, raw = e.Do("auditor-1", "GET", "/api/v1/evidence/export?run_id=run-gone", nil)
	if status != 200 {
		t.Fatalf("run export: %d %s", status, raw)
	}
	if bundle, err = ledgerbundle.UnmarshalBundle(raw); err != nil {
		t.Fatal(err)
	}
	if rep, err = verify.Bundle(bundle, verify.Options{}); err != nil || rep.Pruned < 3 || rep.Pruned != len(bundle.Entries) {
		t.Fatalf("run export verify: %v, pruned %d of %d entries", err, rep.Pruned, len(bundle.Entries))
	}
	var vr verify.Report
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/verify", nil, 200, &vr)
	if !vr.OK || vr.Pruned != pruned {
		t.Fatalf("server-side verify: ok %v pruned %d, problems %+v", vr.OK, vr.Pruned, vr.Problems)
	}
}

// checkPrunedTimeline: a fully pruned run's timeline lists every event as
// a marker naming the compaction, in seq order, also across pages (the
// job_id of each but the run_completed event).
func checkPrunedTimeline(t *testing.T, e *env, runID string, by uint64) {
	t.Helper()
	var all []json.RawMessage
	for after := ""; ; {
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		e.MustDo("auditor-1", "GET", "/api/v1/workflow-runs/"+runID+"/timeline?limit=2"+after, nil, 200, &page)
		all = append(all, page.Items...)
		if page.NextCursor == nil || len(page.Items) == 0 {
			break
		}
		after = "&cursor=" + *page.NextCursor
	}
	if len(all) < 3 {
		t.Fatalf("pruned run's timeline has %d events, want its 3 or more as markers", len(all))
	}
	for k, raw := range all {
		var m struct {
			Seq      int64  `json:"seq"`
			Type     string `json:"type"`
			RunID    string `json:"run_id"`
			JobID    string `json:"job_id"`
			Pruned   bool   `json:"pruned"`
			PrunedBy uint64 `json:"pruned_by"`
			Ledger   struct {
				Index    *uint64 `json:"index"`
				LeafHash string  `json:"leaf_hash"`
			} `json:"ledger"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Seq != int64(k+1) || m.Type == "" || m.RunID != runID || m.JobID != "gone" && m.Type != "run_completed" || !m.Pruned || m.PrunedBy != by || m.Ledger.Index == nil || len(m.Ledger.LeafHash) != 64 {
			t.Fatalf("timeline item %d: %s, want a marker pruned by %d", k, raw, by)
		}
	}
}
