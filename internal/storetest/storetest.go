// Package storetest is the conformance suite every cairn.Store passes: the
// embedded SQLite store always, PostgreSQL when CAIRN_TEST_POSTGRES names a
// database. It checks each store operation's results and error codes, the
// isolation of failing Updates, the ledger (gap-free indexes, hash chain,
// timelines, Merkle nodes and proofs), checkpoints, workflows and workflow
// runs (listings, due runs, and that a failed Update's run writes reach no
// cache), and races: two writers on one job, one lease, one approval or one
// run, and concurrent appends from many connections.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) cairn.Store { return openFresh(t) })
//		storetest.RunShared(t, func(t *testing.T) func() cairn.Store { … })
//	}
package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// Run runs the suite. open returns a fresh, empty store; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) cairn.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s cairn.Store)
	}{
		{"TenantsAndKeys", testTenantsAndKeys},
		{"Jobs", testJobs},
		{"JobConflictKeepsTransaction", testJobConflict},
		{"ListJobsFilters", testListJobs},
		{"LeasableJobs", testLeasableJobs},
		{"JobRowsReadBack", testJobRowsReadBack},
		{"Payloads", testPayloads},
		{"PayloadKeys", testPayloadKeys},
		{"ErasePayloads", testErasePayloads},
		{"PayloadRows", testPayloadRows},
		{"TenantSettings", testTenantSettings},
		{"CompactErased", testCompactErased},
		{"Approvals", testApprovals},
		{"Runs", testRuns},
		{"Workflows", testWorkflows},
		{"WorkflowRunFields", testWorkflowRunFields},
		{"ListRuns", testListRuns},
		{"DueRunsAndDeadline", testDueRuns},
		{"FailedRunUpdateLeavesNoTrace", testRunUpdateFails},
		{"PolicySnapshotsAndAudit", testPolicy},
		{"LedgerAppend", testLedgerAppend},
		{"LedgerReadsInsideUpdate", testLedgerInsideUpdate},
		{"EventsAndDecisions", testEvents},
		{"MerkleTree", testMerkle},
		{"Checkpoints", testCheckpoints},
		{"Deadlines", testDeadlines},
		{"UpdateIsolation", testUpdateIsolation},
		{"AfterCommit", testAfterCommit},
		{"CancelledContext", testCancelled},
		{"ConcurrentAppends", testConcurrentAppendsOne},
		{"Holds", testHolds},
		{"TenantRetention", testTenantRetention},
		{"Compaction", testCompaction},
		{"BodyBatches", testBodyBatches},
		{"CompactionBatchRows", testCompactionBatchRows},
		{"TimelinePruned", testTimelinePruned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// RunShared runs the races. open prepares one fresh, empty database and
// returns a function that opens a store on it; each call may return a new
// store with its own connections (PostgreSQL: a replica) or the same one
// (SQLite: one process). The suite closes what it opens once per distinct
// store.
func RunShared(t *testing.T, open func(t *testing.T) func() cairn.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, stores []cairn.Store)
	}{
		{"TwoWritersOneJob", testRaceJob},
		{"TwoWritersOneLease", testRaceLease},
		{"TwoWritersOneApproval", testRaceApproval},
		{"RunCompletion", testRaceRunCompletion},
		{"FirstRunJobs", testRaceRunStart},
		{"RunStepAppends", testRaceRunSteps},
		{"RunRollbackNotCached", testRaceRunRollback},
		{"GapFreeLedgerManyConnections", testRaceLedger},
		{"QueuedNotification", testNotifier},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			another := open(t)
			var stores []cairn.Store
			seen := map[cairn.Store]bool{}
			for i := 0; i < 4; i++ {
				s := another()
				stores = append(stores, s)
				if !seen[s] {
					seen[s] = true
					t.Cleanup(func() { s.Close() })
				}
			}
			tc.fn(t, stores)
		})
	}
}

// --- helpers ---

var ctx = context.Background()

func update(t *testing.T, s cairn.Store, fn func(tx cairn.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, s cairn.Store, fn func(tx cairn.ReadTx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := cairn.ErrorCode(err); got != code {
		t.Fatalf("err = %v (code %s), want code %s", err, got, code)
	}
}

// base is a fixed instant, at microsecond precision, in UTC.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

func job(tenant, id string, state string, sec int) *cairn.Job {
	return &cairn.Job{
		JobID: id, Tenant: tenant, TraceID: "trace-" + id, Action: "db.read", Labels: map[string]string{"env": "test"},
		RiskTags: []string{}, SubmittedBy: "agent-1", SubmitterKind: cairn.KindAgent, SubmitterRoles: []string{cairn.RoleAgent},
		State: state, Decision: cairn.Allow, PolicyRuleID: "reads", PolicyReason: "reads are fine",
		JobHash: strings.Repeat("a", 64), ContextPtr: cairn.ContextPtr(id), ContextSHA256: strings.Repeat("b", 64),
		CreatedAt: at(sec), UpdatedAt: at(sec),
	}
}

func event(tenant, typ, run, jobID string, i int) *cairn.Event {
	return &cairn.Event{Tenant: tenant, Type: typ, Timestamp: at(i), RunID: cairn.Opt(run), JobID: cairn.Opt(jobID), Actor: "test", Data: map[string]any{"i": i}}
}

func approval(tenant, jobID string, sec int, expires *time.Time) *cairn.Approval {
	return &cairn.Approval{
		ApprovalID: "apr_" + jobID, Tenant: tenant, JobID: jobID, Action: "db.write", Decision: cairn.RequireApproval,
		DecisionID: "dec_" + jobID, PolicyRuleID: "writes", PolicyReason: "writes need approval", JobHash: strings.Repeat("c", 64),
		ApprovalRequired: true, ApproverRoles: []string{cairn.RoleApprover}, RequestedBy: "agent-1", RequestedAt: at(sec),
		ExpiresAt: expires, Status: cairn.ApprovalPending,
	}
}

func jobIDs(js []*cairn.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.JobID
	}
	return out
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func eqList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

var errBoom = errors.New("boom")

func ptr[T any](v T) *T { return &v }
