package http_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/ledger/tree"
)

func (e *env) logKey() string {
	var k struct {
		PublicKey string `json:"public_key"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/key", nil, 200, &k)
	return k.PublicKey
}

func unhex(t *testing.T, hs []string) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestEvidenceCarriesProofs checks that the decision record proves every
// event it lists against a checkpoint signed by the log key.
func TestEvidenceCarriesProofs(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	j := e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-p", RunID: "run-p", Action: "db.read"})
	l := e.Lease("db.*")
	e.MustDo("worker-1", "POST", "/api/v1/jobs/job-p/complete", cairn.CompleteRequest{LeaseID: l[0].LeaseID, Status: "succeeded", Result: json.RawMessage(`{"n":1}`)}, 200, nil)
	var rec cairn.DecisionRecord
	e.MustDo("auditor-1", "GET", "/api/v1/jobs/job-p/evidence", nil, 200, &rec)
	if rec.Proof == nil || len(rec.Proof.Inclusion) != len(rec.Events) {
		t.Fatalf("proof: %+v for %d events", rec.Proof, len(rec.Events))
	}
	v, err := tree.NewVerifier(e.logKey())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tree.OpenCheckpoint([]byte(rec.Proof.Checkpoint), v)
	if err != nil {
		t.Fatalf("checkpoint does not verify with the log key: %v", err)
	}
	for _, in := range rec.Proof.Inclusion {
		leaf, _ := hex.DecodeString(in.LeafHash)
		var lh [32]byte
		copy(lh[:], leaf)
		if err := tree.VerifyInclusion(in.Index, cp.Size, lh, unhex(t, in.Hashes), cp.Root); err != nil {
			t.Fatalf("inclusion of %d: %v", in.Index, err)
		}
	}
	_ = j
	// The proof endpoints agree with each other and with the checkpoint.
	var inc struct {
		LeafHash string   `json:"leaf_hash"`
		RootHash string   `json:"root_hash"`
		Hashes   []string `json:"hashes"`
	}
	e.MustDo("auditor-1", "GET", fmt.Sprintf("/api/v1/ledger/proof/inclusion?index=0&size=%d", cp.Size), nil, 200, &inc)
	if inc.RootHash != hex.EncodeToString(cp.Root[:]) {
		t.Fatal("inclusion proof root differs from the checkpoint root")
	}
	var con struct {
		Hashes []string `json:"hashes"`
	}
	e.MustDo("auditor-1", "GET", fmt.Sprintf("/api/v1/ledger/proof/consistency?from=3&to=%d", cp.Size), nil, 200, &con)
	var old struct {
		RootHash string `json:"root_hash"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/proof/inclusion?index=0&size=3", nil, 200, &old)
	oldRoot, _ := hex.DecodeString(old.RootHash)
	var or [32]byte
	copy(or[:], oldRoot)
	if err := tree.VerifyConsistency(3, cp.Size, unhex(t, con.Hashes), or, cp.Root); err != nil {
		t.Fatalf("consistency: %v", err)
	}
	// Bad proof parameters are 400s.
	e.ErrCode("auditor-1", "GET", "/api/v1/ledger/proof/inclusion?index=999999&size=3", nil, 400, cairn.EInvalid)
	e.ErrCode("auditor-1", "GET", "/api/v1/ledger/proof/inclusion?index=-1", nil, 400, cairn.EInvalid)
	e.ErrCode("auditor-1", "GET", "/api/v1/ledger/proof/consistency?from=9&to=3", nil, 400, cairn.EInvalid)
	e.ErrCode("auditor-1", "GET", "/api/v1/ledger/proof/consistency?from=1&to=99999999", nil, 400, cairn.EInvalid)
	// The checkpoint history pages newest first. The loop stores one a
	// second, so on a loaded machine the first may take a moment.
	var cps cairn.List[*cairn.Checkpoint]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoints?limit=2", nil, 200, &cps)
		if len(cps.Items) > 0 && cps.Items[0].Size >= cp.Size || time.Now().After(deadline) {
			break
		}
	}
	if len(cps.Items) == 0 || cps.Items[0].Size < cp.Size {
		t.Fatalf("checkpoint history: %+v", cps.Items)
	}
}

// TestWorkerRefusesUnprovenWork: the Go worker helper runs a job whose
// receipt verifies against the pinned key, and refuses it under another key.
func TestWorkerRefusesUnprovenWork(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	run := func(logKey, jobID string) *cairn.Job {
		e.Submit("agent-1", cairn.SubmitRequest{JobID: jobID, Action: "db.read", Input: json.RawMessage(`{"x":1}`)})
		c := client.New(e.URL, e.Keys["worker-1"])
		ran := make(chan bool, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &client.Worker{Client: c, WorkerID: "w-" + jobID, Actions: []string{"db.*"}, WaitMS: 200,
			Handler: func(ctx context.Context, j *cairn.LeasedJob) (json.RawMessage, error) {
				ran <- true
				return json.RawMessage(`{"ok":true}`), nil
			},
			VerifyReceipt: client.ReceiptVerifier(logKey)}
		go w.Run(ctx)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if j := e.job(jobID); cairn.IsFinalState(j.State) {
				cancel()
				select {
				case <-ran:
					j.Error = "ran"
				default:
				}
				return j
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("job %s never finished", jobID)
		return nil
	}
	good := run(e.logKey(), "job-good")
	if good.State != cairn.StateSucceeded || good.Error != "ran" {
		t.Fatalf("verified job: %s %q", good.State, good.Error)
	}
	other, _ := tree.NewKeyFromSeed("cairn", []byte("another-seed-another-seed-000000"))
	otherKey, _ := other.VerifierKeyFor("cairn.local/default")
	bad := run(otherKey, "job-bad")
	if bad.State != cairn.StateFailed || bad.Error == "ran" {
		t.Fatalf("a job with an unverifiable receipt ran: %s %q", bad.State, bad.Error)
	}
}

// TestCosignatures: a witness's cosignature is stored and served merged
// into the checkpoint; a note without the witness's own signature is refused.
func TestCosignatures(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	var cp struct {
		Note string `json:"note"`
		Size uint64 `json:"size"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, 200, &cp)
	wk, err := tree.NewKeyFromSeed("witness-1", []byte("witness-seed-witness-seed-000000"))
	if err != nil {
		t.Fatal(err)
	}
	logV, _ := tree.NewVerifier(e.logKey())
	// Unsigned by the witness: refused.
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", map[string]string{"witness_key": wk.VerifierKey(), "note": cp.Note}, 400, cairn.EInvalid)
	w := &tree.Witness{Signer: wk.Signer(), Log: logV}
	cosigned, err := w.Cosign([]byte(cp.Note), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.MustDo("auditor-1", "POST", "/api/v1/ledger/cosignatures", map[string]string{"witness_key": wk.VerifierKey(), "note": string(cosigned)}, 201, nil)
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", map[string]string{"witness_key": wk.VerifierKey(), "note": string(cosigned)}, 409, cairn.EConflict)
	e.ErrCode("agent-1", "POST", "/api/v1/ledger/cosignatures", map[string]string{"witness_key": wk.VerifierKey(), "note": string(cosigned)}, 403, cairn.EForbidden)
	var got struct {
		NoteWithCosignatures string `json:"note_with_cosignatures"`
	}
	e.MustDo("auditor-1", "GET", fmt.Sprintf("/api/v1/ledger/checkpoints/%d", cp.Size), nil, 200, &got)
	wv, _ := tree.NewVerifier(wk.VerifierKey())
	if _, err := tree.OpenCheckpoint([]byte(got.NoteWithCosignatures), logV, wv); err != nil {
		t.Fatalf("merged note does not verify with the log and witness keys: %v", err)
	}
}

// TestReceiptCheckpointIsReproducible: a lease's receipt carries a checkpoint
// that is signed, not stored; asking for that size later signs it again,
// byte for byte the same, and stores it.
func TestReceiptCheckpointIsReproducible(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "job-r", Action: "db.read"})
	jobs := e.Lease("db.read")
	if len(jobs) != 1 || jobs[0].Receipt == nil || jobs[0].Receipt.Checkpoint == "" {
		t.Fatalf("lease: %+v", jobs)
	}
	rc := jobs[0].Receipt
	// The receipt's entry (rebuilt from the appended event, not read) is
	// byte for byte the one the ledger holds.
	var entries cairn.List[*cairn.LedgerEntry]
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/entries?from="+strconv.FormatUint(rc.Ledger.Index, 10)+"&limit=1", nil, 200, &entries)
	if len(entries.Items) != 1 || string(entries.Items[0].Body) != rc.Body {
		t.Fatalf("the receipt's body differs from ledger entry %d", rc.Ledger.Index)
	}
	var cp cairn.Checkpoint
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoints/"+strconv.FormatUint(rc.TreeSize, 10), nil, 200, &cp)
	if cp.Size != rc.TreeSize || cp.Note != rc.Checkpoint {
		t.Fatalf("checkpoint at %d: %q, receipt had %q", rc.TreeSize, cp.Note, rc.Checkpoint)
	}
	var again cairn.Checkpoint
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoints/"+strconv.FormatUint(rc.TreeSize, 10), nil, 200, &again)
	if again.Note != cp.Note {
		t.Fatalf("a stored checkpoint changed")
	}
	// Beyond the ledger's size there is nothing to sign.
	e.ErrCode("auditor-1", "GET", "/api/v1/ledger/checkpoints/999999", nil, 404, cairn.ENotFound)
}
