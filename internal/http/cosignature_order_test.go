package http_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
	fnote "github.com/transparency-dev/formats/note"
)

// TestCosignatureTimestampsMonotone: a witness's cosignature/v1 of a larger
// checkpoint may not be timestamped before its cosignature of a smaller
// one (nor the reverse); in order, and equal, timestamps are accepted.
func TestCosignatureTimestampsMonotone(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	logV, _ := tree.NewVerifier(e.logKey())
	seed := []byte("order-seed-order-seed-order-seed")
	wk, _ := tree.NewKeyFromSeed("witness-order", seed)
	wvk, _ := wk.CosignatureV1VerifierKey()
	libV, err := fnote.NewVerifierForCosignatureV1(wvk)
	if err != nil {
		t.Fatal(err)
	}
	fs := &futureSigner{name: "witness-order", hash: libV.KeyHash(), priv: ed25519.NewKeyFromSeed(seed)}
	checkpoint := func() string {
		e.MustDo("agent-1", "POST", "/api/v1/jobs", map[string]any{"action": "db.read", "input": map[string]int{"n": 1}}, 201, nil)
		var cp struct {
			Note string `json:"note"`
		}
		e.MustDo("auditor-1", "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, 200, &cp)
		return cp.Note
	}
	cosign := func(n string, at time.Time) map[string]string {
		fs.at = at
		c, _, err := tree.Cosign([]byte(n), logV, nil, nil, fs)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"witness_key": wvk, "note": string(c)}
	}
	now := time.Now().Truncate(time.Second)
	small, large := checkpoint(), checkpoint()
	e.MustDo("auditor-1", "POST", "/api/v1/ledger/cosignatures", cosign(small, now), 201, nil)
	// The larger checkpoint an hour earlier: refused, naming the order.
	st, body := e.Do("auditor-1", "POST", "/api/v1/ledger/cosignatures", cosign(large, now.Add(-time.Hour)))
	var er struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(body, &er)
	if st != 400 || er.Error.Code != cairn.EInvalid || !strings.Contains(er.Error.Message, "must not go back") {
		t.Fatalf("an earlier timestamp on a larger checkpoint: %d %s", st, body)
	}
	// The same second: accepted.
	e.MustDo("auditor-1", "POST", "/api/v1/ledger/cosignatures", cosign(large, now), 201, nil)
	// A third, larger checkpoint a second later: accepted.
	e.MustDo("auditor-1", "POST", "/api/v1/ledger/cosignatures", cosign(checkpoint(), now.Add(time.Second)), 201, nil)
}
