package cairn

import (
	"context"
	"time"

	"github.com/cairnhq/cairn/ledger"
)

// Encryption at rest and erasure event types (ADR 0048).
const (
	EventErasure               = ledger.EventErasure
	EventTenantSettingsChanged = ledger.EventTenantSettingsChanged
	EventPayloadKeyRotated     = ledger.EventPayloadKeyRotated
)

// PayloadKey is a data key as stored: wrapped by the key-encryption key.
// Subject is empty for the tenant's own key (jobs without a subject).
type PayloadKey struct {
	Tenant    string
	KeyID     string // random, hex (16 digits; 32 for keys made before ADR 0047)
	Subject   string
	Wrapped   []byte // AES-256-GCM under the key-encryption key
	KEKID     string // fingerprint of the key-encryption key that wrapped it
	CreatedAt time.Time
}

// ErasedPayload records a payload that an erasure removed: its pointer, the
// SHA-256 of the plaintext (which the ledger committed to) and the ledger
// index of the erasure event.
type ErasedPayload struct {
	Tenant string
	Ptr    string
	SHA256 string
	JobID  string
	Entry  uint64
}

// StoredPayload is a payload row as the store holds it: Data is the
// ciphertext (or a legacy plaintext when KeyID is empty).
type StoredPayload struct {
	Ptr, SHA256, KeyID string
}

// TenantSettings are a tenant's data-protection settings. Empty
// SubjectLabel means DefaultSubjectLabel; empty PayloadReaders means
// today's rules only (every role that may read the job).
type TenantSettings struct {
	Tenant         string    `json:"tenant"`
	SubjectLabel   string    `json:"subject_label"`
	PayloadReaders []string  `json:"payload_reader_roles"`
	UpdatedBy      string    `json:"updated_by,omitempty"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// Label is the subject label in force (the default when none is set).
func (t *TenantSettings) Label() string {
	if t == nil || t.SubjectLabel == "" {
		return DefaultSubjectLabel
	}
	return t.SubjectLabel
}

// ErasureRequest is POST /api/v1/erasures: a subject or job ids, and why.
type ErasureRequest struct {
	Subject string   `json:"subject,omitempty"`
	JobIDs  []string `json:"job_ids,omitempty"`
	Reason  string   `json:"reason"`
}

// Erasure is the answer to an erasure: the ledger entry of its erasure
// event and what it removed.
type Erasure struct {
	Entry    uint64          `json:"ledger_index"`
	JobIDs   []string        `json:"job_ids"`
	Payloads []ErasedSummary `json:"payloads"`
	// KeyDestroyed is true when the subject's data key was destroyed.
	KeyDestroyed bool `json:"key_destroyed"`
}

// ErasedSummary names one erased payload by pointer and plaintext hash.
type ErasedSummary struct {
	Ptr    string `json:"ptr"`
	SHA256 string `json:"sha256"`
}

// PayloadKeyReadTx reads data keys, erasure records and tenant settings.
type PayloadKeyReadTx interface {
	// PayloadKey returns the tenant's data key of subject ("" = the
	// tenant's own), nil, nil when none.
	PayloadKey(tenant, subject string) (*PayloadKey, error)
	// PayloadKeyByID returns a data key by id, nil, nil when none.
	PayloadKeyByID(tenant, keyID string) (*PayloadKey, error)
	// PayloadKeys pages every data key of every tenant (key id order,
	// after the tenant/key id given), for re-wrapping.
	PayloadKeys(afterTenant, afterKeyID string, limit int) ([]*PayloadKey, error)
	// PayloadsByKey lists the payloads encrypted under a subject's data
	// key (not the tenant's own: those are TenantDataKey, found by job).
	PayloadsByKey(tenant, keyID string) ([]StoredPayload, error)
	// ErasedPayload returns the erasure record of ptr, nil, nil when none.
	ErasedPayload(tenant, ptr string) (*ErasedPayload, error)
	// LegacyPayloads lists up to limit payloads stored before encryption
	// (no key id).
	LegacyPayloads(limit int) ([]*Payload, error)
	// TenantSettings returns the tenant's settings (defaults when none set).
	TenantSettings(tenant string) (*TenantSettings, error)
}

// PayloadKeyTx writes data keys, erasures and tenant settings: the only
// writes that remove evidence (payload ciphertexts), always together with
// the erasure event that records them.
type PayloadKeyTx interface {
	// InsertPayloadKey stores a data key unless the subject has one (then
	// it is a no-op; read it back with PayloadKey).
	InsertPayloadKey(k *PayloadKey) error
	// RewrapPayloadKey replaces a data key's wrapped form (key rotation).
	RewrapPayloadKey(k *PayloadKey) error
	// DestroyPayloadKey deletes a data key.
	DestroyPayloadKey(tenant, keyID string) error
	// EncryptLegacyPayload replaces a legacy plaintext payload by its
	// ciphertext (p.Data under p.KeyID); only a row with no key id.
	EncryptLegacyPayload(p *Payload) error
	// ErasePayload records e and deletes the payload's row.
	ErasePayload(e *ErasedPayload) error
	PutTenantSettings(s *TenantSettings) error
}

// Compactor is implemented by stores that can remove the leftovers of
// deleted rows from their files (SQLite: a WAL checkpoint that truncates
// the WAL; PostgreSQL: VACUUM of the payload tables). The service calls it
// after an erasure commits.
type Compactor interface {
	CompactErased(ctx context.Context) error
}
