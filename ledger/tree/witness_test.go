package tree

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// TestNewWitnessVerifier: witness keys of type 0x01 (plain Ed25519), 0x04
// (Ed25519 cosignature/v1) and 0x06 (ML-DSA-44 cosignature/v1) are
// accepted and verify what their signers sign; log-only key types (ECDSA,
// RFC 6962) and garbage are refused, and the log's NewVerifier stays strict.
func TestNewWitnessVerifier(t *testing.T) {
	origin := "cairn.local/default"
	logKey := testKey(t, "cairn.local", 1)
	logSigner, _ := logKey.SignerFor(origin)
	logVK, _ := logKey.VerifierKeyFor(origin)
	logV := mustVerifier(t, logVK)
	var root [32]byte
	root[0] = 7
	cp, err := SignCheckpoint(origin, 3, root, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	wk := testKey(t, "witness.example", 9)

	// 0x04: cosignature/v1, timestamped.
	cosigVK, err := wk.CosignatureV1VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.SplitN(cosigVK, "+", 3)[2])
	if raw[0] != 0x04 || !strings.HasPrefix(cosigVK, "witness.example+") {
		t.Fatalf("cosignature/v1 key %q has type 0x%02x", cosigVK, raw[0])
	}
	cosigV, err := NewWitnessVerifier(cosigVK)
	if err != nil {
		t.Fatalf("0x04 key refused: %v", err)
	}
	signer, err := wk.CosignatureV1Signer()
	if err != nil {
		t.Fatal(err)
	}
	if signer.KeyHash() != cosigV.KeyHash() || signer.Name() != cosigV.Name() {
		t.Fatalf("signer %s+%08x, verifier %s+%08x", signer.Name(), signer.KeyHash(), cosigV.Name(), cosigV.KeyHash())
	}
	before := time.Now().Add(-time.Second)
	w := &Witness{Signer: signer, Log: logV}
	co, err := w.Cosign(cp, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(co, logV, cosigV)
	if err != nil || len(c.Cosigners) != 1 || c.Cosigners[0] != "witness.example" {
		t.Fatalf("cosignature/v1 cosign: %v %+v", err, c)
	}
	var sig note.Signature
	for _, s := range c.Note.Sigs {
		if s.Hash == cosigV.KeyHash() {
			sig = s
		}
	}
	ts, ok, err := CosignatureTime(cosigV, sig)
	if err != nil || !ok || ts.Before(before.Truncate(time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("timestamp %v %v %v", ts, ok, err)
	}
	// The library's own verifier agrees (no home-made format).
	libV, _ := fnote.NewVerifierForCosignatureV1(cosigVK)
	if _, err := note.Open(co, note.VerifierList(logV, libV)); err != nil {
		t.Fatalf("library verifier: %v", err)
	}
	// A cosignature/v1 signature is not a plain Ed25519 one: the 0x01 key
	// of the same Ed25519 key does not verify it (different key hash).
	plainV, err := NewWitnessVerifier(wk.VerifierKey())
	if err != nil {
		t.Fatalf("0x01 key refused: %v", err)
	}
	if c, err := OpenCheckpoint(co, logV, plainV); err != nil || len(c.Cosigners) != 0 || len(c.Unverified) != 1 {
		t.Fatalf("0x01 key on a cosignature/v1 line: %v %+v", err, c)
	}
	// A tampered cosignature/v1 line is an error, not ignored.
	i := strings.LastIndex(string(co), "— witness.example ")
	b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(co[i+len("— witness.example "):])))
	b[len(b)-1] ^= 1
	bad := []byte(string(co[:i]) + "— witness.example " + base64.StdEncoding.EncodeToString(b) + "\n")
	if _, err := OpenCheckpoint(bad, logV, cosigV); !errors.Is(err, ErrCheckpointSignature) {
		t.Fatalf("tampered cosignature/v1: %v", err)
	}
	// A changed timestamp breaks the signature too.
	b[len(b)-1] ^= 1
	binary.BigEndian.PutUint64(b[4:], binary.BigEndian.Uint64(b[4:])+1)
	bad = []byte(string(co[:i]) + "— witness.example " + base64.StdEncoding.EncodeToString(b) + "\n")
	if _, err := OpenCheckpoint(bad, logV, cosigV); !errors.Is(err, ErrCheckpointSignature) {
		t.Fatalf("re-timestamped cosignature/v1: %v", err)
	}

	// 0x01: plain Ed25519 notes, what earlier cairn witnesses signed.
	old, _, err := Cosign(cp, logV, nil, nil, wk.Signer())
	if err != nil {
		t.Fatal(err)
	}
	c, err = OpenCheckpoint(old, logV, plainV)
	if err != nil || len(c.Cosigners) != 1 {
		t.Fatalf("plain Ed25519 cosign: %v %+v", err, c)
	}
	if _, ok, err := CosignatureTime(plainV, c.Note.Sigs[1]); ok || err != nil {
		t.Fatalf("plain Ed25519 signature has a timestamp? %v %v", ok, err)
	}

	// 0x06: ML-DSA-44 cosignature/v1.
	msk, mvk, err := fnote.GenerateMLDSAKey("pq.witness.example")
	if err != nil {
		t.Fatal(err)
	}
	mv, err := NewWitnessVerifier(mvk)
	if err != nil {
		t.Fatalf("0x06 key refused: %v", err)
	}
	ms, err := fnote.NewSignerForCosignatureV1(msk)
	if err != nil {
		t.Fatal(err)
	}
	mco, _, err := Cosign(cp, logV, nil, nil, ms)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := OpenCheckpoint(mco, logV, mv); err != nil || len(c.Cosigners) != 1 {
		t.Fatalf("ML-DSA cosign: %v %+v", err, c)
	}

	// Log key types are refused as witness keys.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	h := sha256.Sum256(der)
	ecdsaVK := fmt.Sprintf("log.example+%08x+%s", binary.BigEndian.Uint32(h[:]), base64.StdEncoding.EncodeToString(append([]byte{0x02}, der...)))
	if _, err := fnote.NewVerifier(ecdsaVK); err != nil {
		t.Fatalf("test ECDSA key is not valid: %v", err)
	}
	rfcVK, err := fnote.RFC6962VerifierString("https://ct.example/log", &ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fnote.NewVerifier(rfcVK); err != nil {
		t.Fatalf("test RFC 6962 key is not valid: %v", err)
	}
	hashParts := strings.SplitN(cosigVK, "+", 3)
	for name, k := range map[string]string{
		"ecdsa":       ecdsaVK,
		"rfc6962":     rfcVK,
		"empty":       "",
		"garbage":     "not a key",
		"short":       "w+00000000+AQ==",
		"bad base64":  "w+00000000+!!!",
		"unknown alg": "w+00000000+" + base64.StdEncoding.EncodeToString(append([]byte{0x09}, make([]byte, 32)...)),
		"wrong hash":  hashParts[0] + "+00000000+" + hashParts[2],
		"short 0x04":  hashParts[0] + "+" + hashParts[1] + "+" + base64.StdEncoding.EncodeToString(raw[:20]),
		"signer key":  wk.SignerKey(),
	} {
		if v, err := NewWitnessVerifier(k); !errors.Is(err, ErrWitnessKey) {
			t.Errorf("%s: accepted (%v, %v)", name, v, err)
		}
	}
	// The log's key stays strict: a cosignature/v1 key is not a log key.
	if _, err := NewVerifier(cosigVK); err == nil {
		t.Error("NewVerifier accepted a cosignature/v1 key")
	}
}
