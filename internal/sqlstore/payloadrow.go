package sqlstore

import (
	"encoding/hex"
	"fmt"

	"github.com/cairnhq/cairn"
)

// A payload's row as stored (ADR 0047). sha256 holds the hash's 32 bytes;
// a row written before holds its 64 hex digits as text (SQLite) and reads
// back the same. key_id is NULL for a legacy plaintext payload, '' for one
// sealed under its tenant's own data key (cairn.TenantDataKey), and the
// data key's id for one sealed under a subject's key: only the last are in
// payloads_subject, the index an erasure by subject reads.

// PayloadHash returns the stored form of a payload's SHA-256: the 32 bytes
// of a hash written as 64 lowercase hex digits, else the text's own bytes.
// Text of exactly 32 bytes that is not such a hash is refused: it would
// read back as a binary hash.
func PayloadHash(s string) ([]byte, error) {
	if len(s) == 64 && isLowerHex(s) {
		b, _ := hex.DecodeString(s)
		return b, nil
	}
	if len(s) == 32 {
		return nil, cairn.Invalid("sha256", "a payload's sha256 must be 64 lowercase hex digits")
	}
	return []byte(s), nil
}

// PayloadHashText is a stored payload hash as the API writes it: 32 bytes
// as lowercase hex, anything else (a row written before, as text) as it is.
func PayloadHashText(stored []byte) string {
	if len(stored) == 32 {
		return hex.EncodeToString(stored)
	}
	return string(stored)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// payloadKeyArg is a payload's key_id as stored: NULL for a legacy
// plaintext, the empty string for the tenant's own data key, else the id.
func payloadKeyArg(keyID string) any {
	switch keyID {
	case "":
		return nil
	case cairn.TenantDataKey:
		return ""
	}
	return keyID
}

// payloadKeyOf reads a stored key_id back (payloadKeyArg's inverse).
func payloadKeyOf(stored *string) string {
	switch {
	case stored == nil:
		return ""
	case *stored == "":
		return cairn.TenantDataKey
	}
	return *stored
}

// payloadArgs are the values of a payload's tenant, ptr, sha256, data and
// key_id.
func payloadArgs(p *cairn.Payload) ([]any, error) {
	sum, err := PayloadHash(p.SHA256)
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", p.Ptr, err)
	}
	return []any{p.Tenant, p.Ptr, sum, p.Data, payloadKeyArg(p.KeyID)}, nil
}
