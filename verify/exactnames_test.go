package verify_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// TestCaseVariantMemberDoesNotVerify: a policy whose "text" member is
// forged, followed by the real text under "Text", does not verify: a
// reader matching names exactly (docs/evidence.md §5) shows the forged
// text. Before member names were matched exactly everywhere, the real
// text was checked and the bundle verified (found by FuzzUnmarshalBundle).
func TestCaseVariantMemberDoesNotVerify(t *testing.T) {
	good, err := os.ReadFile(goldenDir + "/good.json")
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(good, []byte(`   "text": "default: deny\n`), []byte(`   "text": "default: allow\n",
   "Text": "default: deny\n`), 1)
	if bytes.Equal(forged, good) {
		t.Fatal("the golden bundle changed; update this test")
	}
	b, err := bundle.UnmarshalBundle(forged)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := verify.Bundle(b, verify.Options{}); err == nil || rep.OK {
		t.Fatalf("a bundle with a forged policy text verified: %+v", rep)
	}
}
