package verify_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cairnhq/cairn/ledger/bundle"
	"github.com/cairnhq/cairn/verify"
)

// Verify an exported bundle with the log key and an older checkpoint that
// the auditor kept, as `cairn verify` does.
func ExampleBundle() {
	b, err := bundle.ReadBundleFile("../testdata/bundles/edited-body.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	key, _ := os.ReadFile("../testdata/bundles/log.pub")
	old, _ := os.ReadFile("../testdata/bundles/trusted-checkpoint.txt")
	rep, err := verify.Bundle(b, verify.Options{TrustedKey: strings.TrimSpace(string(key)), TrustedCheckpoint: old})
	fmt.Println(rep.Entries, "entries,", rep.Mode)
	var ve *verify.Error
	if errors.As(err, &ve) {
		fmt.Println(ve.Record, "|", ve.Kind, "|", verify.Code(err))
	}
	// Output:
	// 32 entries, complete
	// entry 11 | leaf hash mismatch | leaf_hash_mismatch
}
