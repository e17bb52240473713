package verify_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
)

// runCheck verifies b as a goldenCheck says and asserts the outcome.
func runCheck(t *testing.T, name string, b *bundle.Bundle, c goldenCheck, trusted []byte, vkey string) *verify.Report {
	t.Helper()
	var opts verify.Options
	if c.trusted {
		opts.TrustedKey, opts.TrustedCheckpoint = vkey, trusted
	}
	rep, err := verify.Bundle(b, opts)
	if rep == nil {
		t.Fatalf("%s: nil report", name)
	}
	if c.kind == nil {
		if err != nil || !rep.OK {
			t.Errorf("%s (trusted=%v): want OK, got %v", name, c.trusted, err)
		}
		return rep
	}
	var ve *verify.Error
	if !errors.As(err, &ve) {
		t.Errorf("%s (trusted=%v): want %v, got %v", name, c.trusted, c.kind, err)
		return rep
	}
	if !errors.Is(err, c.kind) || ve.Record != c.record {
		t.Errorf("%s (trusted=%v): got %q, want record %q kind %q", name, c.trusted, err, c.record, c.kind)
	}
	if rep.OK || rep.Problems[0] != ve {
		t.Errorf("%s: report does not list the returned error first", name)
	}
	return rep
}

func TestTamperCases(t *testing.T) {
	cases, trusted, vkey := goldenCases(t)
	for _, gc := range cases {
		for _, c := range gc.checks {
			rep := runCheck(t, gc.file, gc.bundle, c, trusted, vkey)
			if testing.Verbose() && len(rep.Problems) > 0 {
				t.Logf("%s (trusted=%v): %v", gc.file, c.trusted, rep.Problems[0])
			}
		}
	}
}

func TestGoodReport(t *testing.T) {
	cases, trusted, vkey := goldenCases(t)
	good := cases[0].bundle
	rep, err := verify.Bundle(good, verify.Options{TrustedKey: vkey, TrustedCheckpoint: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.KeyTrusted || rep.Mode != "complete" || rep.Entries != len(good.Entries) || uint64(rep.Entries) != rep.TreeSize {
		t.Errorf("report %+v", rep)
	}
	if rep.ChainLinks != rep.Entries-1 || rep.Jobs != 5 || rep.JobHashesVerified != 5 || rep.Policies != 2 {
		t.Errorf("counts %+v", rep)
	}
	if rep.Payloads != 8 || rep.PayloadsWithheld != 1 {
		t.Errorf("payloads %d withheld %d", rep.Payloads, rep.PayloadsWithheld)
	}
	if rep.Consistency == "" || rep.TrustedSize != rep.TreeSize {
		t.Errorf("consistency %q", rep.Consistency)
	}
	if !hasNote(rep, "res:j2 withheld") {
		t.Errorf("no note about the withheld payload: %q", rep.Notes)
	}
	// Without a trusted key the report says so.
	rep, err = verify.Bundle(good, verify.Options{})
	if err != nil || rep.KeyTrusted || !hasNote(rep, "public key shipped in the bundle") {
		t.Errorf("untrusted: %v %+v", err, rep.Notes)
	}
}

func hasNote(rep *verify.Report, frag string) bool {
	for _, n := range rep.Notes {
		if strings.Contains(n, frag) {
			return true
		}
	}
	return false
}

func TestModes(t *testing.T) {
	cases, trusted, vkey := goldenCases(t)
	byName := map[string]*bundle.Bundle{}
	for _, c := range cases {
		byName[c.file] = c.bundle
	}
	for file, mode := range map[string]string{"good.json": "complete", "range.json": "range", "jobs-j2-j4.json": "proofs", "extended.json": "complete"} {
		rep, err := verify.Bundle(byName[file], verify.Options{TrustedKey: vkey, TrustedCheckpoint: trusted})
		if err != nil || rep.Mode != mode {
			t.Errorf("%s: mode %q err %v", file, rep.Mode, err)
		}
		if file == "jobs-j2-j4.json" && (rep.InclusionProofs != len(byName[file].Entries) || !strings.Contains(rep.Consistency, "proof")) {
			t.Errorf("jobs-j2-j4: %+v", rep)
		}
		if file == "extended.json" && !strings.Contains(rep.Consistency, "recomputed") {
			t.Errorf("extended: %q", rep.Consistency)
		}
	}
}

func TestMoreTampering(t *testing.T) {
	cases, trusted, vkey := goldenCases(t)
	good := cases[0].bundle
	trustedOpts := verify.Options{TrustedKey: vkey, TrustedCheckpoint: trusted}
	expect := func(name string, b *bundle.Bundle, opts verify.Options, kind error, record string) {
		t.Helper()
		_, err := verify.Bundle(b, opts)
		var ve *verify.Error
		if !errors.As(err, &ve) || !errors.Is(err, kind) || (record != "" && ve.Record != record) {
			t.Errorf("%s: got %v, want %v at %q", name, err, kind, record)
		}
	}

	b := cloneBundle(t, good)
	for k := range b.Payloads {
		if b.Payloads[k].Ptr == "ctx:j2" {
			b.Payloads[k].Data = append(b.Payloads[k].Data, ' ')
		}
	}
	expect("payload data changed, sha256 kept", b, verify.Options{}, verify.ErrPayload, "payload ctx:j2")

	// j6 was approved, then re-decided ALLOW at dispatch: the approval's
	// REQUIRE_APPROVAL stays the decision of record.
	b = cloneBundle(t, good)
	for k := range b.Jobs {
		if b.Jobs[k].JobID == "j6" {
			if b.Jobs[k].Decision != "REQUIRE_APPROVAL" {
				t.Fatalf("j6 row %+v", b.Jobs[k])
			}
			b.Jobs[k].Decision, b.Jobs[k].PolicyRuleID = "ALLOW", "reads-are-fine"
		}
	}
	expect("decision of record", b, verify.Options{}, verify.ErrProjection, "job j6")

	b = cloneBundle(t, good)
	b.Policies = b.Policies[1:]
	expect("policy text missing", b, verify.Options{}, verify.ErrPolicy, "")

	b = cloneBundle(t, good)
	b.Entries[3].LeafHash = strings.Repeat("0", 64)
	expect("leaf_hash field edited", b, verify.Options{}, verify.ErrLeafHash, "entry 3")

	b = cloneBundle(t, good)
	b.Range.Left = []string{strings.Repeat("0", 64)}
	expect("bogus range proof", b, verify.Options{}, verify.ErrFormat, "range [0,"+strconv.Itoa(len(good.Entries))+")")

	b = cloneBundle(t, good)
	b.Tenant = "other"
	expect("bundle tenant changed", b, verify.Options{}, verify.ErrTenant, "entry 0")

	b = cloneBundle(t, good)
	b.Origin = "cairn.local/other"
	expect("bundle origin changed", b, verify.Options{}, verify.ErrOrigin, "checkpoint")

	b = cloneBundle(t, good)
	b.Format = "cairn-evidence-bundle/v0"
	expect("format", b, verify.Options{}, verify.ErrFormat, "bundle")

	// A job's data.job edited together with its leaf: the leaf hash then
	// fails; with a recomputed tree the signature fails. Here: an event
	// binding j2 to another job_hash, rebuilt as a fresh log.
	l := newTestLog(t, "default")
	scenario(l, "")
	l.append(map[string]any{"type": "policy_decided", "job_id": "j2", "actor": "cairn", "decision": "ALLOW",
		"policy_rule_id": "reads-are-fine", "policy_snapshot": l.active, "job_hash": strings.Repeat("ab", 32), "state": "QUEUED"})
	expect("event bound to another job_hash", l.bundle(nil), verify.Options{}, verify.ErrJobHash, "entry "+strconv.Itoa(int(l.app.Size()-1)))

	// Inclusion proof tampering in a selective bundle.
	sel := cases[2].bundle // jobs-j2-j4.json
	b = cloneBundle(t, sel)
	b.InclusionProofs[1].Hashes[0] = strings.Repeat("1", 64)
	expect("inclusion proof edited", b, verify.Options{}, verify.ErrInclusion, "entry "+strconv.Itoa(int(b.InclusionProofs[1].Index)))
	b = cloneBundle(t, sel)
	b.InclusionProofs = b.InclusionProofs[:len(b.InclusionProofs)-1]
	expect("inclusion proof missing", b, verify.Options{}, verify.ErrInclusion, "")
	b = cloneBundle(t, sel)
	b.ConsistencyProofs = nil
	expect("consistency proof missing", b, trustedOpts, verify.ErrConsistency, "checkpoint")

	// A trusted checkpoint that is not signed by the trusted key.
	opts := trustedOpts
	opts.TrustedCheckpoint = []byte(strings.Replace(string(trusted), "\n", "\n1", 1))
	expect("bad trusted checkpoint", good, opts, verify.ErrTrustedCheckpoint, "trusted checkpoint")

	// Witness cosignatures are verified and reported.
	w, _ := tree.NewKeyFromSeed("witness.example", []byte(strings.Repeat("w", 32)))
	lv, _ := tree.NewVerifier(vkey)
	co, _, err := tree.Cosign([]byte(good.Checkpoint), lv, nil, nil, w.Signer())
	if err != nil {
		t.Fatal(err)
	}
	b = cloneBundle(t, good)
	b.Checkpoint = string(co)
	rep, err := verify.Bundle(b, verify.Options{TrustedKey: vkey, WitnessKeys: []string{w.VerifierKey()}})
	if err != nil || len(rep.Cosigners) != 1 || rep.Cosigners[0] != "witness.example" {
		t.Errorf("cosigned: %v %+v", err, rep.Cosigners)
	}
	rep, err = verify.Bundle(b, verify.Options{TrustedKey: vkey})
	if err != nil || !hasNote(rep, "witness.example") {
		t.Errorf("unknown cosigner not noted: %v %q", err, rep.Notes)
	}

	if _, err := verify.Bundle(nil, verify.Options{}); !errors.Is(err, verify.ErrFormat) {
		t.Errorf("nil bundle: %v", err)
	}
}

func TestReportRendering(t *testing.T) {
	cases, trusted, vkey := goldenCases(t)
	rep, err := verify.Bundle(cases[0].bundle, verify.Options{TrustedKey: vkey, TrustedCheckpoint: trusted})
	if err != nil || !strings.HasSuffix(rep.Summary(), "result:      OK\n") {
		t.Errorf("good summary:\n%s", rep.Summary())
	}
	for _, c := range cases {
		if c.file != "edited-body.json" {
			continue
		}
		rep, err := verify.Bundle(c.bundle, verify.Options{})
		if verify.Code(err) != "leaf_hash_mismatch" {
			t.Errorf("code %q", verify.Code(err))
		}
		if s := rep.Summary(); !strings.Contains(s, "result:      FAILED: entry 11: leaf hash mismatch") || !strings.Contains(s, "NOT independently trusted") {
			t.Errorf("summary:\n%s", s)
		}
		js, _ := json.Marshal(rep)
		if !strings.Contains(string(js), `"code":"leaf_hash_mismatch","record":"entry 11","index":11`) {
			t.Errorf("json: %s", js)
		}
	}
	if verify.Code(errors.New("x")) != "" {
		t.Error("code of a foreign error")
	}
}

// TestServiceFlows covers the service's less common transitions: a job
// allowed at submit that needs approval at dispatch (approval_requested
// without a state), is approved and dispatched; a job denied at dispatch
// after its approval; an expired lease.
func TestServiceFlows(t *testing.T) {
	l := newTestLog(t, "default")
	l.publish(policyV1, "admin", "initial policy")
	l.submit(jobSpec{id: "k1", run: "run-9", action: "db.write", by: "agent-7", input: `{"x":1}`}, "QUEUED")
	l.decide("k1", "submit", "ALLOW", "reads-are-fine")
	l.decide("k1", "dispatch", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.requestApproval("k1", "prod-write-needs-approval")
	b := l.bundle(nil)
	if rep, err := verify.Bundle(b, verify.Options{}); err != nil {
		t.Fatalf("pending at dispatch: %v\n%s", err, rep.Summary())
	}
	if r := l.jobs["k1"]; r.State != "PENDING_APPROVAL" || r.Decision != "REQUIRE_APPROVAL" {
		t.Fatalf("row %+v", r)
	}
	l.resolve("k1", "approved", "alice", "", "QUEUED")
	l.decide("k1", "dispatch", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.dispatch("k1", "worker-1")
	l.append(map[string]any{"type": "lease_expired", "job_id": "k1", "actor": "cairn", "state": "QUEUED"})
	l.decide("k1", "dispatch", "ALLOW", "reads-are-fine")
	l.dispatch("k1", "worker-2")

	l.submit(jobSpec{id: "k2", action: "db.write", by: "agent-7", input: `{"x":2}`}, "PENDING_APPROVAL")
	l.decide("k2", "submit", "REQUIRE_APPROVAL", "prod-write-needs-approval")
	l.requestApproval("k2", "prod-write-needs-approval")
	l.resolve("k2", "approved", "bob", "", "QUEUED")
	l.decide("k2", "dispatch", "DENY", "")
	l.append(map[string]any{"type": "job_state_changed", "job_id": "k2", "actor": "cairn", "state": "DENIED", "decision": "DENY"})
	b = l.bundle(nil)
	rep, err := verify.Bundle(b, verify.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Summary())
	}
	if r := l.jobs["k1"]; r.State != "RUNNING" || r.Decision != "REQUIRE_APPROVAL" {
		t.Errorf("k1 row %+v", r)
	}
	if r := l.jobs["k2"]; r.State != "DENIED" || r.Decision != "DENY" {
		t.Errorf("k2 row %+v", r)
	}
}

func TestWithheldWithoutHash(t *testing.T) {
	cases, _, _ := goldenCases(t)
	b := cloneBundle(t, cases[0].bundle)
	for k := range b.Payloads {
		if p := &b.Payloads[k]; p.Ptr == "ctx:j3" || p.Ptr == "res:j1" {
			p.Data, p.SHA256, p.Withheld, p.Reason = nil, "", true, "missing from the store"
		}
	}
	rep, err := verify.Bundle(b, verify.Options{})
	if err != nil || !hasNote(rep, "ctx:j3 is withheld without a sha256") || rep.JobHashesVerified != 4 {
		t.Errorf("%v %q", err, rep.Notes)
	}
}
