package ledger

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gowebpki/jcs"
)

// The types below mirror the shapes of cairn.Event and cairn.Decision (the
// root package is not imported here): an optional string that marshals ""
// as null, a pointer receiver MarshalJSON that marshals a plain alias, a
// time.Time, a map[string]any data member and a struct with rules_tried.

type benchOpt string

func (o benchOpt) MarshalJSON() ([]byte, error) {
	if o == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(o))
}

type benchRuleTrace struct {
	RuleID  string `json:"rule_id"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

type benchApprovalSpec struct {
	ApproverRoles []string `json:"approver_roles"`
	ExpiresIn     string   `json:"expires_in,omitempty"`
}

type benchDecision struct {
	DecisionID     string             `json:"decision_id"`
	JobID          string             `json:"job_id"`
	Phase          string             `json:"phase"`
	Decision       string             `json:"decision"`
	PolicyRuleID   benchOpt           `json:"policy_rule_id"`
	PolicyReason   string             `json:"policy_reason"`
	PolicySnapshot benchOpt           `json:"policy_snapshot"`
	JobHash        string             `json:"job_hash"`
	Constraints    json.RawMessage    `json:"constraints"`
	Approval       *benchApprovalSpec `json:"approval,omitempty"`
	Default        bool               `json:"default_rule"`
	Explanation    string             `json:"explanation"`
	RulesTried     []benchRuleTrace   `json:"rules_tried"`
	EvaluatedAt    time.Time          `json:"evaluated_at"`
}

type benchEvent struct {
	Tenant         string         `json:"-"`
	Seq            int64          `json:"seq,omitempty"`
	Type           string         `json:"type"`
	Timestamp      time.Time      `json:"timestamp"`
	RunID          benchOpt       `json:"run_id"`
	WorkflowStepID benchOpt       `json:"workflow_step_id"`
	JobID          benchOpt       `json:"job_id"`
	Actor          string         `json:"actor"`
	Decision       string         `json:"decision,omitempty"`
	PolicyRuleID   string         `json:"policy_rule_id,omitempty"`
	PolicySnapshot string         `json:"policy_snapshot,omitempty"`
	JobHash        string         `json:"job_hash,omitempty"`
	State          string         `json:"state,omitempty"`
	Data           map[string]any `json:"data,omitempty"`
}

func (e *benchEvent) MarshalJSON() ([]byte, error) {
	type plain benchEvent
	return json.Marshal((*plain)(e))
}

// benchDecidedEvent is a policy_decided event as the submit path builds it.
func benchDecidedEvent() *benchEvent {
	now := time.Date(2026, 4, 1, 14, 0, 10, 123456789, time.UTC)
	hash := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	snap := "cfg:system:policy#sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	d := &benchDecision{
		DecisionID: "dec_4f2a9c81b7e0", JobID: "job_8c1d2e3f4a5b", Phase: "submit", Decision: "REQUIRE_APPROVAL",
		PolicyRuleID: "prod-write-needs-approval", PolicyReason: "writes to production need a human",
		PolicySnapshot: benchOpt(snap), JobHash: hash,
		Constraints: json.RawMessage(`{"max_rows":1000,"allowed_tables":["orders","customers"],"timeout_s":30}`),
		Approval:    &benchApprovalSpec{ApproverRoles: []string{"approver", "dba"}, ExpiresIn: "1h"},
		Explanation: "rule prod-write-needs-approval matched: action db.write matches db.write; label env=prod",
		RulesTried: []benchRuleTrace{
			{RuleID: "deny-drop-table", Why: "action db.write does not match [db.ddl]"},
			{RuleID: "reads-are-fine", Why: "action db.write does not match [db.read http.get]"},
			{RuleID: "prod-write-needs-approval", Matched: true, Why: "action db.write matches db.write; label env=prod"},
		},
		EvaluatedAt: now,
	}
	return &benchEvent{
		Tenant: "default", Type: "policy_decided", Timestamp: now, RunID: "run_7d6e5f4a3b2c", WorkflowStepID: "write-orders",
		JobID: "job_8c1d2e3f4a5b", Actor: "agent-checkout-7", Decision: "REQUIRE_APPROVAL", PolicyRuleID: "prod-write-needs-approval",
		PolicySnapshot: snap, JobHash: hash, Data: map[string]any{"decision": d, "phase": "submit"},
	}
}

// benchSubmittedEvent is a job_submitted event as the submit path builds it.
func benchSubmittedEvent() *benchEvent {
	now := time.Date(2026, 4, 1, 14, 0, 10, 123456789, time.UTC)
	hash := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	return &benchEvent{
		Tenant: "default", Type: "job_submitted", Timestamp: now, RunID: "run_7d6e5f4a3b2c", WorkflowStepID: "write-orders",
		JobID: "job_8c1d2e3f4a5b", Actor: "agent-checkout-7", JobHash: hash, State: "PENDING_APPROVAL",
		Data: map[string]any{"job": map[string]any{
			"tenant": "default", "job_id": "job_8c1d2e3f4a5b", "run_id": benchOpt("run_7d6e5f4a3b2c"), "workflow_step_id": benchOpt("write-orders"),
			"action": "db.write", "resource": benchOpt("db://orders/eu-west-1"), "labels": map[string]string{"env": "prod", "team": "checkout", "region": "eu-west-1"},
			"risk_tags": []string{"financial", "pii", "write"}, "submitted_by": "agent-checkout-7", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
			"context_ptr": "ctx:job_8c1d2e3f4a5b", "context_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}},
	}
}

// BenchmarkCanonical compares Canonical with the reference (encoding/json
// then jcs.Transform) on the events of a submit, and times the parts.
func BenchmarkCanonical(b *testing.B) {
	for _, c := range []struct {
		name string
		ev   *benchEvent
	}{{"policy_decided", benchDecidedEvent()}, {"job_submitted", benchSubmittedEvent()}} {
		raw, err := json.Marshal(c.ev)
		if err != nil {
			b.Fatal(err)
		}
		run := func(name string, f func() ([]byte, error)) {
			b.Run(c.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run("reference", func() ([]byte, error) { return canonicalReference(c.ev) })
		run("Canonical", func() ([]byte, error) { return Canonical(c.ev) })
		run("json.Marshal", func() ([]byte, error) { return json.Marshal(c.ev) })
		run("jcs.Transform", func() ([]byte, error) { return jcs.Transform(raw) })
		run("appendCanonical", func() ([]byte, error) {
			out, ok := appendCanonical(make([]byte, 0, len(raw)+16), raw)
			if !ok {
				return nil, errors.New("appendCanonical refused the event")
			}
			return out, nil
		})
		run("Value.Canonicalize", func() ([]byte, error) {
			v := jsontext.Value(append(make([]byte, 0, len(raw)+16), raw...))
			return v, v.Canonicalize()
		})
	}
}

func BenchmarkEnvelopeBody(b *testing.B) {
	canon, err := Canonical(benchDecidedEvent())
	if err != nil {
		b.Fatal(err)
	}
	prev := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = envelopeBodyReference("default", 12345, prev, 3, canon)
		}
	})
	b.Run("EnvelopeBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = EnvelopeBody("default", 12345, prev, 3, canon)
		}
	})
}
