// Package policy compiles and evaluates Cairn policy bundles: YAML documents
// that decide, for every agent action (a job), ALLOW, DENY, REQUIRE_APPROVAL
// or ALLOW_WITH_CONSTRAINTS, and that name the output scanners run over a
// job's result.
//
// # Bundle format
//
//	version: 1                 # optional; the only version is 1
//	default: deny              # deny | allow | require_approval, or a mapping
//	                           # {decision, reason, approval, constraints}; omitted = deny
//	rules:
//	  - id: prod-write-needs-approval        # required, unique, [A-Za-z0-9._:-]{1,128}, not "default"
//	    description: free text               # optional
//	    match:                               # optional; every key given must hold
//	      actions: ["db.write", "db.*"]      # action matches any glob
//	      resources: ["prod/*"]              # resource matches any glob; a job without a resource never matches
//	      labels: {env: prod}                # each label present and equal (case-sensitive)
//	      risk_tags: [pii]                   # the job carries all of these
//	      any_risk_tags: [pii, secrets]      # the job carries at least one of these
//	      principal:                         # every sub-key given must hold
//	        kinds: [agent]                   # human | agent | service; any of
//	        roles: [agent]                   # the key holds any of these roles, literally
//	        ids: ["bot-*"]                   # principal id matches any glob
//	    when: 'input.amount > 10000'         # optional CEL, must type-check to bool
//	    decision: REQUIRE_APPROVAL           # ALLOW | DENY | REQUIRE_APPROVAL | ALLOW_WITH_CONSTRAINTS
//	    reason: Production writes need manager approval   # required
//	    approval: {approver_roles: [approver], expires_in: 24h}  # REQUIRE_APPROVAL only, and required there
//	    constraints: {max_rows: 100}         # ALLOW_WITH_CONSTRAINTS only, and required there
//	output_rules:
//	  - id: out-safe-1                       # required, unique among output rules
//	    scanners: [secrets, pii, prompt_injection, regex]
//	    patterns: ['(?i)internal-only']      # required iff regex is a scanner; Go RE2 syntax; <= 20, each <= 1000 bytes
//	    actions: ["db.*"]                    # optional globs; omitted = every action
//	    decision: QUARANTINE                 # ALLOW | REDACT | QUARANTINE
//
// Decision words are case-insensitive (deny and DENY are the same) and are
// recorded in upper case. A list of strings may be written as a single string.
// A rule without match and when applies to every job.
//
// approval.approver_roles is a non-empty list of Cairn roles; expires_in is
// optional, a Go duration (90m, 24h, 1h30m) or a whole number of days with an
// optional Go duration after it (7d, 1d12h), greater than zero and at most
// 365d. The scalar default "require_approval" means approver_roles
// [approver] with no expiry. constraints is a non-empty mapping; it is handed
// to the worker as RFC 8785 canonical JSON (Evaluation.Constraints); integers
// must lie within ±2^53.
//
// # Evaluation
//
// Rules are tried in order; the first whose match and when both hold
// decides. If none does, the default decides: the Evaluation then has
// RuleID "default" (DefaultRuleID) and DefaultRule true, which is why no rule
// may be called "default". Evaluation.Trace has one entry per rule tried, up
// to and including the decider, each saying why it matched or not; when the
// default decides, a last entry with RuleID "default" is added. Explanation
// is one sentence, e.g. "rule prod-write-needs-approval matched: action
// db.write matches db.write; label env=prod".
//
// When no bundle is published, NoPolicy gives the deny-all evaluation
// (RuleID "", Reason NoPolicyReason).
//
// # Globs
//
// Globs (actions, resources, principal ids, output rule actions) match the
// whole string, case-sensitively. '*' matches any run of characters,
// including none and including '.' and '/'; '?' matches exactly one
// character; '[abc]', '[a-z]', '[^a-z]' (or '[!a-z]') match one character of
// (or not of) a class; '\' escapes the next character. A glob is at most
// 1024 bytes; an empty glob, an unterminated class or a trailing '\' is a
// compile error.
//
// # CEL
//
// when is a CEL expression (cel-go) of at most 4096 bytes that must
// type-check to bool; an expression of type dyn (e.g. `input.flag`) is
// rejected: write `input.flag == true`. Variables:
//
//	job        policy.job: job_id, run_id, workflow_step_id, action, resource,
//	           tenant (string), labels (map(string, string)), risk_tags (list(string));
//	           absent values are "" / empty
//	principal  policy.principal: id, kind, tenant (string), roles (list(string))
//	labels     map(string, string), the job's labels
//	input      dyn, the job's input as decoded JSON (numbers compare across
//	           int and double: input.amount > 10000 works for 10000.5)
//	now        timestamp, the evaluation time (UTC)
//
// job and principal are object types, so a misspelt field (job.actoin) is a
// compile error. Besides the standard library, optional types
// (input.?amount.orValue(0)) and the strings extension (version 4:
// lowerAscii, split, …) are available.
//
// A `when` whose evaluation fails — a missing key (input.amount on an input
// without it), a runtime type error ("20000" > 10000), the cost limit, an
// input too heavy for it, the end of the caller's context — fails closed:
// in a DENY or REQUIRE_APPROVAL rule whose match conditions hold, the rule
// decides, and its trace entry (Matched true) and the explanation name the
// error; in an ALLOW or ALLOW_WITH_CONSTRAINTS rule it does not match and
// the trace says why ("when: no such key: amount"). Use has(input.amount)
// or optional types to test for presence.
//
// Every `when` runs under cel.CostLimit(100,000). An input weighing more
// than 100,000 (one unit per JSON value and object key, one per 10 bytes of
// text) is not given to a `when` that reads input: CEL charges comparisons
// of lists and maps by their length, so over such an input the cost limit
// would no longer bound the work; the `when` fails as above.
// EvaluateContext stops evaluating once its context ends (comprehensions
// look every 100 iterations).
//
// # Errors
//
// Compile returns a *cairn.Error with Status 422 and Code cairn.EPolicy for
// every problem. Line is the 1-based line of the offending YAML node (0 when
// the problem is not at a line, e.g. the bundle is too large) and Message
// starts with "line N: ". Field is a path with 0-based indexes, e.g.
// "rules[2].when" or "output_rules[0].patterns[1]". Rejected: bundles over 1
// MiB, more than 10,000 rules or 1,000 output rules, invalid UTF-8, tabs and
// other control characters, more than one YAML document, YAML anchors,
// aliases and non-standard tags, nesting deeper than 64, unknown or duplicate
// keys (with a "did you mean" hint), and every invalid value above.
//
// A Bundle's snapshot id is "cfg:system:policy#sha256:" + the hex SHA-256 of
// the exact bytes compiled, so `sha256sum policy.yaml` reproduces it.
package policy
