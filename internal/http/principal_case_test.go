package http_test

import (
	"context"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
)

// legacyKey stores a key the way keys were made before principal ids were
// canonicalised (no check against case-only twins), and registers it.
func (e *env) legacyKey(principal, kind string, roles ...string) {
	e.T.Helper()
	secret := "cairn_legacy_" + principal + "_0123456789abcdef"
	err := e.Store.Update(context.Background(), func(tx cairn.Tx) error {
		return tx.InsertKey(&cairn.Key{KeyID: "key_legacy_" + principal, Tenant: "default", Principal: principal, Kind: kind,
			Roles: roles, Hash: service.HashKey(secret), CreatedAt: cairn.Now(), CreatedBy: "admin"})
	})
	if err != nil {
		e.T.Fatal(err)
	}
	e.Keys[principal] = secret
}

// TestPrincipalIdsIgnoreCase: a key cannot be made for a principal that
// differs from an existing one by case only, and keys that already do
// (made before) cannot approve their twin's jobs or count as a second
// approver of a gate (issue 11 §3.10).
func TestPrincipalIdsIgnoreCase(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Key("agent-7", "agent", "agent")
	e.ErrCode("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "Agent-7", Kind: "human", Roles: []string{"approver"}}, 409, cairn.CodePrincipalCase)
	e.ErrCode("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "MANAGER-2", Kind: "human", Roles: []string{"approver"}}, 409, cairn.CodePrincipalCase)
	// Another key for the same principal (rotation) is fine.
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "agent-7", Kind: "agent", Roles: []string{"agent"}}, 201, nil)

	// Twins made before the check still work, but are one principal to
	// separation of duties.
	e.legacyKey("Agent-7", "human", "approver")
	e.legacyKey("Manager-2", "human", "approver")
	j := e.Submit("agent-7", cairn.SubmitRequest{JobID: "j-w", Action: "db.write", Labels: map[string]string{"env": "prod"}})
	e.ErrCode("Agent-7", "POST", "/api/v1/approvals/j-w/approve", cairn.ResolveRequest{JobHash: j.JobHash}, 403, cairn.CodeSelfApprovalForbidden)

	w := e.register(`name: two-keys
steps:
  - id: apply
    action: tool.apply
    gate: {approver_roles: [approver], quorum: 2}
`)
	r := e.startRun("agent-7", "run-7", w.WorkflowID, nil)
	vote := cairn.GateVoteRequest{JobHash: r.Step("apply").Gate.JobHash}
	path := "/api/v1/workflow-runs/run-7/steps/apply/approve"
	e.ErrCode("Agent-7", "POST", path, vote, 403, cairn.CodeSelfApprovalForbidden)
	e.MustDo("manager-2", "POST", path, vote, 200, nil)
	e.ErrCode("Manager-2", "POST", path, vote, 409, cairn.CodeAlreadyVoted)
	if r = e.Run("run-7"); len(r.Step("apply").Gate.Votes) != 1 || r.Step("apply").Status != cairn.StepWaitingApproval {
		t.Fatalf("gate after a twin's vote: %+v", r.Step("apply").Gate)
	}
}
