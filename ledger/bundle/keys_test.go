package bundle

import (
	"bytes"
	"testing"

	"github.com/cairnhq/cairn/ledger/tree"
)

func testKey(t testing.TB, name string, b byte) *tree.Key {
	t.Helper()
	k, err := tree.NewKeyFromSeed(name, bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
