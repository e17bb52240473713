package ledger

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type rawEnvelope struct {
	Tenant   *string   `json:"tenant"`
	Index    *uint64   `json:"index"`
	PrevHash *string   `json:"prev_hash"`
	Event    *rawEvent `json:"event"`
}

type rawEvent struct {
	Type           string `json:"type"`
	JobID          string `json:"job_id"`
	RunID          string `json:"run_id"`
	Decision       string `json:"decision"`
	PolicyRuleID   string `json:"policy_rule_id"`
	PolicySnapshot string `json:"policy_snapshot"`
	JobHash        string `json:"job_hash"`
	Resolution     string `json:"resolution"`
	ResolvedBy     string `json:"resolved_by"`
	State          string `json:"state"`
	OutputSafety   *struct {
		Decision string `json:"decision"`
	} `json:"output_safety"`
	Data *struct {
		Job          *SubmittedJob  `json:"job"`
		Decision     *DecisionFacts `json:"decision"`
		Approval     *ApprovalFacts `json:"approval"`
		Audit        *AuditFacts    `json:"audit"`
		ResultPtr    string         `json:"result_ptr"`
		ResultSHA256 string         `json:"result_sha256"`
	} `json:"data"`
}

// parseEntryStd is the encoding/json reference for ParseEntry.
func parseEntryStd(body []byte) (*EntryFacts, error) {
	var r rawEnvelope
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBody, err)
	}
	switch {
	case r.Tenant == nil:
		return nil, fmt.Errorf("%w: no tenant", ErrBody)
	case r.Index == nil:
		return nil, fmt.Errorf("%w: no index", ErrBody)
	case r.PrevHash == nil:
		return nil, fmt.Errorf("%w: no prev_hash", ErrBody)
	case r.Event == nil:
		return nil, fmt.Errorf("%w: no event", ErrBody)
	case r.Event.Type == "":
		return nil, fmt.Errorf("%w: event has no type", ErrBody)
	}
	e := r.Event
	f := &EntryFacts{Tenant: *r.Tenant, Index: *r.Index, PrevHash: *r.PrevHash}
	f.Event = EventFacts{
		Type: e.Type, JobID: e.JobID, RunID: e.RunID, Decision: e.Decision,
		PolicyRuleID: e.PolicyRuleID, PolicySnapshot: e.PolicySnapshot, JobHash: e.JobHash,
		Resolution: e.Resolution, ResolvedBy: e.ResolvedBy, State: e.State,
	}
	if e.OutputSafety != nil {
		f.Event.OutputSafety = e.OutputSafety.Decision
	}
	if d := e.Data; d != nil {
		switch e.Type {
		case "job_submitted":
			f.Event.Job = d.Job
		case "policy_decided":
			f.Event.DecisionRecord = d.Decision
		case "approval_requested":
			f.Event.Approval = d.Approval
		case "policy_published", "policy_rolled_back":
			f.Event.Audit = d.Audit
		}
		f.Event.ResultPtr = d.ResultPtr
		f.Event.ResultSHA256 = d.ResultSHA256
	}
	return f, nil
}

var sampleBodies = []string{
	`{"event":{"actor":"agent-7","data":{"job":{"action":"db.write","context_ptr":"ctx:j2","context_sha256":"d53c","job_id":"j2","labels":{"env":"prod","t\u00e9am":"pay\"ments"},"resource":"db://orders","risk_tags":["financial","pii"],"run_id":"run-1","submitted_by":"agent-7","tenant":"default","trace_id":"4bf9","workflow_step_id":null}},"job_hash":"ab","job_id":"j2","run_id":"run-1","timestamp":"2026-04-01T14:00:10Z","type":"job_submitted","workflow_step_id":"write"},"index":8,"prev_hash":"00ff","tenant":"default"}`,
	`{"event":{"actor":"cairn","data":{"decision":{"constraints":{"max_rows":[1,2.5e3,-0.1,true,false,null]},"decision":"ALLOW","decision_id":"d1","job_hash":"ab","job_id":"j1","phase":"dispatch","policy_rule_id":"r","policy_snapshot":"cfg:system:policy#sha256:00","rules_tried":[{"matched":true,"rule_id":"r","why":"\ud83d\ude00 \n"}]}},"decision":"ALLOW","job_hash":"ab","job_id":"j1","policy_rule_id":"r","policy_snapshot":"cfg:system:policy#sha256:00","state":"QUEUED","type":"policy_decided"},"index":3,"prev_hash":"","tenant":"default"}`,
	`{"event":{"data":{"audit":{"action":"rollback","snapshot_after":"b","snapshot_before":null}},"policy_snapshot":"b","type":"policy_rolled_back"},"index":0,"prev_hash":"","tenant":"t"}`,
	`{"event":{"data":{"approval":{"approval_id":"a","job_hash":"h","job_id":"j","policy_snapshot":"s"}},"job_id":"j","type":"approval_requested"},"index":1,"prev_hash":"x","tenant":"t"}`,
	`{"event":{"data":{"result_ptr":"res:j","result_sha256":"ff"},"job_id":"j","output_safety":{"decision":"REDACT","findings":[],"rule_id":null},"state":"SUCCEEDED","type":"job_completed"},"index":18446744073709551615,"prev_hash":"x","tenant":"t"}`,
	` { "tenant" : "t" , "index" : 0 , "prev_hash" : "" , "event" : { "type" : "run_started" , "data" : { "job" : "not an object" , "decision" : 7 } } } `,
	`{"event":{"type":"key_created","data":{"job":{"tenant":5}}},"index":2,"prev_hash":"","tenant":"t"}`,
}

func TestParseEntryMatchesReference(t *testing.T) {
	for _, b := range sampleBodies {
		fast, err1 := ParseEntry([]byte(b))
		std, err2 := parseEntryStd([]byte(b))
		if strings.Contains(b, `"tenant":5`) {
			// encoding/json fails on the wrongly typed (but ignored) data.job.
			if err1 != nil {
				t.Errorf("fast parser rejected an ignored member: %v", err1)
			}
			continue
		}
		if strings.Contains(b, `"not an object"`) {
			if err1 != nil || fast.Event.Type != "run_started" {
				t.Errorf("fast parser: %v", err1)
			}
			continue
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: fast %v, std %v", b, err1, err2)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Errorf("%s:\nfast %+v\nstd  %+v", b, fast, std)
		}
	}
}

func TestParseEntryRejects(t *testing.T) {
	good := `{"event":{"type":"x"},"index":1,"prev_hash":"","tenant":"t"}`
	if _, err := ParseEntry([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{
		``, `null`, `[]`, `{}`, good + `x`, good + `{}`,
		`{"event":{"type":"x"},"index":1,"prev_hash":"","tenant":"t","tenant":"u"}`,
		`{"event":{"type":"x","type":"y"},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x"},"index":-1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x"},"index":1.0,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x"},"index":"1","prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x"},"index":1,"prev_hash":null,"tenant":"t"}`,
		`{"event":{"type":"x"},"index":1,"prev_hash":"","tenant":null}`,
		`{"event":{"type":""},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":7},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x"},"index":1,"prev_hash":""}`,
		`{"event":{"type":"x"},"index":1,"prev_hash":"","tenant":"t\x"}`,
		"{\"event\":{\"type\":\"x\u0001\"},\"index\":1,\"prev_hash\":\"\",\"tenant\":\"t\"}",
		"{\"event\":{\"type\":\"x\"},\"index\":1,\"prev_hash\":\"\",\"tenant\":\"\xff\"}",
		`{"event":{"type":"x","extra":[1,2,]},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x","extra":01},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x","extra":tru},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"job_submitted","data":{"job":{"labels":{"a":"1","a":"2"}}}},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"job_submitted","data":{"job":{"risk_tags":[1]}}},"index":1,"prev_hash":"","tenant":"t"}`,
		`{"event":{"type":"x"},"index":18446744073709551616,"prev_hash":"","tenant":"t"}`,
		strings.Repeat("[", 100000),
	} {
		if _, err := ParseEntry([]byte(b)); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, b := range sampleBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		facts, err := ParseEntry(b)
		if err == nil && !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if err == nil && facts.Event.Type == "" {
			t.Fatal("accepted an event without type")
		}
		// On bodies without case-variant or repeated names and with objects
		// where objects are read, both parsers agree.
		std, err2 := parseEntryStd(b)
		if err == nil && err2 == nil && !reflect.DeepEqual(facts, std) && !strings.ContainsAny(string(b), "ABCDEFGHIJKLMNOPQRSTUVWXYZ\\") {
			t.Fatalf("fast %+v\nstd %+v\nfor %q", facts, std, b)
		}
	})
}

func BenchmarkParseEntry(b *testing.B) {
	body := []byte(sampleBodies[1])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseEntry(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEntryStd(b *testing.B) {
	body := []byte(sampleBodies[1])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseEntryStd(body); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = fmt.Sprint
