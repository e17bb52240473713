package ledger

import "fmt"

// Reading entry bodies into EntryFacts (ParseEntry) and WorkflowRef
// (EntryWorkflowRef), with the reader of jsonread.go. Each object read is a
// table of its members.

// parseEntryInto parses body into f (see ParseEntry).
func parseEntryInto(r *reader, f *EntryFacts) error {
	defer r.release()
	err := decodeObject(r, f, envelopeFields)
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBody, err)
	}
	if f.Event.Type == "" {
		return fmt.Errorf("%w: event has no type", ErrBody)
	}
	return nil
}

var envelopeFields = []field[EntryFacts]{
	{name: "tenant", required: true, read: func(r *reader, f *EntryFacts) error { return r.string(&f.Tenant) }},
	{name: "index", required: true, read: func(r *reader, f *EntryFacts) error { return r.uint(&f.Index) }},
	{name: "prev_hash", required: true, read: func(r *reader, f *EntryFacts) error { return r.string(&f.PrevHash) }},
	{name: "event", required: true, read: readEvent},
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
func readEvent(r *reader, f *EntryFacts) error {
	// The scanner this reader replaced let values inside an event nest one
	// container deeper than elsewhere; kept so that no body that verified
	// stops verifying (ADR 0039).
	r.limit = maxDepth + 1
	e := eventDoc{EventFacts: &f.Event}
	err := decodeObject(r, &e, eventFields)
	r.limit = maxDepth
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

var eventFields = []field[eventDoc]{
	{name: "type", read: func(r *reader, e *eventDoc) error { return r.word(&e.Type) }},
	text("job_id", func(e *eventDoc) *string { return &e.JobID }),
	text("run_id", func(e *eventDoc) *string { return &e.RunID }),
	{name: "decision", read: func(r *reader, e *eventDoc) error { return r.word(&e.Decision) }},
	text("policy_rule_id", func(e *eventDoc) *string { return &e.PolicyRuleID }),
	text("policy_snapshot", func(e *eventDoc) *string { return &e.PolicySnapshot }),
	text("job_hash", func(e *eventDoc) *string { return &e.JobHash }),
	{name: "resolution", read: func(r *reader, e *eventDoc) error { return r.word(&e.Resolution) }},
	text("resolved_by", func(e *eventDoc) *string { return &e.ResolvedBy }),
	{name: "state", read: func(r *reader, e *eventDoc) error { return r.word(&e.State) }},
	{name: "output_safety", read: func(r *reader, e *eventDoc) error {
		return ifObject(r, func() error { return decodeObject(r, &e.OutputSafety, safetyFields) })
	}},
	{name: "data", read: func(r *reader, e *eventDoc) error {
		return ifObject(r, func() error { return decodeObject(r, e, eventDataFields) })
	}},
}

// safetyFields read output_safety.decision.
var safetyFields = []field[string]{
	{name: "decision", read: func(r *reader, s *string) error { return r.word(s) }},
}

var eventDataFields = []field[eventDoc]{
	{name: "job", read: func(r *reader, e *eventDoc) error {
		return readRecord(r, &e.job, &e.jobErr, submittedJobFields)
	}},
	{name: "decision", read: func(r *reader, e *eventDoc) error {
		return readRecord(r, &e.decision, &e.decErr, decisionFields)
	}},
	{name: "approval", read: func(r *reader, e *eventDoc) error {
		return readRecord(r, &e.approval, &e.aprErr, approvalFields)
	}},
	{name: "audit", read: func(r *reader, e *eventDoc) error {
		return readRecord(r, &e.audit, &e.audErr, auditFields)
	}},
	text("result_ptr", func(e *eventDoc) *string { return &e.ResultPtr }),
	text("result_sha256", func(e *eventDoc) *string { return &e.ResultSHA256 }),
}

// readRecord reads an object into a new *dst, keeping a shape error in
// *soft (see reader.try); a value that is not an object is skipped.
func readRecord[T any](r *reader, dst **T, soft *error, fields []field[T]) error {
	return ifObject(r, func() error {
		*dst = new(T)
		var hard error
		*soft, hard = r.try(func() error { return decodeObject(r, *dst, fields) })
		return hard
	})
}

// ifObject runs read if the next value is an object, and skips it if not.
func ifObject(r *reader, read func() error) error {
	if r.d.PeekKind() != '{' {
		return r.skip()
	}
	return read()
}

// text is the field of a string (or null: "") member.
func text[T any](name string, dst func(*T) *string) field[T] {
	return field[T]{name: name, read: func(r *reader, v *T) error { return r.stringOrNull(dst(v)) }}
}

var submittedJobFields = []field[SubmittedJob]{
	text("tenant", func(j *SubmittedJob) *string { return &j.Tenant }),
	text("job_id", func(j *SubmittedJob) *string { return &j.JobID }),
	text("run_id", func(j *SubmittedJob) *string { return (*string)(&j.RunID) }),
	text("workflow_step_id", func(j *SubmittedJob) *string { return (*string)(&j.WorkflowStepID) }),
	text("action", func(j *SubmittedJob) *string { return &j.Action }),
	text("resource", func(j *SubmittedJob) *string { return (*string)(&j.Resource) }),
	text("submitted_by", func(j *SubmittedJob) *string { return &j.SubmittedBy }),
	text("trace_id", func(j *SubmittedJob) *string { return &j.TraceID }),
	text("context_ptr", func(j *SubmittedJob) *string { return &j.ContextPtr }),
	text("context_sha256", func(j *SubmittedJob) *string { return &j.ContextSHA256 }),
	{name: "labels", read: readLabels},
	{name: "risk_tags", read: func(r *reader, j *SubmittedJob) error {
		return readStrings(r, &j.RiskTags)
	}},
}

// readLabels reads labels: null, or an object of strings, no name repeated.
func readLabels(r *reader, j *SubmittedJob) error {
	if r.d.PeekKind() == 'n' {
		return r.null()
	}
	j.Labels = map[string]string{}
	return readMembers(r, j, nil, func(name []byte) error {
		key := string(name)
		if _, dup := j.Labels[key]; dup {
			return shapeErr("label %q repeated", key)
		}
		var v string
		if err := r.string(&v); err != nil {
			return err
		}
		j.Labels[key] = v
		return nil
	})
}

// readStrings reads null (leaving *dst nil) or an array of strings.
func readStrings(r *reader, dst *[]string) error {
	if r.d.PeekKind() == 'n' {
		return r.null()
	}
	*dst = []string{}
	return r.readArray(func() error {
		var s string
		err := r.string(&s)
		*dst = append(*dst, s)
		return err
	})
}

var decisionFields = []field[DecisionFacts]{
	text("decision_id", func(d *DecisionFacts) *string { return &d.DecisionID }),
	text("job_id", func(d *DecisionFacts) *string { return &d.JobID }),
	text("phase", func(d *DecisionFacts) *string { return &d.Phase }),
	text("decision", func(d *DecisionFacts) *string { return &d.Decision }),
	text("policy_rule_id", func(d *DecisionFacts) *string { return &d.PolicyRuleID }),
	text("policy_snapshot", func(d *DecisionFacts) *string { return &d.PolicySnapshot }),
	text("job_hash", func(d *DecisionFacts) *string { return &d.JobHash }),
}

var approvalFields = []field[ApprovalFacts]{
	text("approval_id", func(a *ApprovalFacts) *string { return &a.ApprovalID }),
	text("job_id", func(a *ApprovalFacts) *string { return &a.JobID }),
	text("policy_snapshot", func(a *ApprovalFacts) *string { return &a.PolicySnapshot }),
	text("job_hash", func(a *ApprovalFacts) *string { return &a.JobHash }),
}

var auditFields = []field[AuditFacts]{
	text("audit_id", func(a *AuditFacts) *string { return &a.AuditID }),
	text("action", func(a *AuditFacts) *string { return &a.Action }),
	text("snapshot_before", func(a *AuditFacts) *string { return &a.SnapshotBefore }),
	text("snapshot_after", func(a *AuditFacts) *string { return &a.SnapshotAfter }),
}

// wordOf returns b as a string, without allocating for the vocabulary
// words that most entries repeat.
func wordOf(b []byte) string {
	if w, ok := words[string(b)]; ok {
		return w
	}
	return string(b)
}

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

var workflowBodyFields = []field[workflowDoc]{
	{name: "event", read: func(r *reader, d *workflowDoc) error {
		return ifObject(r, func() error { return decodeObject(r, d, workflowEventFields) })
	}},
}

var workflowEventFields = []field[workflowDoc]{
	text("type", func(d *workflowDoc) *string { return &d.typ }),
	{name: "data", read: func(r *reader, d *workflowDoc) error {
		return ifObject(r, func() error { return decodeObject(r, d, workflowDataFields) })
	}},
}

var workflowDataFields = []field[workflowDoc]{
	lenient("workflow_id", func(d *workflowDoc) *error { return &d.idErr },
		func(r *reader, d *workflowDoc) error { return r.stringOrNull(&d.ref.WorkflowID) }),
	lenient("name", func(d *workflowDoc) *error { return &d.regErr },
		func(r *reader, d *workflowDoc) error { return r.stringOrNull(&d.ref.Name) }),
	lenient("sha256", func(d *workflowDoc) *error { return &d.regErr },
		func(r *reader, d *workflowDoc) error { return r.stringOrNull(&d.ref.SHA256) }),
	lenient("version", func(d *workflowDoc) *error { return &d.regErr },
		func(r *reader, d *workflowDoc) error { return r.uintOrNull(&d.ref.Version) }),
	lenient("workflow_version", func(d *workflowDoc) *error { return &d.runErr },
		func(r *reader, d *workflowDoc) error { return r.uintOrNull(&d.ref.RunVersion) }),
}

// lenient is a data member of a workflow entry whose wrong shape or
// repetition is kept in *errp, the first one only, and not an error of the
// whole body.
func lenient(name string, errp func(*workflowDoc) *error, read func(*reader, *workflowDoc) error) field[workflowDoc] {
	keep := func(d *workflowDoc, err error) {
		if p := errp(d); *p == nil {
			*p = err
		}
	}
	return field[workflowDoc]{
		name: name,
		read: func(r *reader, d *workflowDoc) error {
			soft, hard := r.try(func() error { return read(r, d) })
			if soft != nil {
				keep(d, fmt.Errorf("data.%s: %w", name, soft))
			}
			return hard
		},
		again: func(d *workflowDoc) error {
			keep(d, fmt.Errorf("data.%s repeated", name))
			return nil
		},
	}
}

// readWorkflowDoc reads body for EntryWorkflowRef.
func readWorkflowDoc(body string) (*workflowDoc, error) {
	r, err := newStringReader(body)
	if err == nil {
		defer r.release()
		d := &workflowDoc{}
		if err = decodeObject(r, d, workflowBodyFields); err == nil {
			err = r.end()
		}
		if err == nil {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrBody, err)
}
