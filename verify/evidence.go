package verify

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cairnhq/cairn/ledger"
)

// jobEvidence is the latest ledger evidence about one job in the bundle.
type jobEvidence struct {
	submitted    *ledger.EventFacts
	submittedIdx uint64

	decision    *ledger.EventFacts // the decision of record (see decide)
	decisionIdx uint64
	// approvalRequired: some decision was REQUIRE_APPROVAL; approved: the
	// latest approval request was resolved "approved".
	approvalRequired, approved bool

	state    string
	stateIdx uint64
	hasState bool

	resolution, resolvedBy string
	resolutionIdx          uint64
	hasResolution          bool

	outputSafety    string
	outputSafetyIdx uint64

	resultPtr, resultSHA256 string
	resultIdx               uint64
}

// evidence cross-checks the events with each other and with the payloads,
// policies and workflow texts: job_hash recomputation and bindings,
// committed payload hashes, referenced policy and workflow texts; and
// collects each job's latest evidence.
func (c *checker) evidence() {
	c.jobs = map[string]*jobEvidence{}
	referenced := map[string]bool{}
	wfReferenced, wfRegistered := map[string]bool{}, map[string]uint64{}
	es := c.b.Entries

	// Pass 1: job_submitted entries.
	for i, f := range c.facts {
		if f != nil && f.Event.Type == ledger.EventJobSubmitted {
			c.submitted(i, &f.Event, referenced)
		}
	}

	// Pass 2: every entry, in index order.
	for i, f := range c.facts {
		if f == nil {
			continue
		}
		idx, ev := es[i].Index, &f.Event
		c.references(idx, ev, es[i].Body, referenced, wfRegistered, wfReferenced)
		if ev.JobID == "" {
			continue
		}
		j := c.job(ev.JobID)
		c.bindings(idx, ev, j)
		j.apply(ev, idx)
	}
	c.unreferencedPayloads(referenced)
	c.unreferencedWorkflows(wfReferenced)
}

// job returns the evidence of job id, created empty on first use.
func (c *checker) job(id string) *jobEvidence {
	j := c.jobs[id]
	if j == nil {
		j = &jobEvidence{}
		c.jobs[id] = j
	}
	return j
}

// submitted checks job_submitted entry i: its data.job, that it is its
// job's only submission, the job's tenant, its context payload and its
// recomputed job_hash.
func (c *checker) submitted(i int, ev *ledger.EventFacts, referenced map[string]bool) {
	idx := c.b.Entries[i].Index
	if ev.Job == nil {
		c.fail(entryErr(idx, ErrBody, "job_submitted without data.job"))
		return
	}
	id := ev.JobID
	if id == "" {
		id = ev.Job.JobID
	}
	if ev.Job.JobID != id {
		c.fail(entryErr(idx, ErrBody, "event job_id %q but data.job.job_id %q", ev.JobID, ev.Job.JobID))
		return
	}
	j := c.job(id)
	if j.submitted != nil {
		c.fail(entryErr(idx, ErrProjection, "job %s already submitted in entry %d", id, j.submittedIdx))
		return
	}
	j.submitted, j.submittedIdx = ev, idx
	if ev.Job.Tenant != c.b.Tenant {
		c.fail(entryErr(idx, ErrTenant, "job %s is for tenant %q, bundle is for %q", id, ev.Job.Tenant, c.b.Tenant))
	}
	if ev.JobHash == "" {
		c.fail(entryErr(idx, ErrJobHash, "job_submitted has no job_hash"))
		return
	}
	if ptr := ev.Job.ContextPtr; ptr != "" {
		referenced[ptr] = true
		c.contextPayload(id, idx, ev, ptr)
	}
	if _, ok := c.contextInput(ev.Job); ok {
		c.jobHashRecomputed(i, id, ev)
	}
}

// contextPayload checks job id's context payload ptr against the
// context_sha256 its job_submitted entry idx committed to, and notes why
// the job_hash cannot be recomputed when it cannot.
func (c *checker) contextPayload(id string, idx uint64, ev *ledger.EventFacts, ptr string) {
	switch p := c.payloads[ptr]; {
	case p == nil:
		c.note("job %s: job_hash not recomputed: context payload %s is not in the bundle", id, ptr)
	case p.Withheld && p.SHA256 == "":
		c.note("job %s: job_hash not recomputed: context payload %s is withheld without a sha256", id, ptr)
	case p.SHA256 != ev.Job.ContextSHA256:
		c.fail(recordErr("payload "+ptr, ErrPayload, "sha256 %s differs from context_sha256 %s committed in entry %d", p.SHA256, ev.Job.ContextSHA256, idx))
	case isErased(p):
		c.rep.JobHashesErased++
		c.note("job %s: job_hash erased, not checked: context payload %s was erased", id, ptr)
	case p.Withheld:
		c.note("job %s: job_hash not recomputed: context payload %s is withheld", id, ptr)
	}
}

// jobHashRecomputed compares the job_hash of job_submitted entry i with
// the one recomputed in the parallel phase.
func (c *checker) jobHashRecomputed(i int, id string, ev *ledger.EventFacts) {
	idx := c.b.Entries[i].Index
	got, err := c.jobHash[i], c.jobHashErr[i]
	switch {
	case err != nil:
		c.fail(entryErr(idx, ErrJobHash, "job %s: cannot recompute job_hash: %v", id, err))
	case got != ev.JobHash:
		c.fail(entryErr(idx, ErrJobHash, "job %s: job_hash %s, but data.job and its context payload give %s", id, ev.JobHash, got))
	default:
		c.rep.JobHashesVerified++
	}
}

// references checks what entry idx refers to: policy snapshot texts, the
// workflow (for workflow events) and the result payload's committed hash.
func (c *checker) references(idx uint64, ev *ledger.EventFacts, body string, referenced map[string]bool, wfRegistered map[string]uint64, wfReferenced map[string]bool) {
	for _, s := range ev.SnapshotRefs() {
		if _, ok := c.policies[s]; !ok {
			c.fail(entryErr(idx, ErrPolicy, "policy snapshot %s is referenced but its text is not in the bundle", s))
		}
	}
	if ledger.IsWorkflowEvent(ev.Type) {
		c.workflowEntry(idx, body, wfRegistered, wfReferenced)
	}
	if ev.ResultPtr != "" {
		referenced[ev.ResultPtr] = true
		if p := c.payloads[ev.ResultPtr]; p != nil && p.SHA256 != ev.ResultSHA256 && !(p.Withheld && p.SHA256 == "") {
			c.fail(recordErr("payload "+ev.ResultPtr, ErrPayload, "sha256 %s differs from result_sha256 %s committed in entry %d", p.SHA256, ev.ResultSHA256, idx))
		}
	}
}

// bindings checks that the job_hashes entry idx binds job j to are the one
// it was submitted with.
func (c *checker) bindings(idx uint64, ev *ledger.EventFacts, j *jobEvidence) {
	if j.submitted == nil {
		return
	}
	want := j.submitted.JobHash
	check := func(what, h string) {
		if h != "" && h != want {
			c.fail(entryErr(idx, ErrJobHash, "%s %s differs from job %s's submitted job_hash %s (entry %d)", what, h, ev.JobID, want, j.submittedIdx))
		}
	}
	check("job_hash", ev.JobHash)
	if ev.DecisionRecord != nil {
		check("data.decision.job_hash", ev.DecisionRecord.JobHash)
	}
	if ev.Approval != nil {
		check("data.approval.job_hash", ev.Approval.JobHash)
	}
}

// apply records what event ev (entry idx) says about its job.
func (j *jobEvidence) apply(ev *ledger.EventFacts, idx uint64) {
	switch ev.Type {
	case ledger.EventPolicyDecided:
		if ev.DecisionRecord == nil || ev.DecisionRecord.Phase != "simulate" {
			j.decide(ev, idx)
		}
	case ledger.EventApprovalRequested:
		j.approved = false
		j.resolution, j.resolvedBy, j.hasResolution = "", "", false
	case ledger.EventApprovalResolved:
		j.resolution, j.resolvedBy, j.resolutionIdx, j.hasResolution = ev.Resolution, ev.ResolvedBy, idx, true
		j.approved = ev.Resolution == "approved"
	}
	// Run events name the job that started the run but carry the run's
	// state, not the job's. An approval request puts its job in
	// PENDING_APPROVAL even when the event does not say so.
	switch {
	case ev.State != "" && !strings.HasPrefix(ev.Type, "run_"):
		j.state, j.stateIdx, j.hasState = ev.State, idx, true
	case ev.State == "" && ev.Type == ledger.EventApprovalRequested:
		j.state, j.stateIdx, j.hasState = "PENDING_APPROVAL", idx, true
	}
	if ev.OutputSafety != "" {
		j.outputSafety, j.outputSafetyIdx = ev.OutputSafety, idx
	}
	if ev.ResultPtr != "" || ev.ResultSHA256 != "" {
		j.resultPtr, j.resultSHA256, j.resultIdx = ev.ResultPtr, ev.ResultSHA256, idx
	}
}

// unreferencedPayloads notes the payloads no entry refers to.
func (c *checker) unreferencedPayloads(referenced map[string]bool) {
	ptrs := make([]string, 0, len(c.payloads))
	for ptr := range c.payloads {
		if !referenced[ptr] {
			ptrs = append(ptrs, ptr)
		}
	}
	sort.Strings(ptrs)
	for _, ptr := range ptrs {
		c.note("payload %s is not referenced by any entry in the bundle; only its own hash was checked", ptr)
	}
}

// decide applies a policy_decided event to the decision of record, the
// decision that governs the job (docs/evidence.md, "Decision of record"):
// the latest decision, except that once a job has required approval, a
// later ALLOW or ALLOW_WITH_CONSTRAINTS, or a REQUIRE_APPROVAL that an
// approval already satisfies, does not replace it. A DENY always does.
func (j *jobEvidence) decide(ev *ledger.EventFacts, idx uint64) {
	d, _, _ := decisionOf(ev)
	keep := j.decision != nil && j.approvalRequired &&
		(d == "ALLOW" || d == "ALLOW_WITH_CONSTRAINTS" || d == "REQUIRE_APPROVAL" && j.approved)
	if !keep {
		j.decision, j.decisionIdx = ev, idx
	}
	if d == "REQUIRE_APPROVAL" {
		j.approvalRequired = true
	}
}

// decisionOf returns the decision of record of a job's latest
// policy_decided event: the event's members, falling back to data.decision.
func decisionOf(ev *ledger.EventFacts) (decision, rule, snapshot string) {
	decision, rule, snapshot = ev.Decision, ev.PolicyRuleID, ev.PolicySnapshot
	if d := ev.DecisionRecord; d != nil {
		if decision == "" {
			decision = d.Decision
		}
		if rule == "" {
			rule = d.PolicyRuleID
		}
		if snapshot == "" {
			snapshot = d.PolicySnapshot
		}
	}
	return
}

// jobRows checks each job projection row against its job's latest
// evidence. A row asserts its non-empty members (job_hash is required);
// each asserted member must equal what the ledger says.
func (c *checker) jobRows() {
	seen := map[string]bool{}
	for _, row := range c.b.Jobs {
		rec := "job " + row.JobID
		if seen[row.JobID] {
			c.fail(recordErr(rec, ErrFormat, "listed twice"))
			continue
		}
		seen[row.JobID] = true
		c.rep.Jobs++
		j := c.jobs[row.JobID]
		if row.JobID == "" || j == nil || j.submitted == nil {
			c.fail(recordErr(rec, ErrProjection, "no job_submitted entry for this job in the bundle"))
			continue
		}
		s := j.submitted
		// check compares an asserted member with the ledger's value; has
		// tells whether the ledger records the member at all.
		check := func(field, rowValue, ledgerValue string, has bool, idx uint64, what string) {
			switch {
			case rowValue == "" || rowValue == ledgerValue && has:
			case !has:
				c.fail(recordErr(rec, ErrProjection, "%s is %s but the bundle has no %s for the job", field, show(rowValue), what))
			default:
				c.fail(recordErr(rec, ErrProjection, "%s is %s but the ledger says %s (entry %d)", field, show(rowValue), show(ledgerValue), idx))
			}
		}
		if row.JobHash == "" {
			c.fail(recordErr(rec, ErrProjection, "row has no job_hash"))
		}
		check("job_hash", row.JobHash, s.JobHash, true, j.submittedIdx, "")
		check("context_ptr", row.ContextPtr, s.Job.ContextPtr, true, j.submittedIdx, "")
		check("context_sha256", row.ContextSHA256, s.Job.ContextSHA256, true, j.submittedIdx, "")
		var d, rule, snap string
		if j.decision != nil {
			d, rule, snap = decisionOf(j.decision)
		}
		check("decision", row.Decision, d, j.decision != nil, j.decisionIdx, "policy_decided entry")
		check("policy_rule_id", row.PolicyRuleID, rule, j.decision != nil, j.decisionIdx, "policy_decided entry")
		check("policy_snapshot", row.PolicySnapshot, snap, j.decision != nil, j.decisionIdx, "policy_decided entry")
		if row.State != "" && !j.hasState {
			c.note("job %s: state %s not checked: no entry of the job carries a state", row.JobID, row.State)
		} else {
			check("state", row.State, j.state, j.hasState, j.stateIdx, "")
		}
		check("resolution", row.Resolution, j.resolution, j.hasResolution, j.resolutionIdx, "approval_resolved entry")
		check("resolved_by", row.ResolvedBy, j.resolvedBy, j.hasResolution, j.resolutionIdx, "approval_resolved entry")
		check("output_safety", row.OutputSafety, j.outputSafety, j.outputSafety != "", j.outputSafetyIdx, "output_safety evidence")
		hasResult := j.resultPtr != "" || j.resultSHA256 != ""
		check("result_ptr", row.ResultPtr, j.resultPtr, hasResult, j.resultIdx, "result evidence")
		check("result_sha256", row.ResultSHA256, j.resultSHA256, hasResult, j.resultIdx, "result evidence")
	}
}

func show(s string) string {
	if s == "" {
		return "null"
	}
	return fmt.Sprintf("%q", s)
}
