package verify_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ledgerbundle "github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// fuzzBases are the golden bundles that verify (without a trusted key: the
// truncated, rewritten and re-signed ones are self-consistent logs too).
var fuzzBases = []string{"good.json", "extended.json", "jobs-j2-j4.json", "range.json", "workflow.json",
	"truncated.json", "rewritten.json", "rewritten-jobs-j2-j4.json", "forged-key.json"}

type golden struct {
	raw     map[string][]byte
	bundles map[string]*ledgerbundle.Bundle
	reports map[string]*verify.Report
	key     string
	trusted []byte
}

var (
	goldenOnce sync.Once
	goldenData golden
	goldenErr  error
)

// loadGolden reads the golden bundles, the log key and the trusted checkpoint once.
func loadGolden(tb testing.TB) *golden {
	goldenOnce.Do(func() {
		g := golden{raw: map[string][]byte{}, bundles: map[string]*ledgerbundle.Bundle{}, reports: map[string]*verify.Report{}}
		for _, name := range fuzzBases {
			raw, err := os.ReadFile(filepath.Join(goldenDir, name))
			if err != nil {
				goldenErr = err
				return
			}
			b, err := ledgerbundle.UnmarshalBundle(raw)
			if err != nil {
				goldenErr = err
				return
			}
			rep, err := verify.Bundle(b, verify.Options{})
			if err != nil {
				goldenErr = err
				return
			}
			g.raw[name], g.bundles[name], g.reports[name] = raw, b, rep
		}
		key, err := os.ReadFile(filepath.Join(goldenDir, "log.pub"))
		if err != nil {
			goldenErr = err
			return
		}
		g.key = strings.TrimSpace(string(key))
		if g.trusted, err = os.ReadFile(filepath.Join(goldenDir, "trusted-checkpoint.txt")); err != nil {
			goldenErr = err
			return
		}
		goldenData = g
	})
	if goldenErr != nil {
		tb.Fatal(goldenErr)
	}
	return &goldenData
}

// checkReport: a report is returned, and it is OK exactly when there is no
// error; a failure is a *verify.Error with a code, listed first in the report.
func checkReport(t *testing.T, rep *verify.Report, err error) {
	t.Helper()
	if rep == nil {
		t.Fatalf("no report (error %v)", err)
	}
	if rep.OK != (err == nil) {
		t.Fatalf("report OK=%v with error %v", rep.OK, err)
	}
	if err == nil {
		return
	}
	var ve *verify.Error
	if !errors.As(err, &ve) || verify.Code(err) == "" || len(rep.Problems) == 0 || rep.Problems[0] != ve {
		t.Fatalf("error %#v, problems %v", err, rep.Problems)
	}
}

// smallBundle is a complete bundle of a short log (a policy, one job from
// submission to completion), and a checkpoint of its first two entries.
// (The golden bundles are mutated by FuzzVerifyMutated; large inputs slow
// the fuzzing engine.)
func smallBundle(tb testing.TB) (bundle, trusted []byte) {
	l := newTestLog(tb, "default")
	l.publish("default: deny\nrules:\n  - id: r\n    match: {actions: [db.read]}\n    decision: ALLOW\n    reason: reads\n", "admin", "p")
	l.submit(jobSpec{id: "j1", action: "db.read", by: "agent-7", input: `{"q":1}`}, "QUEUED")
	trusted = l.checkpoint()
	l.decide("j1", "submit", "ALLOW", "r")
	l.dispatch("j1", "worker-1")
	l.complete("j1", "worker-1", "SUCCEEDED", `{"rows":1}`)
	var buf bytes.Buffer
	if err := ledgerbundle.EncodeBundle(&buf, l.bundle(nil, 2)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), trusted
}

// FuzzVerifyBundle: any bytes that read as a bundle verify without
// panicking, with and without a trusted key and (fuzzed) trusted
// checkpoint, to a report that is OK exactly when no error is returned.
func FuzzVerifyBundle(f *testing.F) {
	g := loadGolden(f)
	small, smallTrusted := smallBundle(f)
	f.Add(small, smallTrusted)
	f.Add(small, g.trusted)
	f.Add([]byte(`{"format":"cairn-evidence-bundle/v1","tenant":"t","checkpoint":"x"}`), []byte(nil))
	f.Fuzz(func(t *testing.T, data, trusted []byte) {
		b, err := ledgerbundle.UnmarshalBundle(data)
		if err != nil {
			return
		}
		rep, err := verify.Bundle(b, verify.Options{})
		checkReport(t, rep, err)
		rep, err = verify.Bundle(b, verify.Options{TrustedKey: g.key, TrustedCheckpoint: trusted, WitnessKeys: []string{g.key}, MaxProblems: 3})
		checkReport(t, rep, err)
		if len(rep.Problems) > 3 {
			t.Fatalf("%d problems, at most 3 asked for", len(rep.Problems))
		}
	})
}

// FuzzVerifyMutated mutates a golden bundle that verifies (deletes del
// bytes at off and inserts ins there). The result never panics the reader
// or the verifier, and if it still verifies, it claims nothing the golden
// bundle does not: the same checkpoint (origin, size, root), and only
// entries, policies, workflow texts, payloads and job row members the
// golden bundle has, or that it reports as referenced by no entry.
// (Mutations that verify are neutral: white space, escapes, withheld
// reasons, proofs or payloads left out, unreferenced payloads added.)
func FuzzVerifyMutated(f *testing.F) {
	g := loadGolden(f)
	f.Add(uint8(0), uint32(2), uint8(0), []byte("  "), false)                                                  // white space
	f.Add(uint8(0), uint32(bytes.Index(g.raw["good.json"], []byte(`"body"`))+9), uint8(1), []byte("X"), false) // an entry body
	f.Add(uint8(3), uint32(bytes.Index(g.raw["range.json"], []byte(`"left"`))), uint8(1), []byte("L"), true)   // a renamed member
	f.Add(uint8(4), uint32(bytes.Index(g.raw["workflow.json"], []byte(`"text"`))+10), uint8(0), []byte(`\u0020`), false)
	f.Add(uint8(2), uint32(bytes.Index(g.raw["jobs-j2-j4.json"], []byte(`"jobs"`))), uint8(3), []byte(`"Jobs`), true)
	f.Add(uint8(0), uint32(bytes.Index(g.raw["good.json"], []byte(`"reason"`))+11), uint8(4), []byte("edited"), true)
	f.Fuzz(func(t *testing.T, base uint8, off uint32, del uint8, ins []byte, trusted bool) {
		name := fuzzBases[int(base)%len(fuzzBases)]
		orig := g.raw[name]
		at := int(off % uint32(len(orig)+1))
		end := min(at+int(del), len(orig))
		data := append(append(append([]byte{}, orig[:at]...), ins...), orig[end:]...)
		b, err := ledgerbundle.UnmarshalBundle(data)
		if err != nil {
			return
		}
		opts := verify.Options{}
		if trusted {
			opts = verify.Options{TrustedKey: g.key, TrustedCheckpoint: g.trusted}
		}
		rep, err := verify.Bundle(b, opts)
		checkReport(t, rep, err)
		if rep.OK {
			claimsSubset(t, g.bundles[name], g.reports[name], b, rep)
		}
	})
}

// claimsSubset fails unless what the verified bundle m claims is in the
// golden bundle o.
func claimsSubset(t *testing.T, o *ledgerbundle.Bundle, orep *verify.Report, m *ledgerbundle.Bundle, mrep *verify.Report) {
	t.Helper()
	if m.Tenant != o.Tenant || mrep.Origin != orep.Origin || mrep.TreeSize != orep.TreeSize || mrep.Root != orep.Root {
		t.Fatalf("verified a different log: %s %s %d %s", m.Tenant, mrep.Origin, mrep.TreeSize, mrep.Root)
	}
	entries := map[uint64]ledgerbundle.Entry{}
	for _, e := range o.Entries {
		entries[e.Index] = e
	}
	for _, e := range m.Entries { // (the verifier reads hex in either case)
		if oe, ok := entries[e.Index]; !ok || oe.Body != e.Body || (e.LeafHash != "" && !strings.EqualFold(e.LeafHash, oe.LeafHash)) {
			t.Fatalf("verified entry %d %q, golden %q", e.Index, e.Body, oe.Body)
		}
	}
	// A policy is named by the hash of its text: another id is another
	// (self-certified) policy.
	policies := map[string]string{}
	for _, p := range o.Policies {
		policies[p.Snapshot] = p.Text
	}
	for _, p := range m.Policies {
		if text, ok := policies[p.Snapshot]; ok && text != p.Text {
			t.Fatalf("verified policy %q with text %q, golden %q", p.Snapshot, p.Text, text)
		}
	}
	// Workflow texts and payloads the golden bundle does not have must be
	// reported as referenced by no entry.
	workflows := map[string]ledgerbundle.WorkflowText{}
	for _, w := range o.Workflows {
		workflows[w.WorkflowID] = w
	}
	for _, w := range m.Workflows {
		ow, ok := workflows[w.WorkflowID]
		if ok && ow != w || !ok && !noted(mrep, "workflow "+w.WorkflowID+" is not referenced") {
			t.Fatalf("verified workflow %+v, golden %+v; notes %q", w, ow, mrep.Notes)
		}
	}
	payloads := map[string]ledgerbundle.Payload{}
	for _, p := range o.Payloads {
		payloads[p.Ptr] = p
	}
	for _, p := range m.Payloads {
		op, ok := payloads[p.Ptr]
		if !ok && !noted(mrep, "payload "+p.Ptr+" is not referenced") && !noted(mrep, "payload "+p.Ptr+" withheld") ||
			ok && (p.Data != nil && !bytes.Equal(p.Data, op.Data) || p.SHA256 != "" && p.SHA256 != op.SHA256) {
			t.Fatalf("verified payload %s (sha256 %s, %d bytes), golden %+v; notes %q", p.Ptr, p.SHA256, len(p.Data), op, mrep.Notes)
		}
	}
	jobs := map[string]ledgerbundle.JobRow{}
	for _, j := range o.Jobs {
		jobs[j.JobID] = j
	}
	for _, j := range m.Jobs {
		oj, ok := jobs[j.JobID]
		if !ok || !rowWithin(j, oj) {
			t.Fatalf("verified job row %+v, golden %+v", j, oj)
		}
	}
}

// noted reports whether a note of rep starts with prefix.
func noted(rep *verify.Report, prefix string) bool {
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// rowWithin: every member m asserts equals o's.
func rowWithin(m, o ledgerbundle.JobRow) bool {
	pairs := [][2]string{{m.JobHash, o.JobHash}, {m.State, o.State}, {m.Decision, o.Decision}, {m.PolicyRuleID, o.PolicyRuleID},
		{m.PolicySnapshot, o.PolicySnapshot}, {m.Resolution, o.Resolution}, {m.ResolvedBy, o.ResolvedBy}, {m.OutputSafety, o.OutputSafety},
		{m.ContextPtr, o.ContextPtr}, {m.ContextSHA256, o.ContextSHA256}, {m.ResultPtr, o.ResultPtr}, {m.ResultSHA256, o.ResultSHA256}}
	for _, p := range pairs {
		if p[0] != "" && p[0] != p[1] {
			return false
		}
	}
	return true
}
