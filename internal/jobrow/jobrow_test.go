package jobrow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// queued is a job as a submit stores it.
func queued() *cairn.Job {
	at := time.Date(2026, 12, 6, 5, 8, 33, 107160448, time.UTC)
	return &cairn.Job{JobID: "b17-5-16", RunID: "b17-run-5-0", TraceID: "29f987ac40e8598e76939604f9698fbf", Tenant: "default",
		Action: "db.read", Resource: "orders", Labels: map[string]string{"env": "prod"}, RiskTags: []string{},
		SubmittedBy: "bench-agent-1", SubmitterKind: "agent", SubmitterRoles: []string{"agent"}, State: cairn.StateQueued,
		Decision: cairn.Allow, PolicyRuleID: "reads-are-fine", PolicyReason: "Read-only actions",
		PolicySnapshot: "cfg:system:policy#sha256:6a065ad1ee74f8bb7368b22db52432a28883162d182a881e91483ab7e35ac9fe",
		JobHash:        "8e29c737ce0c5d21d1920ff9161101515b820d07ac3b11998645eb37d32fb57d", ContextPtr: cairn.ContextPtr("b17-5-16"),
		ContextSHA256: "83de99da19ea57aeef864e650cb89437482041c49a18c08334f8edf145b02b07", CreatedAt: at, UpdatedAt: at}
}

// variants are jobs whose fields the columns and defaults do not give
// back, or give back only in part.
func variants() []*cairn.Job {
	paris := time.FixedZone("Paris", 3600)
	var out []*cairn.Job
	add := func(f func(j *cairn.Job)) {
		j := queued()
		f(j)
		out = append(out, j)
	}
	add(func(j *cairn.Job) {})
	add(func(j *cairn.Job) {
		j.RunID, j.PolicyRuleID, j.Labels, j.RiskTags, j.SubmitterRoles = "", "", nil, nil, nil
	})
	add(func(j *cairn.Job) { j.Labels, j.SubmitterRoles = map[string]string{}, []string{} })
	add(func(j *cairn.Job) { j.CreatedAt = j.CreatedAt.In(paris) })
	add(func(j *cairn.Job) { j.CreatedAt = time.Time{}; j.UpdatedAt = time.Time{} })
	add(func(j *cairn.Job) { j.UpdatedAt = j.CreatedAt.Add(time.Second) })
	add(func(j *cairn.Job) { j.UpdatedAt = j.CreatedAt.In(paris) })
	add(func(j *cairn.Job) { j.CreatedAt = j.CreatedAt.Add(time.Hour).Round(0).Local() })
	add(func(j *cairn.Job) { j.ContextPtr = "" })
	add(func(j *cairn.Job) { j.ContextPtr = "ctx:other" })
	add(func(j *cairn.Job) { j.JobID, j.Tenant = "j\"\\ü\u2028<>&", "Acme-2" })
	add(func(j *cairn.Job) { j.JobID = "bad\xffutf8" })
	add(func(j *cairn.Job) { j.Executor = "worker-7" })
	add(func(j *cairn.Job) { j.Constraints = json.RawMessage(`{"max_rows": 50, "x": [1, {"y": "}"}]}`) })
	add(func(j *cairn.Job) { j.Constraints = json.RawMessage(`null`) })
	add(func(j *cairn.Job) {
		exp := j.CreatedAt.Add(time.Minute)
		j.State, j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt, j.Attempts = cairn.StateRunning, "lease-1", "worker-1", &exp, 2
	})
	add(func(j *cairn.Job) { exp := time.Time{}; j.LeaseExpiresAt = &exp })
	add(func(j *cairn.Job) { exp := j.CreatedAt.In(paris); j.LeaseExpiresAt = &exp })
	add(func(j *cairn.Job) {
		done := j.CreatedAt.Add(3 * time.Second)
		j.State, j.ResultPtr, j.ResultSHA256, j.CompletedAt, j.UpdatedAt = cairn.StateSucceeded, cairn.Opt(cairn.ResultPtr(j.JobID)), "ab", &done, done
		j.OutputSafety = &cairn.OutputSafety{Decision: "allow", Findings: []cairn.Finding{}}
		j.ErrorSafety = &cairn.OutputSafety{Decision: "redact", RuleID: "r", Findings: []cairn.Finding{{Scanner: "pii", Type: "email", Offset: 3, Length: 5}}}
		j.Error = "boom"
	})
	add(func(j *cairn.Job) {
		j.WorkflowStepID, j.ApprovalRequired, j.Decision, j.State = "step-1", true, cairn.RequireApproval, cairn.StatePendingApproval
	})
	return out
}

// oldRead is what a read returned before ADR 0047, as the API writes it:
// the job decoded from its full JSON alone.
func oldRead(t *testing.T, full []byte) []byte {
	t.Helper()
	var j cairn.Job
	if err := json.Unmarshal(full, &j); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(&j)
	return out
}

// TestRoundTrip: every variant reads back, from its columns and stored
// body, as a job whose JSON is exactly what the read of its full JSON gave
// before; and a full body (as written before) reads back the same.
func TestRoundTrip(t *testing.T) {
	for i, j := range variants() {
		full, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		body, err := Body(j, full)
		if err != nil {
			t.Fatal(err)
		}
		c := Of(j)
		want := oldRead(t, full)
		for _, stored := range [][]byte{body, full} {
			got, err := Decode(&c, stored)
			if err != nil {
				t.Fatalf("variant %d: %v", i, err)
			}
			again, _ := json.Marshal(got)
			if !bytes.Equal(again, want) {
				t.Errorf("variant %d, stored %s:\n got %s\nwant %s", i, stored, again, want)
			}
		}
	}
}

// TestBodyLeavesOutColumns: a submitted job's body holds neither its
// columns nor the nulls, falses and zeros of what has not happened yet.
func TestBodyLeavesOutColumns(t *testing.T) {
	j := queued()
	full, _ := json.Marshal(j)
	body, err := Body(j, full)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{`"job_id"`, `"tenant"`, `"run_id"`, `"state"`, `"action"`, `"decision"`, `"policy_rule_id"`,
		`"submitted_by"`, `"created_at"`, `"updated_at"`, `"context_ptr"`, `null`, `"attempts"`, `"approval_required"`} {
		if bytes.Contains(body, []byte(gone)) {
			t.Errorf("body holds %s: %s", gone, body)
		}
	}
	if len(body) > len(full)*6/10 {
		t.Errorf("body is %d bytes of %d: %s", len(body), len(full), body)
	}
}

// TestRandomJobs: random mixes of the variants' fields round-trip too.
func TestRandomJobs(t *testing.T) {
	vs := variants()
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 2000; n++ {
		a, b := vs[r.Intn(len(vs))], vs[r.Intn(len(vs))]
		j := *a
		// Take some fields from b: the JSON of a merged with some of b's members.
		fa, _ := json.Marshal(a)
		fb, _ := json.Marshal(b)
		ma, _ := members(fa)
		mb, _ := members(fb)
		var sb bytes.Buffer
		sb.WriteByte('{')
		for i, m := range ma {
			if i > 0 {
				sb.WriteByte(',')
			}
			if r.Intn(3) == 0 {
				if v := valueOf(m.key, mb); v != nil {
					fmt.Fprintf(&sb, "%q:%s", m.key, v)
					continue
				}
			}
			sb.Write(m.raw)
		}
		sb.WriteByte('}')
		j = cairn.Job{}
		if err := json.Unmarshal(sb.Bytes(), &j); err != nil {
			t.Fatal(err)
		}
		full, _ := json.Marshal(&j)
		body, err := Body(&j, full)
		if err != nil {
			t.Fatal(err)
		}
		c := Of(&j)
		got, err := Decode(&c, body)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(got); !bytes.Equal(again, oldRead(t, full)) {
			t.Fatalf("got %s\nwant %s\nbody %s", again, full, body)
		}
	}
}

func valueOf(key []byte, ms []member) []byte {
	for _, m := range ms {
		if bytes.Equal(m.key, key) {
			return m.val
		}
	}
	return nil
}

// TestMembers: the splitter takes what encoding/json writes and refuses
// what it does not.
func TestMembers(t *testing.T) {
	ms, ok := members([]byte(`{"a":"x,\"}","b":{"c":[1,{"d":"]"}]},"e":null,"f":-1.5e3}`))
	if !ok || len(ms) != 4 || string(ms[0].val) != `"x,\"}"` || string(ms[1].val) != `{"c":[1,{"d":"]"}]}` || string(ms[3].val) != `-1.5e3` {
		t.Fatalf("members = %q, %v", ms, ok)
	}
	if ms, ok := members([]byte(`{}`)); !ok || len(ms) != 0 {
		t.Fatalf("{} = %q, %v", ms, ok)
	}
	for _, bad := range []string{``, `[]`, `{"a":1,}`, `{"a" :1}`, `{"a\"b":1}`, `{"a":"x}`, `{"a":}`, `{"a":[1}`} {
		if _, ok := members([]byte(bad)); ok {
			t.Errorf("members(%s) accepted", bad)
		}
	}
}

// BenchmarkBody is what a job's stored body costs beyond its JSON: the
// defaults' JSON and the two splits.
func BenchmarkBody(b *testing.B) {
	j := queued()
	full, _ := json.Marshal(j)
	for i := 0; i < b.N; i++ {
		if _, err := Body(j, full); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode reads a submitted job back from its columns and body.
func BenchmarkDecode(b *testing.B) {
	j := queued()
	full, _ := json.Marshal(j)
	body, _ := Body(j, full)
	c := Of(j)
	b.Run("body", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Decode(&c, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Decode(&c, full); err != nil {
				b.Fatal(err)
			}
		}
	})
}
