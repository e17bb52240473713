package ledger

import (
	"encoding/json"
	"reflect"
	"testing"
)

// What a writer puts in the typed data of an event, ParseEntry reads back
// into EventFacts, and encoding/json decodes into the reader's typed data
// (PolicyDecided[DecisionFacts], …) alike: the two readers and the writer
// agree on the member names.
func TestTypedDataReadsBack(t *testing.T) {
	job := SubmittedJob{Tenant: "acme", JobID: "j1", RunID: "r1", Action: "db.write", Labels: map[string]string{"env": "prod"},
		RiskTags: []string{"pii"}, SubmittedBy: "agent", TraceID: "t", ContextPtr: "ctx:j1", ContextSHA256: "c0"}
	bare := SubmittedJob{Tenant: "acme", JobID: "j2", Action: "x"}
	dec := DecisionFacts{DecisionID: "dec_1", JobID: "j1", Phase: "submit", Decision: "ALLOW", PolicyRuleID: "r", PolicySnapshot: "cfg:s", JobHash: "h"}
	apr := ApprovalFacts{ApprovalID: "apr_1", JobID: "j1", PolicySnapshot: "cfg:s", JobHash: "h"}
	aud := AuditFacts{AuditID: "pa_1", Action: "publish", SnapshotBefore: "cfg:a", SnapshotAfter: "cfg:b"}
	for _, j := range []SubmittedJob{job, bare} {
		submittedReadsBack(t, j)
	}
	recordsReadBack(t, dec, apr, aud)
}

// submittedReadsBack checks job_submitted data with job j.
func submittedReadsBack(t *testing.T, j SubmittedJob) {
	t.Helper()
	f := parseTyped(t, EventJobSubmitted, &JobSubmitted{Job: j, Executor: "gw"})
	var back JobSubmitted
	decodeTyped(t, EventJobSubmitted, &JobSubmitted{Job: j}, &back)
	want := j
	if want.Labels == nil && want.RiskTags == nil { // null reads back as empty
		want.Labels, want.RiskTags = f.Job.Labels, f.Job.RiskTags
	}
	if !reflect.DeepEqual(*f.Job, want) || !reflect.DeepEqual(back.Job, j) {
		t.Errorf("job_submitted: ParseEntry %+v, json %+v, wrote %+v", *f.Job, back.Job, j)
	}
}

// recordsReadBack checks the data that carries root-package records, and
// the result members.
func recordsReadBack(t *testing.T, dec DecisionFacts, apr ApprovalFacts, aud AuditFacts) {
	t.Helper()
	f := parseTyped(t, EventPolicyDecided, &PolicyDecided[DecisionFacts]{Decision: dec, Phase: "submit"})
	var d PolicyDecided[DecisionFacts]
	decodeTyped(t, EventPolicyDecided, &PolicyDecided[DecisionFacts]{Decision: dec, Phase: "submit"}, &d)
	if *f.DecisionRecord != dec || d.Decision != dec || d.Phase != "submit" {
		t.Errorf("policy_decided: ParseEntry %+v, json %+v, wrote %+v", *f.DecisionRecord, d, dec)
	}
	f = parseTyped(t, EventApprovalRequested, &ApprovalRequested[ApprovalFacts]{Approval: apr})
	var a ApprovalRequested[ApprovalFacts]
	decodeTyped(t, EventApprovalRequested, &ApprovalRequested[ApprovalFacts]{Approval: apr}, &a)
	if *f.Approval != apr || a.Approval != apr {
		t.Errorf("approval_requested: ParseEntry %+v, json %+v, wrote %+v", *f.Approval, a, apr)
	}
	for typ, data := range map[string]any{
		EventJobCompleted:  &JobCompleted[*AuditFacts]{Status: "succeeded", ResultPtr: "res:j1", ResultSHA256: "abc", Blinding: "s"},
		EventOutputChecked: &OutputChecked{ResultPtr: "res:j1", ResultSHA256: "abc"},
	} {
		if f := parseTyped(t, typ, data); f.ResultPtr != "res:j1" || f.ResultSHA256 != "abc" {
			t.Errorf("%s: ParseEntry read result %q %q", typ, f.ResultPtr, f.ResultSHA256)
		}
	}
	for _, typ := range []string{EventPolicyPublished, EventPolicyRolledBack} {
		f = parseTyped(t, typ, &PolicyChanged[AuditFacts]{Audit: aud, PolicySHA256: "p"})
		var c PolicyChanged[AuditFacts]
		decodeTyped(t, typ, &PolicyChanged[AuditFacts]{Audit: aud, PolicySHA256: "p"}, &c)
		if *f.Audit != aud || c.Audit != aud || c.PolicySHA256 != "p" {
			t.Errorf("%s: ParseEntry %+v, json %+v, wrote %+v", typ, *f.Audit, c, aud)
		}
	}
}

// typedBody is the canonical entry body of an event of type typ with data.
func typedBody(t *testing.T, typ string, data any) []byte {
	t.Helper()
	body, err := EntryBody(Envelope{Tenant: "acme", Index: 0, Event: map[string]any{"type": typ, "data": data}})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func parseTyped(t *testing.T, typ string, data any) EventFacts {
	t.Helper()
	f, err := ParseEntry(typedBody(t, typ, data))
	if err != nil {
		t.Fatal(err)
	}
	return f.Event
}

func decodeTyped(t *testing.T, typ string, data, into any) {
	t.Helper()
	var env struct {
		Event struct {
			Data json.RawMessage `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(typedBody(t, typ, data), &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Event.Data, into); err != nil {
		t.Fatal(err)
	}
}
