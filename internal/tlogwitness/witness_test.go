package tlogwitness

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger/tree"
)

func TestParseWitness(t *testing.T) {
	k, err := tree.NewKeyFromSeed("witness.example/w1", bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	vk, err := k.CosignatureV1VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseWitness("https://w.example/base/=" + vk)
	if err != nil {
		t.Fatal(err)
	}
	if w.URL != "https://w.example/base" || w.Key != vk || w.Name() != "witness.example/w1" {
		t.Fatalf("parsed %+v", w)
	}
	// A URL with "=" in its query still splits at the key.
	if w, err := ParseWitness("http://127.0.0.1:7380/?a=b=" + vk); err != nil || w.URL != "http://127.0.0.1:7380/?a=b" {
		t.Fatalf("query URL: %+v %v", w, err)
	}
	logKey, _ := k.VerifierKeyFor("x.example/log")
	for _, bad := range []string{"", "http://w.example", "http://w.example=", "ftp://w.example=" + vk, "w.example=" + vk,
		"http://w.example=" + strings.Replace(vk, "+", "-", 1)} {
		if _, err := ParseWitness(bad); err == nil {
			t.Errorf("ParseWitness(%q) accepted", bad)
		}
	}
	// A plain Ed25519 key (type 0x01) of earlier cairn witnesses is accepted too.
	if _, err := ParseWitness("http://w.example=" + logKey); err != nil {
		t.Errorf("plain Ed25519 key refused: %v", err)
	}
}

func TestSignatureLinesAndSize(t *testing.T) {
	if _, err := signatureLines([]byte("— w AAAA\n— v BBBB\n")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "\n", "— w AAAA", "hello\n", "— w AAAA extra\n", "-- w AAAA\n"} {
		if _, err := signatureLines([]byte(bad)); err == nil {
			t.Errorf("signatureLines(%q) accepted", bad)
		}
	}
	if n, err := parseSize([]byte("42\n")); err != nil || n != 42 {
		t.Fatal(n, err)
	}
	for _, bad := range []string{"", "042\n", "-1\n", "4 2\n", "x\n"} {
		if _, err := parseSize([]byte(bad)); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
