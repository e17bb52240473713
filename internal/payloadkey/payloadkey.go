// Package payloadkey holds the cryptography of encryption at rest (ADR
// 0048): the key-encryption key (KEK) read from a file, the data keys it
// wraps, and the AES-256-GCM sealing of payloads under a data key, bound to
// the payload's tenant and pointer by the additional data. Nonces are
// random (96 bits); a data key seals far fewer than 2^32 payloads.
package payloadkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Size is the length of every key: AES-256.
const Size = 32

// version prefixes every sealed value, so that a later format can be told apart.
const version byte = 1

// ErrOpen is returned when a sealed value does not open: a wrong key, or
// data that was altered or moved to another pointer.
var ErrOpen = errors.New("payloadkey: ciphertext does not open under this key")

// KEK is the key-encryption key.
type KEK struct {
	aead cipher.AEAD
	id   string
}

// NewKEK builds a KEK from Size raw bytes.
func NewKEK(raw []byte) (*KEK, error) {
	a, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("cairn payload kek id\x00"), raw...))
	return &KEK{aead: a, id: hex.EncodeToString(sum[:8])}, nil
}

// ID is a fingerprint of the KEK (not secret): the store records it with
// each data key it wraps.
func (k *KEK) ID() string { return k.id }

// Load reads a KEK file (exactly Size bytes).
func Load(path string) (*KEK, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) != Size {
		return nil, fmt.Errorf("payload key %s: %d bytes, want %d", path, len(raw), Size)
	}
	return NewKEK(raw)
}

// LoadOrCreate reads the KEK at path, creating it (0600, fsync'd) with a
// random key when the file does not exist. The file appears complete or
// not at all (written aside, then linked into place); of processes
// creating it at once, one key wins and all use it.
func LoadOrCreate(path string) (*KEK, error) {
	k, err := Load(path)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	raw, err := Generate()
	if err != nil {
		return nil, err
	}
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	os.Remove(tmp)
	if err := WriteFile(tmp, raw); err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return Load(path)
}

// Generate returns Size random bytes.
func Generate() ([]byte, error) {
	raw := make([]byte, Size)
	_, err := rand.Read(raw)
	return raw, err
}

// WriteFile writes raw key bytes to a new file path (0600, fsync'd with
// its directory); it fails if path exists.
func WriteFile(path string, raw []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func newAEAD(raw []byte) (cipher.AEAD, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("payloadkey: key of %d bytes, want %d", len(raw), Size)
	}
	b, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// wrapAD binds a wrapped data key to its tenant and key id.
func wrapAD(tenant, keyID string) []byte {
	return []byte("cairn data key\x00" + tenant + "\x00" + keyID)
}

// Wrap seals a data key's raw bytes for tenant/keyID.
func (k *KEK) Wrap(tenant, keyID string, raw []byte) ([]byte, error) {
	return seal(k.aead, raw, wrapAD(tenant, keyID))
}

// Unwrap opens a wrapped data key of tenant/keyID.
func (k *KEK) Unwrap(tenant, keyID string, wrapped []byte) (*DataKey, error) {
	raw, err := k.UnwrapRaw(tenant, keyID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return NewDataKey(raw)
}

// UnwrapRaw opens a wrapped data key to its raw bytes (to re-wrap it).
func (k *KEK) UnwrapRaw(tenant, keyID string, wrapped []byte) ([]byte, error) {
	return open(k.aead, wrapped, wrapAD(tenant, keyID))
}

// DataKey seals and opens payloads.
type DataKey struct{ aead cipher.AEAD }

// NewDataKey builds a data key from Size raw bytes.
func NewDataKey(raw []byte) (*DataKey, error) {
	a, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	return &DataKey{aead: a}, nil
}

// payloadAD binds a payload's ciphertext to its tenant and pointer.
func payloadAD(tenant, ptr string) []byte {
	return []byte("cairn payload\x00" + tenant + "\x00" + ptr)
}

// Seal encrypts a payload of tenant at ptr.
func (d *DataKey) Seal(tenant, ptr string, plaintext []byte) ([]byte, error) {
	return seal(d.aead, plaintext, payloadAD(tenant, ptr))
}

// Open decrypts a payload of tenant at ptr.
func (d *DataKey) Open(tenant, ptr string, sealed []byte) ([]byte, error) {
	return open(d.aead, sealed, payloadAD(tenant, ptr))
}

// seal is version | nonce | ciphertext and tag.
func seal(a cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	out := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plaintext)+a.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return a.Seal(out, out[1:], plaintext, ad), nil
}

func open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := a.NonceSize()
	if len(sealed) < 1+n+a.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	out, err := a.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
