package ledger

import (
	"fmt"

	"github.com/cairnhq/cairn/ledger/internal/jsonread"
)

// Reading entry bodies into EntryFacts (ParseEntry) and WorkflowRef
// (EntryWorkflowRef), with the reader of package jsonread. Each object read is a
// table of its members.

// parseEntryInto parses body into f (see ParseEntry).
func parseEntryInto(r *jsonread.Reader, f *EntryFacts) error {
	defer r.Release()
	err := jsonread.DecodeObject(r, f, envelopeFields)
	if err == nil {
		err = r.End()
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBody, err)
	}
	if f.Event.Type == "" {
		return fmt.Errorf("%w: event has no type", ErrBody)
	}
	return nil
}

var envelopeFields = []jsonread.Field[EntryFacts]{
	{Name: "tenant", Required: true, Read: func(r *jsonread.Reader, f *EntryFacts) error { return r.String(&f.Tenant) }},
	{Name: "index", Required: true, Read: func(r *jsonread.Reader, f *EntryFacts) error { return r.Uint(&f.Index) }},
	{Name: "prev_hash", Required: true, Read: func(r *jsonread.Reader, f *EntryFacts) error { return r.String(&f.PrevHash) }},
	{Name: "event", Required: true, Read: readEvent},
}

// eventDoc is an event being read: its facts, and the data records whose
// meaning depends on the event type (which a canonical body has after
// data). A record that is an object of the wrong shape is an error only
// for the event type that reads it, so its error waits in the doc.
type eventDoc struct {
	*EventFacts
	job                            *SubmittedJob
	decision                       *DecisionFacts
	approval                       *ApprovalFacts
	audit                          *AuditFacts
	jobErr, decErr, aprErr, audErr error
}

// readEvent reads the event member into f.Event.
func readEvent(r *jsonread.Reader, f *EntryFacts) error {
	// The scanner this reader replaced let values inside an event nest one
	// container deeper than elsewhere; kept so that no body that verified
	// stops verifying (ADR 0039).
	r.Limit = jsonread.MaxDepth + 1
	e := eventDoc{EventFacts: &f.Event}
	err := jsonread.DecodeObject(r, &e, eventFields)
	r.Limit = jsonread.MaxDepth
	if err != nil {
		return err
	}
	switch e.Type {
	case EventJobSubmitted:
		e.Job, err = e.job, e.jobErr
	case EventPolicyDecided:
		e.DecisionRecord, err = e.decision, e.decErr
	case EventApprovalRequested:
		e.Approval, err = e.approval, e.aprErr
	case EventPolicyPublished, EventPolicyRolledBack:
		e.Audit, err = e.audit, e.audErr
	}
	return err
}

var eventFields = []jsonread.Field[eventDoc]{
	{Name: "type", Read: func(r *jsonread.Reader, e *eventDoc) error { return r.Word(&e.Type) }},
	jsonread.Text("job_id", func(e *eventDoc) *string { return &e.JobID }),
	jsonread.Text("run_id", func(e *eventDoc) *string { return &e.RunID }),
	{Name: "decision", Read: func(r *jsonread.Reader, e *eventDoc) error { return r.Word(&e.Decision) }},
	jsonread.Text("policy_rule_id", func(e *eventDoc) *string { return &e.PolicyRuleID }),
	jsonread.Text("policy_snapshot", func(e *eventDoc) *string { return &e.PolicySnapshot }),
	jsonread.Text("job_hash", func(e *eventDoc) *string { return &e.JobHash }),
	{Name: "resolution", Read: func(r *jsonread.Reader, e *eventDoc) error { return r.Word(&e.Resolution) }},
	jsonread.Text("resolved_by", func(e *eventDoc) *string { return &e.ResolvedBy }),
	{Name: "state", Read: func(r *jsonread.Reader, e *eventDoc) error { return r.Word(&e.State) }},
	{Name: "output_safety", Read: func(r *jsonread.Reader, e *eventDoc) error {
		return jsonread.IfObject(r, func() error { return jsonread.DecodeObject(r, &e.OutputSafety, safetyFields) })
	}},
	{Name: "data", Read: func(r *jsonread.Reader, e *eventDoc) error {
		return jsonread.IfObject(r, func() error { return jsonread.DecodeObject(r, e, eventDataFields) })
	}},
}

// safetyFields read output_safety.decision.
var safetyFields = []jsonread.Field[string]{
	{Name: "decision", Read: func(r *jsonread.Reader, s *string) error { return r.Word(s) }},
}

var eventDataFields = []jsonread.Field[eventDoc]{
	{Name: "job", Read: func(r *jsonread.Reader, e *eventDoc) error {
		return readRecord(r, &e.job, &e.jobErr, submittedJobFields)
	}},
	{Name: "decision", Read: func(r *jsonread.Reader, e *eventDoc) error {
		return readRecord(r, &e.decision, &e.decErr, decisionFields)
	}},
	{Name: "approval", Read: func(r *jsonread.Reader, e *eventDoc) error {
		return readRecord(r, &e.approval, &e.aprErr, approvalFields)
	}},
	{Name: "audit", Read: func(r *jsonread.Reader, e *eventDoc) error {
		return readRecord(r, &e.audit, &e.audErr, auditFields)
	}},
	jsonread.Text("result_ptr", func(e *eventDoc) *string { return &e.ResultPtr }),
	jsonread.Text("result_sha256", func(e *eventDoc) *string { return &e.ResultSHA256 }),
}

// readRecord reads an object into a new *dst, keeping a shape error in
// *soft (see reader.try); a value that is not an object is skipped.
func readRecord[T any](r *jsonread.Reader, dst **T, soft *error, fields []jsonread.Field[T]) error {
	return jsonread.IfObject(r, func() error {
		*dst = new(T)
		var hard error
		*soft, hard = r.Try(func() error { return jsonread.DecodeObject(r, *dst, fields) })
		return hard
	})
}

var submittedJobFields = []jsonread.Field[SubmittedJob]{
	jsonread.Text("tenant", func(j *SubmittedJob) *string { return &j.Tenant }),
	jsonread.Text("job_id", func(j *SubmittedJob) *string { return &j.JobID }),
	jsonread.Text("run_id", func(j *SubmittedJob) *string { return (*string)(&j.RunID) }),
	jsonread.Text("workflow_step_id", func(j *SubmittedJob) *string { return (*string)(&j.WorkflowStepID) }),
	jsonread.Text("action", func(j *SubmittedJob) *string { return &j.Action }),
	jsonread.Text("resource", func(j *SubmittedJob) *string { return (*string)(&j.Resource) }),
	jsonread.Text("submitted_by", func(j *SubmittedJob) *string { return &j.SubmittedBy }),
	jsonread.Text("trace_id", func(j *SubmittedJob) *string { return &j.TraceID }),
	jsonread.Text("context_ptr", func(j *SubmittedJob) *string { return &j.ContextPtr }),
	jsonread.Text("context_sha256", func(j *SubmittedJob) *string { return &j.ContextSHA256 }),
	{Name: "labels", Read: readLabels},
	{Name: "risk_tags", Read: func(r *jsonread.Reader, j *SubmittedJob) error {
		return jsonread.ReadStrings(r, &j.RiskTags)
	}},
}

// readLabels reads labels: null, or an object of strings, no name repeated.
func readLabels(r *jsonread.Reader, j *SubmittedJob) error {
	if r.PeekKind() == 'n' {
		return r.Null()
	}
	j.Labels = map[string]string{}
	return jsonread.ReadMembers(r, j, nil, func(name []byte) error {
		key := string(name)
		if _, dup := j.Labels[key]; dup {
			return jsonread.ShapeErr("label %q repeated", key)
		}
		var v string
		if err := r.String(&v); err != nil {
			return err
		}
		j.Labels[key] = v
		return nil
	})
}

var decisionFields = []jsonread.Field[DecisionFacts]{
	jsonread.Text("decision_id", func(d *DecisionFacts) *string { return &d.DecisionID }),
	jsonread.Text("job_id", func(d *DecisionFacts) *string { return &d.JobID }),
	jsonread.Text("phase", func(d *DecisionFacts) *string { return &d.Phase }),
	jsonread.Text("decision", func(d *DecisionFacts) *string { return &d.Decision }),
	jsonread.Text("policy_rule_id", func(d *DecisionFacts) *string { return &d.PolicyRuleID }),
	jsonread.Text("policy_snapshot", func(d *DecisionFacts) *string { return &d.PolicySnapshot }),
	jsonread.Text("job_hash", func(d *DecisionFacts) *string { return &d.JobHash }),
}

var approvalFields = []jsonread.Field[ApprovalFacts]{
	jsonread.Text("approval_id", func(a *ApprovalFacts) *string { return &a.ApprovalID }),
	jsonread.Text("job_id", func(a *ApprovalFacts) *string { return &a.JobID }),
	jsonread.Text("policy_snapshot", func(a *ApprovalFacts) *string { return &a.PolicySnapshot }),
	jsonread.Text("job_hash", func(a *ApprovalFacts) *string { return &a.JobHash }),
}

var auditFields = []jsonread.Field[AuditFacts]{
	jsonread.Text("audit_id", func(a *AuditFacts) *string { return &a.AuditID }),
	jsonread.Text("action", func(a *AuditFacts) *string { return &a.Action }),
	jsonread.Text("snapshot_before", func(a *AuditFacts) *string { return &a.SnapshotBefore }),
	jsonread.Text("snapshot_after", func(a *AuditFacts) *string { return &a.SnapshotAfter }),
}

// words are the vocabulary words that most entries repeat, which the
// reader does not allocate (jsonread.Reader.Words).
var words = func() map[string]string {
	m := map[string]string{}
	for _, w := range []string{
		EventJobSubmitted, EventPolicyDecided, EventApprovalRequested, EventApprovalResolved, EventJobDispatched,
		EventJobCompleted, EventOutputChecked, EventLeaseExpired,
		"ALLOW", "DENY", "REQUIRE_APPROVAL", "ALLOW_WITH_CONSTRAINTS", "REDACT", "QUARANTINE",
		"QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "DENIED", "PENDING_APPROVAL", "submit", "dispatch",
	} {
		m[w] = w
	}
	return m
}()

// workflowDoc is an entry body as EntryWorkflowRef reads it.
type workflowDoc struct {
	typ string
	ref WorkflowRef
	// Errors of members that matter only for some event types (data is
	// read before type in a canonical body): of data.workflow_id, of the
	// workflow_registered members, of the run members.
	idErr, regErr, runErr error
}

var workflowBodyFields = []jsonread.Field[workflowDoc]{
	{Name: "event", Read: func(r *jsonread.Reader, d *workflowDoc) error {
		return jsonread.IfObject(r, func() error { return jsonread.DecodeObject(r, d, workflowEventFields) })
	}},
}

var workflowEventFields = []jsonread.Field[workflowDoc]{
	jsonread.Text("type", func(d *workflowDoc) *string { return &d.typ }),
	{Name: "data", Read: func(r *jsonread.Reader, d *workflowDoc) error {
		return jsonread.IfObject(r, func() error { return jsonread.DecodeObject(r, d, workflowDataFields) })
	}},
}

var workflowDataFields = []jsonread.Field[workflowDoc]{
	lenient("workflow_id", func(d *workflowDoc) *error { return &d.idErr },
		func(r *jsonread.Reader, d *workflowDoc) error { return r.StringOrNull(&d.ref.WorkflowID) }),
	lenient("name", func(d *workflowDoc) *error { return &d.regErr },
		func(r *jsonread.Reader, d *workflowDoc) error { return r.StringOrNull(&d.ref.Name) }),
	lenient("sha256", func(d *workflowDoc) *error { return &d.regErr },
		func(r *jsonread.Reader, d *workflowDoc) error { return r.StringOrNull(&d.ref.SHA256) }),
	lenient("version", func(d *workflowDoc) *error { return &d.regErr },
		func(r *jsonread.Reader, d *workflowDoc) error { return r.UintOrNull(&d.ref.Version) }),
	lenient("workflow_version", func(d *workflowDoc) *error { return &d.runErr },
		func(r *jsonread.Reader, d *workflowDoc) error { return r.UintOrNull(&d.ref.RunVersion) }),
}

// lenient is a data member of a workflow entry whose wrong shape or
// repetition is kept in *errp, the first one only, and not an error of the
// whole body.
func lenient(name string, errp func(*workflowDoc) *error, read func(*jsonread.Reader, *workflowDoc) error) jsonread.Field[workflowDoc] {
	keep := func(d *workflowDoc, err error) {
		if p := errp(d); *p == nil {
			*p = err
		}
	}
	return jsonread.Field[workflowDoc]{
		Name: name,
		Read: func(r *jsonread.Reader, d *workflowDoc) error {
			soft, hard := r.Try(func() error { return read(r, d) })
			if soft != nil {
				keep(d, fmt.Errorf("data.%s: %w", name, soft))
			}
			return hard
		},
		Again: func(d *workflowDoc) error {
			keep(d, fmt.Errorf("data.%s repeated", name))
			return nil
		},
	}
}

// readWorkflowDoc reads body for EntryWorkflowRef.
func readWorkflowDoc(body string) (*workflowDoc, error) {
	r, err := jsonread.NewStringReader(body)
	if err == nil {
		defer r.Release()
		d := &workflowDoc{}
		if err = jsonread.DecodeObject(r, d, workflowBodyFields); err == nil {
			err = r.End()
		}
		if err == nil {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrBody, err)
}
