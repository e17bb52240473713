package tree

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures (https://c2sp.org/tlog-cosignature) are signature
// lines added to a checkpoint note by witnesses. Cairn accepts two kinds:
//
//   - cosignature/v1 (key type 0x04, Ed25519, or 0x06, ML-DSA-44): the
//     signature is over a "cosignature/v1" header with a timestamp, and
//     carries that timestamp; this is what C2SP tlog-witness witnesses
//     produce, and what `cairn witness` signs.
//   - a plain Ed25519 note signature (key type 0x01), what earlier cairn
//     witnesses produced; it carries no timestamp.
//
// The signature encoding is the transparency-dev/formats library's; none is
// formatted here.

// Witness verifier key types (the first byte of the decoded key).
const (
	keyTypeEd25519       = 0x01
	keyTypeECDSA         = 0x02
	keyTypeCosignatureV1 = 0x04
	keyTypeRFC6962       = 0x05
	keyTypeMLDSA44       = 0x06
)

// ErrWitnessKey is wrapped by every NewWitnessVerifier error.
var ErrWitnessKey = errors.New("not a witness verifier key")

// witnessVerifier is a note.Verifier that remembers whether its signatures
// are timestamped cosignature/v1 ones.
type witnessVerifier struct {
	note.Verifier
	timestamped bool
}

// NewWitnessVerifier parses a witness's verifier key
// ("<name>+<hash>+<base64>") of type 0x01 (plain Ed25519 note signatures),
// 0x04 (Ed25519 cosignature/v1) or 0x06 (ML-DSA-44 cosignature/v1). Other
// types (0x02 ECDSA, 0x05 RFC 6962) are log keys, not witness keys, and are
// refused. The key hash in the text must be the key's.
func NewWitnessVerifier(key string) (note.Verifier, error) {
	key = strings.TrimSpace(key)
	parts := strings.SplitN(key, "+", 3)
	if len(parts) != 3 || !ValidName(parts[0]) || len(parts[1]) != 8 {
		return nil, fmt.Errorf("ledger: %w: want <name>+<hash>+<base64>", ErrWitnessKey)
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w: bad key hash %q", ErrWitnessKey, parts[1])
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < 2 {
		return nil, fmt.Errorf("ledger: %w: bad base64 key", ErrWitnessKey)
	}
	var v note.Verifier
	timestamped := false
	switch raw[0] {
	case keyTypeEd25519:
		v, err = note.NewVerifier(key)
	case keyTypeCosignatureV1, keyTypeMLDSA44:
		v, err = fnote.NewVerifierForCosignatureV1(key)
		timestamped = true
	case keyTypeECDSA, keyTypeRFC6962:
		return nil, fmt.Errorf("ledger: %w: key type 0x%02x is a log signature type; a witness key is 0x04 (Ed25519 cosignature/v1), 0x06 (ML-DSA-44 cosignature/v1) or 0x01 (Ed25519)", ErrWitnessKey, raw[0])
	default:
		return nil, fmt.Errorf("ledger: %w: unknown key type 0x%02x; a witness key is 0x04 (Ed25519 cosignature/v1), 0x06 (ML-DSA-44 cosignature/v1) or 0x01 (Ed25519)", ErrWitnessKey, raw[0])
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w: %v", ErrWitnessKey, err)
	}
	if v.KeyHash() != uint32(hash) {
		return nil, fmt.Errorf("ledger: %w: key hash %s does not match the key (%08x)", ErrWitnessKey, parts[1], v.KeyHash())
	}
	return &witnessVerifier{Verifier: v, timestamped: timestamped}, nil
}

// CosignatureTime returns the timestamp of sig, a signature verified by v
// (a verifier from NewWitnessVerifier). ok is false when v's signatures
// carry no timestamp (a plain Ed25519 key, type 0x01).
func CosignatureTime(v note.Verifier, sig note.Signature) (t time.Time, ok bool, err error) {
	wv, isW := v.(*witnessVerifier)
	if !isW || !wv.timestamped {
		return time.Time{}, false, nil
	}
	t, err = fnote.CoSigV1Timestamp(sig)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("ledger: cosignature timestamp: %w", err)
	}
	return t, true, nil
}

// CosignatureV1Signer returns a signer of timestamped cosignature/v1
// signatures (https://c2sp.org/tlog-cosignature) with the key under its own
// name: what a witness signs checkpoints with. Its verifier key is
// CosignatureV1VerifierKey.
func (k *Key) CosignatureV1Signer() (note.Signer, error) {
	s, err := fnote.NewSignerForCosignatureV1(k.signerKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: cosignature/v1 signer: %w", err)
	}
	return s, nil
}

// CosignatureV1VerifierKey returns the key's Ed25519 cosignature/v1
// verifier key (type 0x04) under its own name: the witness key that users
// pin.
func (k *Key) CosignatureV1VerifierKey() (string, error) {
	vk, err := fnote.VKeyToCosignatureV1(k.verifier)
	if err != nil {
		return "", fmt.Errorf("ledger: cosignature/v1 verifier key: %w", err)
	}
	return vk, nil
}
