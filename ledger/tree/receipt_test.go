package tree

import (
	"github.com/cairnhq/cairn/ledger"
)

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestVerifyReceipt(t *testing.T) {
	key, err := NewKeyFromSeed("cairn", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	origin := "cairn.local/default"
	signer, err := key.SignerFor(origin)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.VerifierKeyFor(origin)
	// A small log whose entry 2 is the dispatch decision of job j1.
	a := NewAppender()
	mem := &MemoryNodes{}
	var bodies [][]byte
	for i := 0; i < 5; i++ {
		ev := map[string]any{"type": "job_submitted", "job_id": "j0", "timestamp": "2026-01-01T00:00:00Z"}
		if i == 2 {
			ev = map[string]any{"type": "policy_decided", "job_id": "j1", "job_hash": strings.Repeat("ab", 32), "decision": "ALLOW",
				"timestamp": "2026-01-01T00:00:00Z", "data": map[string]any{"decision": map[string]any{"phase": "dispatch", "decision": "ALLOW"}}}
		}
		body, err := ledger.EntryBody(ledger.Envelope{Tenant: "default", Index: uint64(i), Event: ev})
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
		ns, err := a.Append(ledger.LeafHash(body))
		if err != nil {
			t.Fatal(err)
		}
		mem.Put(ns...)
	}
	note, err := SignCheckpoint(origin, 5, a.Root(), signer)
	if err != nil {
		t.Fatal(err)
	}
	p, err := InclusionProof(2, 5, mem)
	if err != nil {
		t.Fatal(err)
	}
	hs := make([]string, len(p))
	for i, h := range p {
		hs[i] = hex.EncodeToString(h)
	}
	good := Receipt{Index: 2, LeafHash: ledger.HashHex(ledger.LeafHash(bodies[2])), Body: string(bodies[2]), Checkpoint: string(note), Inclusion: hs}
	if err := VerifyReceipt(good, "j1", strings.Repeat("ab", 32), pub); err != nil {
		t.Fatalf("good receipt: %v", err)
	}
	other, _ := NewKeyFromSeed("evil", []byte(strings.Repeat("x", 32)))
	otherPub, _ := other.VerifierKeyFor(origin)
	bad := map[string]func(r *Receipt) (string, string, string){
		"wrong job hash": func(r *Receipt) (string, string, string) { return "j1", strings.Repeat("cd", 32), pub },
		"wrong job":      func(r *Receipt) (string, string, string) { return "j2", strings.Repeat("ab", 32), pub },
		"unpinned key":   func(r *Receipt) (string, string, string) { return "j1", strings.Repeat("ab", 32), otherPub },
		"edited body": func(r *Receipt) (string, string, string) {
			r.Body = strings.Replace(r.Body, "ALLOW", "DENY", 1)
			return "j1", strings.Repeat("ab", 32), pub
		},
		"forged leaf": func(r *Receipt) (string, string, string) { r.Index = 3; return "j1", strings.Repeat("ab", 32), pub },
		"bad inclusion": func(r *Receipt) (string, string, string) {
			r.Inclusion = r.Inclusion[1:]
			return "j1", strings.Repeat("ab", 32), pub
		},
		"not in the tree": func(r *Receipt) (string, string, string) { r.Index = 7; return "j1", strings.Repeat("ab", 32), pub },
		"forged checkpoint": func(r *Receipt) (string, string, string) {
			r.Checkpoint = strings.Replace(r.Checkpoint, "\n5\n", "\n6\n", 1)
			return "j1", strings.Repeat("ab", 32), pub
		},
	}
	for name, mutate := range bad {
		r := good
		r.Inclusion = append([]string{}, good.Inclusion...)
		job, hash, key := mutate(&r)
		if err := VerifyReceipt(r, job, hash, key); !errors.Is(err, ErrReceipt) {
			t.Errorf("%s: err %v, want ErrReceipt", name, err)
		}
	}
}
