package http_test

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

const writesPolicy = `default: deny
rules:
  - id: prod-writes
    match: {actions: ["db.write"]}
    decision: REQUIRE_APPROVAL
    reason: Production writes need approval
    approval: {approver_roles: [%s], expires_in: 24h}
`

// TestApprovalUnderLoosenedRuleDoesNotDispatch: an approval counts at
// dispatch only if its approver's roles (recorded when it approved) still
// qualify under the approval block of the rule in force (issue 11 §3.10).
func TestApprovalUnderLoosenedRuleDoesNotDispatch(t *testing.T) {
	e := newEnv(t)
	e.publish(strings.Replace(writesPolicy, "%s", "approver, policy_admin", 1))
	j1 := e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-by-approver", Action: "db.write"})
	j2 := e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-by-polly", Action: "db.write"})
	var a cairn.Approval
	e.MustDo("manager-2", "POST", "/api/v1/approvals/j-by-approver/approve", cairn.ResolveRequest{JobHash: j1.JobHash}, 200, &a)
	if strings.Join(a.ResolverRoles, ",") != "approver" {
		t.Fatalf("resolver_roles %v", a.ResolverRoles)
	}
	e.MustDo("polly", "POST", "/api/v1/approvals/j-by-polly/approve", cairn.ResolveRequest{JobHash: j2.JobHash}, 200, nil)

	// The rule is tightened: only policy_admin may approve now.
	e.publish(strings.Replace(writesPolicy, "%s", "policy_admin", 1))
	leased := e.Lease("db.*")
	if len(leased) != 1 || leased[0].JobID != "j-by-polly" {
		t.Fatalf("leased %d jobs (%v); want only j-by-polly", len(leased), leased)
	}
	j := e.job("j-by-approver")
	if j.State != cairn.StateDenied {
		t.Fatalf("j-by-approver is %s; want DENIED", j.State)
	}
	var evs struct {
		Events []*cairn.Event `json:"events"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/j-by-approver/evidence", nil, 200, &evs)
	var why string
	for _, ev := range evs.Events {
		if ev.Type == cairn.EventJobStateChanged {
			why, _ = ev.DataMap()["reason"].(string)
		}
	}
	if !strings.Contains(why, "manager-2") || !strings.Contains(why, "policy_admin") {
		t.Fatalf("the denial's evidence says %q; want who approved and the roles the rule now needs", why)
	}
	e.verifyLedger()
}
