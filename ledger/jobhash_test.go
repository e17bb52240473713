package ledger

import (
	"strings"
	"testing"
)

func checkJobHashes(t *testing.T, j *SubmittedJob, input []byte) {
	t.Helper()
	ref, err0 := jobHashReference(j.HashInput(input))
	want, err1 := JobHash(j.HashInput(input))
	if (err0 == nil) != (err1 == nil) || err0 != nil && err0.Error() != err1.Error() || want != ref {
		t.Fatalf("JobHash %s, %v != reference %s, %v for %+v input %q", want, err1, ref, err0, j, input)
	}
	got, err2 := j.ComputeJobHash(input)
	if (err1 != nil) != (err2 != nil) {
		t.Fatalf("errors differ: JobHash %v, ComputeJobHash %v (input %q)", err1, err2, input)
	}
	if got != want {
		t.Fatalf("ComputeJobHash %s != JobHash %s for %+v input %q", got, want, j, input)
	}
}

func TestComputeJobHashMatchesJobHash(t *testing.T) {
	jobs := []*SubmittedJob{
		{},
		{Tenant: "default", JobID: "j1", Action: "db.read"},
		{Tenant: "t", JobID: "j\"2\\", RunID: "r\n\t\x01\x1f\x7f", WorkflowStepID: "s<>&", Action: "a\u2028b\u2029",
			Resource: "db://é/😀", SubmittedBy: "agent", Labels: map[string]string{"b": "1", "a": "2", "é": "3", "😀": "4", "\uff61": "5", "A": ""},
			RiskTags: []string{"z", "a", "é", "😀", "\uff61"}},
		{Tenant: "t", Labels: map[string]string{}, RiskTags: []string{}},
		{Tenant: "bad\xffutf8", Labels: map[string]string{"k\xfe": "v\xff"}},
		{Tenant: "t", Labels: map[string]string{"\xff": "a", "\xfe": "b", "c": "1.7976931348623157e+308"}}, // repeated once repaired
		{Tenant: "1.7976931348623157e+308", Labels: map[string]string{"\ue000": "x", "😀": "y"}},
	}
	inputs := []string{"", "null", "{}", "[]", `{"b":1,"a":[1,2.50,1e21,-0,0.1]}`, ` { "x" : "<script>&\u2028" } `,
		`{"big":12345678901234567890,"small":1e-7,"s":"\ud83d\ude00\u00e9"}`, `"str"`, `true`, `{`, `{"a":}`, `1 2`, `{"a":1,"\u0061":2}`, `{"\udc00":1}`, `{"\ud83d\ude00":1,"\uff61":2,"z":[{}]}`,
		`[1e-400, 1e400]`, `[1e-400]`, `{"a":{"b":{"c":[[[[1]]]]}}}`,
		"\"\xff\"", "\"a\x7f\"", "{\"\xfe\":1}", "\"\xed\xa0\x80\"", `"\ud800"`, `"\udc00\ud800x"`,
		`{"\ue000":1,"\ud83d\ude00":2,"z":{"b":[],"a":{}}}`, `"\ud83d&"`, `"<\u2028>"`, strings.Repeat("[", 70) + strings.Repeat("]", 70)}
	for _, j := range jobs {
		for _, in := range inputs {
			var b []byte
			if in != "" {
				b = []byte(in)
			}
			checkJobHashes(t, j, b)
		}
	}
}

// TestComputeJobHashErrors: ComputeJobHash's errors are its own (the
// verifier reports them).
func TestComputeJobHashErrors(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		input  string
		want   string
	}{
		{nil, `{"a":`, "ledger: input is not valid JSON"},
		{nil, `{"a":1,"\u0061":2}`, `Duplicate key: "a"`},
		{nil, `[1e400]`, `Number out of range: "1e400"`},
		{map[string]string{"z\xff": "1", "z\xfe": "2", "\xff": "3", "\xfe": "4"}, `{}`, "ledger: duplicate label \"z\ufffd\" after UTF-8 repair"}, // the first in RFC 8785 order
		{map[string]string{"\xff": "3", "\xfe": "4"}, `{"a":1,"a":2}`, `Duplicate key: "a"`},
	} {
		j := &SubmittedJob{Tenant: "t", Labels: c.labels}
		if _, err := j.ComputeJobHash([]byte(c.input)); err == nil || err.Error() != c.want {
			t.Errorf("ComputeJobHash(%q) with labels %q: %v, want %s", c.input, c.labels, err, c.want)
		}
	}
}

func FuzzComputeJobHash(f *testing.F) {
	f.Add("t", "j", "a", "r", "k", "v", "tag", "tag2", []byte(`{"a":1}`))
	f.Add("", "", "", "", "", "", "", "", []byte(nil))
	f.Add("é", "\x00", "\"", "\\", "😀", "\uff61", "\xff", "b", []byte(`[1.5e300,"\u0000"]`))
	f.Add("t", "j", "a", "r", "k", "v", "x", "y", []byte(`{"b":{"d":[1,{"z":"\ud83d\ude00"}],"c":"\u00e9\/"},"a":-0.0e1,"\u00e9":[true,false,null],"A":1E2}`))
	f.Add("t", "j", "a", "r", "k", "v", "x", "y", []byte(`{"a":1,"\u0061":2}`))
	f.Add("t", "j", "a", "r", "k", "v", "x", "y", []byte(`{"\udc00":1}`))
	f.Add("t", "j", "a", "r", "k", "v", "x", "y", []byte(` [ 0.1 , 1e-400 , 123456789012345678901234567890 , "a\tb" ] `))
	f.Fuzz(func(t *testing.T, tenant, job, action, resource, k, v, t1, t2 string, input []byte) {
		j := &SubmittedJob{Tenant: tenant, JobID: job, Action: action, Resource: Opt(resource), RunID: Opt(k), SubmittedBy: v,
			Labels: map[string]string{k: v, t1: t2}, RiskTags: []string{t1, t2, k}}
		checkJobHashes(t, j, input)
	})
}

func BenchmarkJobHash(b *testing.B) {
	j := &SubmittedJob{Tenant: "default", JobID: "job-0000001", RunID: "run-00001", WorkflowStepID: "step-01", Action: "db.read",
		Resource: "db://orders/job-0000001", SubmittedBy: "agent-7", Labels: map[string]string{"env": "prod", "team": "checkout"}, RiskTags: []string{"read"}}
	in := []byte(`{"query":"select * from orders where customer = 1","limit":100}`)
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = jobHashReference(j.HashInput(in))
		}
	})
	b.Run("JobHash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = JobHash(j.HashInput(in))
		}
	})
	b.Run("ComputeJobHash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = j.ComputeJobHash(in)
		}
	})
}
