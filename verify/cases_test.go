package verify_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger"
	ledgerbundle "github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
)

// A golden case is a bundle file and the checks run on it. The cases are
// built here, written to testdata/bundles by TestGoldenGenerate -update, and
// verified from the files by TestGoldenBundles.
type goldenCase struct {
	file   string
	bundle *ledgerbundle.Bundle
	checks []goldenCheck
	doc    string
}

type goldenCheck struct {
	trusted bool  // verify with the trusted key and trusted-checkpoint.txt
	kind    error // nil: must verify
	record  string
}

func cloneBundle(t testing.TB, b *ledgerbundle.Bundle) *ledgerbundle.Bundle {
	var c ledgerbundle.Bundle
	if err := json.Unmarshal(mustJSON(t, b), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// entryWhere returns the array position of the first entry whose body
// contains all the fragments.
func entryWhere(t testing.TB, b *ledgerbundle.Bundle, frags ...string) int {
	for i, e := range b.Entries {
		ok := true
		for _, f := range frags {
			ok = ok && strings.Contains(e.Body, f)
		}
		if ok {
			return i
		}
	}
	t.Fatalf("no entry with %q", frags)
	return -1
}

// withhold replaces a payload's data with withheld:true, as an export does
// for a quarantined result.
func withhold(b *ledgerbundle.Bundle, ptr, reason string) {
	for i := range b.Payloads {
		if b.Payloads[i].Ptr == ptr {
			b.Payloads[i].Data, b.Payloads[i].Withheld, b.Payloads[i].Reason = nil, true, reason
		}
	}
}

// goldenLogs returns the scenario log and its checkpoint (the one auditors
// keep, trusted-checkpoint.txt).
func goldenLog(t testing.TB) (*testLog, []byte) {
	l := newTestLog(t, "default")
	scenario(l, "")
	return l, l.checkpoint()
}

// extend appends three more events, as the service would after the
// trusted checkpoint was taken.
func extend(l *testLog) {
	l.submit(jobSpec{id: "j5", run: "run-2", action: "http.get", resource: "https://example.com", by: "agent-7", input: `{"url":"https://example.com"}`}, "QUEUED")
	l.decide("j5", "submit", "ALLOW", "reads-are-fine")
}

// goldenCases returns the cases, the trusted checkpoint and the log's
// verifier key.
func goldenCases(t testing.TB) ([]goldenCase, []byte, string) {
	l, trusted := goldenLog(t)
	n := l.app.Size()
	good := l.bundle(nil)
	withhold(good, "res:j2", "quarantined by out-safe-1")

	var cases []goldenCase
	add := func(file, doc string, b *ledgerbundle.Bundle, checks ...goldenCheck) {
		cases = append(cases, goldenCase{file: file, bundle: b, checks: checks, doc: doc})
	}
	ok := goldenCheck{}
	okTrusted := goldenCheck{trusted: true}

	add("good.json", "the complete export of the golden ledger (root recomputed from all leaves)", good, ok, okTrusted)

	// A later export: the log grew by three entries after trusted-checkpoint.txt.
	ext := newTestLog(t, "default")
	scenario(ext, "")
	extend(ext)
	grown := ext.bundle(nil)
	withhold(grown, "res:j2", "quarantined by out-safe-1")
	add("extended.json", "a later complete export; consistent with trusted-checkpoint.txt", grown, ok, okTrusted)

	jobs := func(e ledgerbundle.Entry) bool {
		return strings.Contains(e.Body, `"job_id":"j2"`) || strings.Contains(e.Body, `"job_id":"j4"`)
	}
	job2 := ext.bundle(jobs, n)
	withhold(job2, "res:j2", "quarantined by out-safe-1")
	add("jobs-j2-j4.json", "only jobs j2 and j4, each entry with an inclusion proof, plus a consistency proof from the trusted size", job2, ok, okTrusted)

	rng := l.bundle(func(e ledgerbundle.Entry) bool { return e.Index >= 8 && e.Index < 16 })
	add("range.json", "entries [8,16) with a range proof", rng, ok, okTrusted)

	// Tampering.
	b := cloneBundle(t, good)
	i := entryWhere(t, b, `"type":"approval_resolved"`, `"job_id":"j2"`)
	b.Entries[i].Body = strings.Replace(b.Entries[i].Body, `"resolution":"approved"`, `"resolution":"rejected"`, 1)
	add("edited-body.json", "j2's approval resolution edited from approved to rejected", b,
		goldenCheck{kind: verify.ErrLeafHash, record: fmt.Sprintf("entry %d", b.Entries[i].Index)})

	b = cloneBundle(t, good)
	i = entryWhere(t, b, `"type":"approval_requested"`, `"job_id":"j2"`)
	del := b.Entries[i].Index
	b.Entries = append(b.Entries[:i:i], b.Entries[i+1:]...)
	add("deleted-entry.json", "j2's approval_requested entry removed", b,
		goldenCheck{kind: verify.ErrMissing, record: fmt.Sprintf("entry %d", del)})

	b = cloneBundle(t, good)
	i = entryWhere(t, b, `"type":"approval_resolved"`, `"job_id":"j2"`)
	j := entryWhere(t, b, `"type":"job_dispatched"`, `"job_id":"j2"`)
	b.Entries[i], b.Entries[j] = b.Entries[j], b.Entries[i]
	add("reordered.json", "j2's approval_resolved and job_dispatched entries swapped in the list", b,
		goldenCheck{kind: verify.ErrOrder, record: fmt.Sprintf("entry %d", b.Entries[i+1].Index)})

	b = cloneBundle(t, good)
	b.Entries[i].Body, b.Entries[j].Body = b.Entries[j].Body, b.Entries[i].Body
	b.Entries[i].LeafHash, b.Entries[j].LeafHash = b.Entries[j].LeafHash, b.Entries[i].LeafHash
	add("reindexed.json", "the same two entries swapped, each keeping its position's index", b,
		goldenCheck{kind: verify.ErrIndex, record: fmt.Sprintf("entry %d", b.Entries[i].Index)})

	// Truncation: drop the newest entries and re-sign; only an auditor
	// holding trusted-checkpoint.txt can tell.
	tr := newTestLog(t, "default")
	tr.limit = int(n) - 5
	scenario(tr, "")
	trunc := tr.bundle(nil)
	add("truncated.json", "the newest 5 entries removed and everything recomputed and re-signed", trunc,
		ok, goldenCheck{trusted: true, kind: verify.ErrTruncated, record: "checkpoint"})

	// Rewrite: j2's approver changed in history, log re-grown and re-signed.
	rw := newTestLog(t, "default")
	scenario(rw, "mallory")
	extend(rw)
	rewritten := rw.bundle(nil)
	add("rewritten.json", "j2 approved by mallory instead of alice, everything recomputed and re-signed", rewritten,
		ok, goldenCheck{trusted: true, kind: verify.ErrConsistency, record: "checkpoint"})
	rwJob := rw.bundle(jobs, n)
	add("rewritten-jobs-j2-j4.json", "the rewritten log's jobs j2 and j4 with a consistency proof from the trusted size", rwJob,
		ok, goldenCheck{trusted: true, kind: verify.ErrConsistency, record: "checkpoint"})

	b = cloneBundle(t, good)
	v2 := ledger.SnapshotID([]byte(policyV2))
	for k := range b.Policies {
		if b.Policies[k].Snapshot == v2 {
			b.Policies[k].Text = policyV1
		}
	}
	add("policy-swapped.json", "the text of the v2 snapshot replaced by v1's text", b,
		goldenCheck{kind: verify.ErrPolicy, record: "policy " + v2})

	b = cloneBundle(t, good)
	for k := range b.Payloads {
		if p := &b.Payloads[k]; p.Ptr == "ctx:j2" {
			p.Data = []byte(strings.Replace(string(p.Data), "id = 7", "id > 0", 1))
			p.SHA256 = ledger.SHA256Hex(p.Data)
		}
	}
	add("payload-changed.json", "j2's stored input changed (and its sha256 recomputed)", b,
		goldenCheck{kind: verify.ErrPayload, record: "payload ctx:j2"})

	b = cloneBundle(t, good)
	for k := range b.Jobs {
		if b.Jobs[k].JobID == "j4" {
			b.Jobs[k].State = "SUCCEEDED"
		}
	}
	add("projection-changed.json", "job j4's row says SUCCEEDED though it was rejected", b,
		goldenCheck{kind: verify.ErrProjection, record: "job j4"})

	b = cloneBundle(t, good)
	lines := strings.SplitN(b.Checkpoint, "\n", 4)
	lines[1] = fmt.Sprint(n - 1)
	b.Checkpoint = strings.Join(lines, "\n")
	add("bad-signature.json", "the checkpoint's tree size edited under its signature", b,
		goldenCheck{kind: verify.ErrSignature, record: "checkpoint"})

	// A forger with another key re-signs an edited log; only the trusted key
	// catches it (the bundle's own key verifies it).
	fl := newTestLog(t, "default")
	k2, _ := tree.NewKeyFromSeed(tree.DefaultOriginPrefix, []byte(strings.Repeat("f", 32)))
	fl.signer, _ = k2.SignerFor(fl.origin)
	fl.vkey, _ = k2.VerifierKeyFor(fl.origin)
	scenario(fl, "mallory")
	add("forged-key.json", "a rewritten log signed with another key, shipped with that key", fl.bundle(nil),
		ok, goldenCheck{trusted: true, kind: verify.ErrSignature, record: "checkpoint"})

	// Workflow definitions, on a log of their own (trusted-checkpoint.txt
	// is another log's, so only the untrusted check applies).
	wl, _, wv2 := workflowLog(t)
	wgood := wl.bundle(nil)
	add("workflow.json", "a complete export of a log with two versions of a workflow and a run of the second: both definition texts", wgood, ok)
	b = cloneBundle(t, wgood)
	w := textOf(b, wv2)
	w.Text = strings.Replace(w.Text, "db.read", "db.reae", 1)
	add("workflow-text-changed.json", "one byte of the second workflow version's text changed", b,
		goldenCheck{kind: verify.ErrWorkflow, record: "workflow " + wv2})
	b = cloneBundle(t, wgood)
	b.Workflows = slices.DeleteFunc(b.Workflows, func(w ledgerbundle.WorkflowText) bool { return w.WorkflowID == wv2 })
	reg := b.Entries[entryWhere(t, b, `"type":"workflow_registered"`, wv2)].Index
	add("workflow-text-missing.json", "the second workflow version's text left out (its registration and run name it)", b,
		goldenCheck{kind: verify.ErrWorkflow, record: fmt.Sprintf("entry %d", reg)})
	return cases, trusted, l.vkey
}
