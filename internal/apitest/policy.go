package apitest

// ApprovalPolicy is a small policy for tests of the evidence loop: writes
// need an approver, reads are allowed, everything else is denied, and a
// result holding a secret is quarantined.
const ApprovalPolicy = `default: deny
rules:
  - id: writes-need-approval
    match: {actions: ["db.write"]}
    decision: REQUIRE_APPROVAL
    reason: Writes need approval
    approval: {approver_roles: [approver], expires_in: 1h}
  - id: reads-are-fine
    match: {actions: ["db.read"]}
    decision: ALLOW
    reason: Read-only
output_rules:
  - id: out-secrets
    scanners: [secrets]
    decision: QUARANTINE
`
