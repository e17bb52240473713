package http_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// futureSigner signs Ed25519 cosignature/v1 with a chosen timestamp (the
// library's signer always uses the current time): only to test the skew
// check. Its signatures verify with the library's verifier.
type futureSigner struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
	at   time.Time
}

func (s *futureSigner) Name() string    { return s.name }
func (s *futureSigner) KeyHash() uint32 { return s.hash }
func (s *futureSigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(s.at.Unix())
	m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, msg)
	return append(binary.BigEndian.AppendUint64(nil, t), ed25519.Sign(s.priv, []byte(m))...), nil
}

// TestCosignatureV1: a C2SP cosignature/v1 cosignature (key type 0x04) is
// accepted, stored and served merged; one by another key, a tampered one,
// one under a log-only key type, and one timestamped beyond the allowed
// clock skew are refused.
func TestCosignatureV1(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	var cp struct {
		Note string `json:"note"`
		Size uint64 `json:"size"`
	}
	e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, 200, &cp)
	logV, _ := tree.NewVerifier(e.logKey())
	seed := []byte("witness-seed-witness-seed-cosig1")
	wk, err := tree.NewKeyFromSeed("witness-v1", seed)
	if err != nil {
		t.Fatal(err)
	}
	wvk, err := wk.CosignatureV1VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := wk.CosignatureV1Signer()
	if err != nil {
		t.Fatal(err)
	}
	cosigned, _, err := tree.Cosign([]byte(cp.Note), logV, nil, nil, signer)
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, n string) map[string]string { return map[string]string{"witness_key": key, "note": n} }

	// Signed by another witness's key under the same name: refused.
	other, _ := tree.NewKeyFromSeed("witness-v1", []byte("another-seed-another-seed-000000"))
	os, _ := other.CosignatureV1Signer()
	forged, _, err := tree.Cosign([]byte(cp.Note), logV, nil, nil, os)
	if err != nil {
		t.Fatal(err)
	}
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(wvk, string(forged)), 400, cairn.EInvalid)
	// A tampered signature line under the right key: refused.
	i := strings.LastIndex(string(cosigned), "— witness-v1 ")
	sig, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(cosigned[i+len("— witness-v1 "):])))
	sig[len(sig)-1] ^= 1
	tampered := string(cosigned[:i]) + "— witness-v1 " + base64.StdEncoding.EncodeToString(sig) + "\n"
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(wvk, tampered), 400, cairn.EInvalid)
	// The plain Ed25519 (0x01) key of the same key does not verify a
	// cosignature/v1 line: the note carries no signature by that key.
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(wk.VerifierKey(), string(cosigned)), 400, cairn.EInvalid)
	// A log-only key type is not a witness key.
	parts := strings.SplitN(wvk, "+", 3)
	raw, _ := base64.StdEncoding.DecodeString(parts[2])
	raw[0] = 0x05
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(parts[0]+"+"+parts[1]+"+"+base64.StdEncoding.EncodeToString(raw), string(cosigned)), 400, cairn.EInvalid)

	// Timestamped an hour ahead: refused; five minutes ahead (within the
	// skew): accepted. Both verify with the library's verifier.
	fk, _ := tree.NewKeyFromSeed("witness-future", []byte("future-seed-future-seed-00000000"))
	fvk, _ := fk.CosignatureV1VerifierKey()
	libV, err := fnote.NewVerifierForCosignatureV1(fvk)
	if err != nil {
		t.Fatal(err)
	}
	fs := &futureSigner{name: "witness-future", hash: libV.KeyHash(), priv: ed25519.NewKeyFromSeed([]byte("future-seed-future-seed-00000000"))}
	for _, c := range []struct {
		ahead  time.Duration
		status int
	}{{time.Hour, 400}, {5 * time.Minute, 201}} {
		fs.at = time.Now().Add(c.ahead)
		n, _, err := tree.Cosign([]byte(cp.Note), logV, nil, nil, fs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(n, note.VerifierList(logV, libV)); err != nil {
			t.Fatalf("test signer's signature does not verify: %v", err)
		}
		if c.status == 400 {
			e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(fvk, string(n)), 400, cairn.EInvalid)
		} else {
			e.MustDo("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(fvk, string(n)), 201, nil)
		}
	}

	// The real one: accepted, then a duplicate conflicts.
	e.MustDo("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(wvk, string(cosigned)), 201, nil)
	e.ErrCode("auditor-1", "POST", "/api/v1/ledger/cosignatures", post(wvk, string(cosigned)), 409, cairn.EConflict)

	var got struct {
		NoteWithCosignatures string `json:"note_with_cosignatures"`
	}
	e.MustDo("auditor-1", "GET", fmt.Sprintf("/api/v1/ledger/checkpoints/%d", cp.Size), nil, 200, &got)
	wv, err := tree.NewWitnessVerifier(wvk)
	if err != nil {
		t.Fatal(err)
	}
	fv, _ := tree.NewWitnessVerifier(fvk)
	c, err := tree.OpenCheckpoint([]byte(got.NoteWithCosignatures), logV, wv, fv)
	if err != nil || len(c.Cosigners) != 2 {
		t.Fatalf("merged note with the cosignature/v1 witnesses: %v %+v", err, c)
	}
}
