package tree

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoints follow C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint):
// a signed note (https://c2sp.org/signed-note) whose text is
//
//	<origin>\n
//	<tree size, decimal>\n
//	<root hash, standard base64>\n
//
// followed by a blank line and one signature line per signer:
//
//	— <key name> <base64(key hash (4 bytes, big endian) || Ed25519 signature)>\n
//
// The log signs with the key name equal to the origin. Witnesses add their
// own signature lines (cosignatures) to the same note.

// DefaultOriginPrefix is the origin prefix used when none is configured.
// A deployment should configure its own (a host name it controls, e.g.
// "cairn.example.com"), because the origin names the log for auditors and
// witnesses, and must be unique among the logs they follow.
const DefaultOriginPrefix = "cairn.local"

// ValidName reports whether s can be a note key name or checkpoint origin:
// non-empty UTF-8 without Unicode spaces or '+'.
func ValidName(s string) bool {
	return s != "" && utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsSpace) < 0 && !strings.Contains(s, "+")
}

// Origin returns the checkpoint origin of a tenant's ledger: prefix + "/" +
// tenant ("cairn.local/default"). An empty prefix means DefaultOriginPrefix.
func Origin(prefix, tenant string) (string, error) {
	if prefix == "" {
		prefix = DefaultOriginPrefix
	}
	prefix = strings.TrimSuffix(prefix, "/")
	o := prefix + "/" + tenant
	if tenant == "" || !ValidName(o) {
		return "", fmt.Errorf("ledger: invalid checkpoint origin %q (no spaces or '+' allowed)", o)
	}
	return o, nil
}

// GenerateKey returns a new Ed25519 note key pair for name: the signer key
// "PRIVATE+KEY+<name>+<hash>+<base64>" (secret) and the verifier key
// "<name>+<hash>+<base64>" (public).
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	if !ValidName(name) {
		return "", "", fmt.Errorf("ledger: invalid key name %q", name)
	}
	return note.GenerateKey(rand.Reader, name)
}

// Key is the log's Ed25519 signing key. One key signs the checkpoints of
// every tenant; each tenant's checkpoints are signed under the key name of
// that tenant's origin (SignerFor), so the same key yields one verifier key
// per origin (VerifierKeyFor).
type Key struct {
	name      string
	signerKey string
	priv      ed25519.PrivateKey
	signer    note.Signer
	verifier  string
}

// ParseKey parses a note signer key ("PRIVATE+KEY+<name>+<hash>+<base64>").
func ParseKey(signerKey string) (*Key, error) {
	signerKey = strings.TrimSpace(signerKey)
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: signer key: %w", err)
	}
	parts := strings.SplitN(signerKey, "+", 5)
	if len(parts) != 5 {
		return nil, errors.New("ledger: signer key: malformed")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("ledger: signer key: not an Ed25519 key")
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	vk, err := note.NewEd25519VerifierKey(s.Name(), priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Key{name: s.Name(), signerKey: signerKey, priv: priv, signer: s, verifier: vk}, nil
}

// NewKeyFromSeed returns the Key with the given name and 32-byte Ed25519
// seed (for tests, and for keys kept in a secret manager).
func NewKeyFromSeed(name string, seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ledger: seed of %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	vk, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("ledger: invalid key name %q", name)
	}
	parts := strings.Split(vk, "+")
	return ParseKey("PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed...)))
}

// Name returns the key's own name (as stored in the key file).
func (k *Key) Name() string { return k.name }

// Signer returns the note signer under the key's own name.
func (k *Key) Signer() note.Signer { return k.signer }

// VerifierKey returns the verifier key under the key's own name.
func (k *Key) VerifierKey() string { return k.verifier }

// SignerKey returns the secret signer key text.
func (k *Key) SignerKey() string { return k.signerKey }

// PublicKey returns the raw Ed25519 public key.
func (k *Key) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// VerifierKeyFor returns the verifier key of the same Ed25519 key under the
// key name origin: what an auditor of that origin's log trusts.
func (k *Key) VerifierKeyFor(origin string) (string, error) {
	if !ValidName(origin) {
		return "", fmt.Errorf("ledger: invalid key name %q", origin)
	}
	return note.NewEd25519VerifierKey(origin, k.PublicKey())
}

// SignerFor returns a note signer of the same Ed25519 key under the key name
// origin.
func (k *Key) SignerFor(origin string) (note.Signer, error) {
	if !ValidName(origin) {
		return nil, fmt.Errorf("ledger: invalid key name %q", origin)
	}
	ok, err := NewKeyFromSeed(origin, k.priv.Seed())
	if err != nil {
		return nil, err
	}
	return ok.Signer(), nil
}

// loadKey parses the key file at path, read as b, refusing one readable by
// group or others (on Unix).
func loadKey(path string, b []byte) (*Key, error) {
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("ledger: key file %s has mode %v; it must not be accessible by group or others (chmod 600)", path, fi.Mode().Perm())
		}
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadOrCreateKey reads the signer key stored at path, or, if the file does
// not exist, generates one named name (DefaultOriginPrefix when empty) and
// writes it with mode 0600 (created exclusively and fsync'd). The verifier
// key (public) is written beside it as path+".pub" (mode 0644) for
// convenience; it is always re-derivable from the signer key. An existing
// key file readable by group or others is refused (on Unix).
func LoadOrCreateKey(path, name string) (*Key, error) {
	if name == "" {
		name = DefaultOriginPrefix
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return loadKey(path, b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	sk, vk, err := GenerateKey(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // lost a race with another process
		return LoadOrCreateKey(path, name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(sk + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".pub", []byte(vk+"\n"), 0o644); err != nil {
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return ParseKey(sk)
}

// Checkpoint is the content of a checkpoint note.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	// Extensions are the optional extra body lines (C2SP); Cairn writes none.
	Extensions []string

	// Set by OpenCheckpoint and ParseCheckpoint.
	Note *note.Note // the parsed note, with its signatures
	// LogKey is "<name>+<hash>" of the verified log signature.
	LogKey string
	// Cosigners are the key names of verified witness signatures.
	Cosigners []string
	// Unverified lists "<name>+<hash>" of signatures by keys not supplied.
	Unverified []string
}

// Text returns the checkpoint's note text (body), ending in a newline.
func (c *Checkpoint) Text() string {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Root[:]))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// ErrCheckpoint is wrapped by every checkpoint parsing error.
var ErrCheckpoint = errors.New("malformed checkpoint")

// ParseCheckpointText parses a checkpoint body (the note text, without
// signatures). It is strict: the size is canonical decimal, the root is
// standard padded base64 of 32 bytes, extension lines are non-empty.
func ParseCheckpointText(text string) (*Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("ledger: %w: text must end in a newline", ErrCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("ledger: %w: want at least 3 lines, have %d", ErrCheckpoint, len(lines))
	}
	c := &Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return nil, fmt.Errorf("ledger: %w: empty origin", ErrCheckpoint)
	}
	sz := lines[1]
	n, err := strconv.ParseUint(sz, 10, 64)
	if err != nil || sz == "" || (len(sz) > 1 && sz[0] == '0') || sz[0] == '+' {
		return nil, fmt.Errorf("ledger: %w: bad tree size %q", ErrCheckpoint, sz)
	}
	c.Size = n
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return nil, fmt.Errorf("ledger: %w: bad root hash %q", ErrCheckpoint, lines[2])
	}
	copy(c.Root[:], root)
	for _, e := range lines[3:] {
		if e == "" {
			return nil, fmt.Errorf("ledger: %w: empty extension line", ErrCheckpoint)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// SignCheckpoint returns the signed checkpoint note for a tree. The first
// signer is the log; further signers (if any) add cosignatures.
func SignCheckpoint(origin string, size uint64, root [32]byte, signers ...note.Signer) ([]byte, error) {
	if !ValidName(origin) {
		return nil, fmt.Errorf("ledger: invalid origin %q", origin)
	}
	if len(signers) == 0 {
		return nil, errors.New("ledger: no signer")
	}
	c := &Checkpoint{Origin: origin, Size: size, Root: root}
	return note.Sign(&note.Note{Text: c.Text()}, signers...)
}

// ParseCheckpoint parses a signed checkpoint note WITHOUT verifying any
// signature (for display and for picking the right key). Signature lines are
// listed in Unverified as "<name>+<hash>".
func ParseCheckpoint(msg []byte) (*Checkpoint, error) {
	_, err := note.Open(msg, note.VerifierList())
	var unv *note.UnverifiedNoteError
	if !errors.As(err, &unv) {
		if err == nil {
			err = errors.New("unexpected verified signature")
		}
		return nil, fmt.Errorf("ledger: %w: %v", ErrCheckpoint, err)
	}
	c, err := ParseCheckpointText(unv.Note.Text)
	if err != nil {
		return nil, err
	}
	c.Note = unv.Note
	for _, s := range unv.Note.UnverifiedSigs {
		c.Unverified = append(c.Unverified, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	return c, nil
}

// ErrCheckpointSignature means the log's signature is missing or invalid.
var ErrCheckpointSignature = errors.New("checkpoint signature not valid")

// OpenCheckpoint verifies a signed checkpoint note: it must carry a valid
// signature by log. Signatures by witnesses are verified too (an invalid
// one is an error); any other signature line is listed in Unverified.
func OpenCheckpoint(msg []byte, log note.Verifier, witnesses ...note.Verifier) (*Checkpoint, error) {
	if log == nil {
		return nil, errors.New("ledger: no log verifier")
	}
	vs := append([]note.Verifier{log}, witnesses...)
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		var unv *note.UnverifiedNoteError
		if errors.As(err, &unv) {
			return nil, fmt.Errorf("ledger: %w: no signature by %s+%08x", ErrCheckpointSignature, log.Name(), log.KeyHash())
		}
		var inv *note.InvalidSignatureError
		if errors.As(err, &inv) {
			return nil, fmt.Errorf("ledger: %w: %v", ErrCheckpointSignature, err)
		}
		return nil, fmt.Errorf("ledger: %w: %v", ErrCheckpoint, err)
	}
	c, err := ParseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	c.Note = n
	for _, s := range n.Sigs {
		if s.Name == log.Name() && s.Hash == log.KeyHash() {
			c.LogKey = fmt.Sprintf("%s+%08x", s.Name, s.Hash)
			continue
		}
		c.Cosigners = append(c.Cosigners, s.Name)
	}
	if c.LogKey == "" {
		return nil, fmt.Errorf("ledger: %w: no signature by %s+%08x", ErrCheckpointSignature, log.Name(), log.KeyHash())
	}
	for _, s := range n.UnverifiedSigs {
		c.Unverified = append(c.Unverified, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	return c, nil
}

// NewVerifier parses a note verifier key ("<name>+<hash>+<base64>").
func NewVerifier(verifierKey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, fmt.Errorf("ledger: verifier key: %w", err)
	}
	return v, nil
}

// ErrInconsistent means a new checkpoint is not an append-only extension of
// an older one.
var ErrInconsistent = errors.New("checkpoints are not consistent")

// CheckConsistent checks that checkpoint b extends checkpoint a: same
// origin, b.Size >= a.Size, and the consistency proof p (from a.Size to
// b.Size) holds; equal sizes need equal roots and an empty proof.
func CheckConsistent(a, b *Checkpoint, p [][]byte) error {
	if a.Origin != b.Origin {
		return fmt.Errorf("ledger: %w: origin %q vs %q", ErrInconsistent, a.Origin, b.Origin)
	}
	if b.Size < a.Size {
		return fmt.Errorf("ledger: %w: tree size %d is smaller than the earlier %d (truncated)", ErrInconsistent, b.Size, a.Size)
	}
	if err := VerifyConsistency(a.Size, b.Size, p, a.Root, b.Root); err != nil {
		return fmt.Errorf("ledger: %w: %v", ErrInconsistent, err)
	}
	return nil
}

// Cosign is what a witness does with a new checkpoint of a log it follows:
// it checks the log's signature on checkpointNote, checks that the new tree
// is consistent with last (the latest checkpoint the witness signed for this
// origin; nil for the first one, which is then trusted on first use), and
// returns the note with the witness's signature line added after the
// existing ones. Existing signatures, verified or not, are kept.
func Cosign(checkpointNote []byte, log note.Verifier, last *Checkpoint, consistency [][]byte, witness note.Signer) ([]byte, *Checkpoint, error) {
	c, err := OpenCheckpoint(checkpointNote, log)
	if err != nil {
		return nil, nil, err
	}
	if last != nil {
		if err := CheckConsistent(last, c, consistency); err != nil {
			return nil, nil, err
		}
	}
	out, err := note.Sign(c.Note, witness)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: cosign: %w", err)
	}
	return out, c, nil
}

// Witness is a minimal stateful witness for one log: it remembers the last
// checkpoint it cosigned and refuses any checkpoint not consistent with it.
type Witness struct {
	Signer note.Signer
	Log    note.Verifier
	Last   *Checkpoint
}

// Cosign cosigns checkpointNote given a consistency proof from w.Last.Size,
// and advances w.Last on success.
func (w *Witness) Cosign(checkpointNote []byte, consistency [][]byte) ([]byte, error) {
	out, c, err := Cosign(checkpointNote, w.Log, w.Last, consistency, w.Signer)
	if err != nil {
		return nil, err
	}
	w.Last = c
	return out, nil
}
