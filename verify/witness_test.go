package verify_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/cairnhq/cairn/verify"
)

// TestWitnesses: cosignatures by given witness keys (cosignature/v1 or
// plain Ed25519) on the trusted checkpoint or the bundle's checkpoint are
// verified and counted; MinWitnesses fails with witness_missing when fewer
// distinct given witnesses cosigned; an invalid signature by a given
// witness fails.
func TestWitnesses(t *testing.T) {
	cases, trusted, vkey := goldenCases(t)
	good := cases[0].bundle
	lv, err := tree.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	key := func(name, seed string) (*tree.Key, string) {
		k, err := tree.NewKeyFromSeed(name, []byte(strings.Repeat(seed, 32)))
		if err != nil {
			t.Fatal(err)
		}
		vk, err := k.CosignatureV1VerifierKey()
		if err != nil {
			t.Fatal(err)
		}
		return k, vk
	}
	cosign := func(n []byte, k *tree.Key, v1 bool) []byte {
		s := k.Signer()
		if v1 {
			if s, err = k.CosignatureV1Signer(); err != nil {
				t.Fatal(err)
			}
		}
		out, _, err := tree.Cosign(n, lv, nil, nil, s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	w1, w1vk := key("witness1.example", "a")
	w2, w2vk := key("witness2.example", "b")
	_, otherVK := key("witness1.example", "c") // same name, another key
	trustedCo := cosign(trusted, w1, true)

	check := func(name string, b *bundle.Bundle, tc []byte, keys []string, min int, kind error) *verify.Report {
		t.Helper()
		rep, err := verify.Bundle(b, verify.Options{TrustedKey: vkey, TrustedCheckpoint: tc, WitnessKeys: keys, MinWitnesses: min})
		if kind == nil {
			if err != nil || !rep.OK {
				t.Errorf("%s: want OK, got %v", name, err)
			}
			return rep
		}
		if !errors.Is(err, kind) || rep.OK {
			t.Errorf("%s: got %v, want %v", name, err, kind)
		}
		return rep
	}

	rep := check("cosignature/v1 on the trusted checkpoint", good, trustedCo, []string{w1vk}, 1, nil)
	if len(rep.TrustedCosigners) != 1 || rep.TrustedCosigners[0] != "witness1.example" || len(rep.Cosigners) != 0 || rep.Witnesses != 1 {
		t.Errorf("report: trusted %v bundle %v witnesses %d", rep.TrustedCosigners, rep.Cosigners, rep.Witnesses)
	}
	if s := rep.Summary(); !strings.Contains(s, "trusted cosigned by: witness1.example") || !strings.Contains(s, "witnesses:   1") {
		t.Errorf("summary:\n%s", s)
	}
	var js map[string]any
	_ = json.Unmarshal(mustJSON(t, rep), &js)
	if tcs, _ := js["trusted_cosigners"].([]any); len(tcs) != 1 {
		t.Errorf("json: %v", js["trusted_cosigners"])
	}

	rep = check("no witness signature", good, trusted, []string{w1vk}, 1, verify.ErrWitness)
	if len(rep.Problems) == 0 || verify.Code(rep.Problems[0]) != "witness_missing" || rep.Problems[0].Record != "checkpoint" {
		t.Errorf("problems: %v", rep.Problems)
	}
	if b, _ := json.Marshal(rep.Problems[0]); !strings.Contains(string(b), `"code":"witness_missing"`) {
		t.Errorf("problem json: %s", b)
	}
	check("wrong witness key", good, trustedCo, []string{otherVK}, 1, verify.ErrWitness)
	check("no witness key given", good, trustedCo, nil, 1, verify.ErrWitness)
	check("min 0 needs none", good, trusted, nil, 0, nil)
	check("the same witness twice is one", good, trustedCo, []string{w1vk, w1vk}, 2, verify.ErrWitness)
	check("the log's key is no witness", good, trusted, []string{vkey}, 1, verify.ErrWitness)
	// The same witness on both checkpoints counts once; a second witness on
	// the bundle's checkpoint makes two.
	b := cloneBundle(t, good)
	b.Checkpoint = string(cosign([]byte(good.Checkpoint), w1, true))
	check("one witness on both", b, trustedCo, []string{w1vk, w2vk}, 2, verify.ErrWitness)
	b.Checkpoint = string(cosign([]byte(b.Checkpoint), w2, true))
	rep = check("two witnesses", b, trustedCo, []string{w1vk, w2vk}, 2, nil)
	if len(rep.Cosigners) != 2 || rep.Witnesses != 2 {
		t.Errorf("two witnesses: %v %d", rep.Cosigners, rep.Witnesses)
	}
	// Without a trusted checkpoint, the bundle's checkpoint alone counts.
	check("bundle checkpoint only", b, nil, []string{w2vk}, 1, nil)

	// Earlier cairn witnesses: plain Ed25519 cosignatures under the 0x01 key.
	oldCo := cosign(trusted, w1, false)
	check("plain Ed25519 witness", good, oldCo, []string{w1.VerifierKey()}, 1, nil)
	check("plain Ed25519 signature, cosignature/v1 key", good, oldCo, []string{w1vk}, 1, verify.ErrWitness)

	// An invalid signature by a given witness key fails, whatever the minimum.
	i := strings.LastIndex(string(trustedCo), "— witness1.example ")
	sig, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(trustedCo[i+len("— witness1.example "):])))
	sig[len(sig)-1] ^= 1
	bad := []byte(string(trustedCo[:i]) + "— witness1.example " + base64.StdEncoding.EncodeToString(sig) + "\n")
	check("tampered witness signature on the trusted checkpoint", good, bad, []string{w1vk}, 0, verify.ErrTrustedCheckpoint)
	b = cloneBundle(t, good)
	co := cosign([]byte(good.Checkpoint), w1, true)
	i = strings.LastIndex(string(co), "— witness1.example ")
	b.Checkpoint = string(co[:i]) + "— witness1.example " + base64.StdEncoding.EncodeToString(sig) + "\n"
	check("tampered witness signature on the bundle checkpoint", b, trusted, []string{w1vk}, 0, verify.ErrSignature)

	// A log-only key type is refused as a witness key.
	parts := strings.SplitN(w1vk, "+", 3)
	raw, _ := base64.StdEncoding.DecodeString(parts[2])
	raw[0] = 0x02
	check("ECDSA witness key", good, trusted, []string{parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(raw)}, 0, verify.ErrKey)
}
