package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/cairnhq/cairn"
)

// Two policies that decide db.flip oppositely.
const (
	flipAllow = "default: deny\nrules:\n  - id: flip-allowed\n    match: {actions: [\"db.flip\"]}\n    decision: ALLOW\n    reason: allowed\n"
	flipDeny  = "default: deny\nrules:\n  - id: flip-denied\n    match: {actions: [\"db.flip\"]}\n    decision: DENY\n    reason: forbidden\n"
)

type policyEntry struct {
	Event struct {
		Type           string  `json:"type"`
		JobID          *string `json:"job_id"`
		Decision       string  `json:"decision"`
		PolicySnapshot string  `json:"policy_snapshot"`
	} `json:"event"`
}

// TestReplicasDecideUnderPolicyInForce publishes through one replica and
// at once, with no sleep, submits and leases through the two others; then
// rolls back through another and submits through the rest; 200 rounds.
// Every decision must name the snapshot in force when it committed: the
// one the last publish or rollback before it in the ledger activated
// (issue 11 §1; ADR 0012).
func TestReplicasDecideUnderPolicyInForce(t *testing.T) {
	c := newCluster(t, 3)
	k := setupReplicas(t, c)
	A, B, C := c.procs[0], c.procs[1], c.procs[2]
	var allow, deny cairn.PolicyChange
	mustCall(t, A.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: flipAllow}, &allow, 201)
	mustCall(t, A.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: flipDeny}, &deny, 201)
	mustCall(t, B.base, testAdminKey, "POST", "/api/v1/policy/rollback", cairn.RollbackRequest{To: allow.PolicySnapshot}, nil, 200)

	submit := func(p *proc, id, want, snapshot string, wg *sync.WaitGroup) {
		defer wg.Done()
		var j cairn.Job
		st, err := call(p.base, k.agent, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: id, Action: "db.flip", Input: json.RawMessage(`{}`)}, &j)
		if err != nil || st != 201 {
			t.Errorf("submit %s: %d %v", id, st, err)
			return
		}
		if j.Decision != want || string(j.PolicySnapshot) != snapshot {
			t.Errorf("job %s decided %s under %s; want %s under %s, the snapshot in force", id, j.Decision, j.PolicySnapshot, want, snapshot)
		}
	}
	const rounds = 200
	for i := 0; i < rounds && !t.Failed(); i++ {
		// Publish the denying policy on A; at once submit on B and C and
		// lease on C the jobs the allowing policy queued last round.
		mustCall(t, A.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: flipDeny}, nil, 201)
		var wg sync.WaitGroup
		wg.Add(3)
		go submit(B, fmt.Sprintf("d%d-b", i), cairn.Deny, deny.PolicySnapshot, &wg)
		go submit(C, fmt.Sprintf("d%d-c", i), cairn.Deny, deny.PolicySnapshot, &wg)
		go func() {
			defer wg.Done()
			jobs, st, err := lease(C.base, k.worker, []string{"db.flip"}, 0, 0)
			if err != nil || st != 200 || len(jobs) != 0 {
				t.Errorf("lease on C right after a denying publish on A: %d %v, %d jobs leased", st, err, len(jobs))
			}
		}()
		wg.Wait()
		// Roll back to the allowing policy on B; at once submit on A and C.
		mustCall(t, B.base, testAdminKey, "POST", "/api/v1/policy/rollback", cairn.RollbackRequest{To: allow.PolicySnapshot}, nil, 200)
		wg.Add(2)
		go submit(A, fmt.Sprintf("a%d-a", i), cairn.Allow, allow.PolicySnapshot, &wg)
		go submit(C, fmt.Sprintf("a%d-c", i), cairn.Allow, allow.PolicySnapshot, &wg)
		wg.Wait()
	}
	if t.Failed() {
		return
	}
	// The ledger holds every decision in commit order: each names the
	// snapshot activated last before it.
	es := ledgerEntries(t, A.base, testAdminKey)
	inForce, decisions := "", 0
	for _, e := range es {
		var b policyEntry
		if err := json.Unmarshal(e.Body, &b); err != nil {
			t.Fatal(err)
		}
		switch b.Event.Type {
		case cairn.EventPolicyPublished, cairn.EventPolicyRolledBack:
			inForce = b.Event.PolicySnapshot
		case cairn.EventPolicyDecided:
			decisions++
			if b.Event.PolicySnapshot != inForce {
				t.Fatalf("ledger entry %d: job %s decided under %s while %s was in force", e.Index, *b.Event.JobID, b.Event.PolicySnapshot, inForce)
			}
		}
	}
	// 4 submits a round, plus a dispatch decision for each job the
	// allowing policy queued (leased, then denied, the round after).
	if least := 4 * rounds; decisions < least {
		t.Fatalf("%d decisions in the ledger, want at least %d", decisions, least)
	}
	t.Logf("%d rounds: %d decisions, each under the snapshot in force when it committed", rounds, decisions)
}
