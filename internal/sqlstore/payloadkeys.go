package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhq/cairn"
)

// The data keys, erasure records and tenant settings of encryption at rest
// (ADR 0048), shared by both engines.

const payloadKeyCols = `tenant, key_id, subject, wrapped, kek_id, created_at`

func scanPayloadKey(row interface{ Scan(...any) error }) (*cairn.PayloadKey, error) {
	k := &cairn.PayloadKey{}
	var at int64
	if err := row.Scan(&k.Tenant, &k.KeyID, &k.Subject, &k.Wrapped, &k.KEKID, &at); err != nil {
		return nil, err
	}
	k.CreatedAt = time.Unix(0, at).UTC()
	return k, nil
}

func (r *Reader) payloadKey(q string, args ...any) (*cairn.PayloadKey, error) {
	k, err := scanPayloadKey(r.row(q, args...))
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	return k, err
}

// PayloadKey implements cairn.ReadTx.
func (r *Reader) PayloadKey(tenant, subject string) (*cairn.PayloadKey, error) {
	return r.payloadKey(`SELECT `+payloadKeyCols+` FROM payload_keys WHERE tenant = ? AND subject = ?`, tenant, subject)
}

// PayloadKeyByID implements cairn.ReadTx.
func (r *Reader) PayloadKeyByID(tenant, keyID string) (*cairn.PayloadKey, error) {
	return r.payloadKey(`SELECT `+payloadKeyCols+` FROM payload_keys WHERE tenant = ? AND key_id = ?`, tenant, keyID)
}

// PayloadKeys implements cairn.ReadTx.
func (r *Reader) PayloadKeys(afterTenant, afterKeyID string, limit int) ([]*cairn.PayloadKey, error) {
	rows, err := r.query(`SELECT `+payloadKeyCols+` FROM payload_keys WHERE tenant > ? OR (tenant = ? AND key_id > ?) ORDER BY tenant, key_id LIMIT ?`,
		afterTenant, afterTenant, afterKeyID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.PayloadKey
	for rows.Next() {
		k, err := scanPayloadKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// PayloadsByKeyQuery lists the payloads under a subject's data key, by
// payloads_subject (SQLite, without statistics, would walk the tenant's
// payloads by primary key for the order).
func PayloadsByKeyQuery(d *Dialect) string {
	return `SELECT ptr, sha256 FROM ` + d.IndexedBy("payloads", "payloads_subject") + ` WHERE tenant = ? AND key_id = ? AND key_id <> '' ORDER BY ptr`
}

// PayloadsByKey implements cairn.ReadTx for a subject's data key, through
// payloads_subject (whose WHERE the statement repeats, so that both
// planners take it). The payloads under the tenant's own key are not
// indexed by key and are not listed: erasure finds them by job.
func (r *Reader) PayloadsByKey(tenant, keyID string) ([]cairn.StoredPayload, error) {
	if keyID == "" || keyID == cairn.TenantDataKey {
		return nil, cairn.Invalid("key_id", "payloads are listed by a subject's data key only")
	}
	rows, err := r.query(PayloadsByKeyQuery(r.D), tenant, keyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cairn.StoredPayload
	for rows.Next() {
		p := cairn.StoredPayload{KeyID: keyID}
		var sum []byte
		if err := rows.Scan(&p.Ptr, &sum); err != nil {
			return nil, err
		}
		p.SHA256 = PayloadHashText(sum)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ErasedPayload implements cairn.ReadTx.
func (r *Reader) ErasedPayload(tenant, ptr string) (*cairn.ErasedPayload, error) {
	e := &cairn.ErasedPayload{Tenant: tenant, Ptr: ptr}
	var entry int64
	err := r.row(`SELECT sha256, job_id, entry FROM erased_payloads WHERE tenant = ? AND ptr = ?`, tenant, ptr).Scan(&e.SHA256, &e.JobID, &entry)
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e.Entry = uint64(entry)
	return e, nil
}

// LegacyPayloads implements cairn.ReadTx.
func (r *Reader) LegacyPayloads(limit int) ([]*cairn.Payload, error) {
	rows, err := r.query(`SELECT tenant, ptr, sha256, data FROM payloads WHERE key_id IS NULL ORDER BY tenant, ptr LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cairn.Payload
	for rows.Next() {
		p := &cairn.Payload{}
		var sum []byte
		if err := rows.Scan(&p.Tenant, &p.Ptr, &sum, &p.Data); err != nil {
			return nil, err
		}
		p.SHA256 = PayloadHashText(sum)
		out = append(out, p)
	}
	return out, rows.Err()
}

// TenantSettings implements cairn.ReadTx.
func (r *Reader) TenantSettings(tenant string) (*cairn.TenantSettings, error) {
	var body []byte
	err := r.row(`SELECT body FROM tenant_settings WHERE tenant = ?`, tenant).Scan(&body)
	if errors.Is(err, ErrNoRows) {
		return &cairn.TenantSettings{Tenant: tenant, PayloadReaders: []string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	s := &cairn.TenantSettings{}
	if err := json.Unmarshal(body, s); err != nil {
		return nil, fmt.Errorf("%s: corrupt tenant settings: %w", r.D.Name, err)
	}
	return s, nil
}

// InsertPayloadKey implements cairn.Tx.
func (w *Writer) InsertPayloadKey(k *cairn.PayloadKey) error {
	return w.DB.Write(Write{SQL: `INSERT INTO payload_keys(` + payloadKeyCols + `) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{k.Tenant, k.KeyID, k.Subject, k.Wrapped, k.KEKID, Nanos(k.CreatedAt)}})
}

// RewrapPayloadKey implements cairn.Tx.
func (w *Writer) RewrapPayloadKey(k *cairn.PayloadKey) error {
	id := k.KeyID
	return w.DB.Write(Write{SQL: `UPDATE payload_keys SET wrapped = ?, kek_id = ? WHERE tenant = ? AND key_id = ?`,
		Args: []any{k.Wrapped, k.KEKID, k.Tenant, k.KeyID},
		One:  func() error { return cairn.NotFound("data key %q not found", id) }})
}

// DestroyPayloadKey implements cairn.Tx.
func (w *Writer) DestroyPayloadKey(tenant, keyID string) error {
	return w.DB.Write(Write{SQL: `DELETE FROM payload_keys WHERE tenant = ? AND key_id = ?`, Args: []any{tenant, keyID},
		One: func() error { return cairn.NotFound("data key %q not found", keyID) }})
}

// EncryptLegacyPayload implements cairn.Tx.
func (w *Writer) EncryptLegacyPayload(p *cairn.Payload) error {
	ptr := p.Ptr
	return w.DB.Write(Write{SQL: `UPDATE payloads SET data = ?, key_id = ? WHERE tenant = ? AND ptr = ? AND key_id IS NULL`,
		Args: []any{p.Data, payloadKeyArg(p.KeyID), p.Tenant, p.Ptr},
		One:  func() error { return cairn.Conflict(cairn.EConflict, "payload %q is not a legacy payload", ptr) }})
}

// ErasePayload implements cairn.Tx: the record first, which the payloads'
// delete trigger requires.
func (w *Writer) ErasePayload(e *cairn.ErasedPayload) error {
	ptr := e.Ptr
	if err := w.DB.Write(Write{SQL: `INSERT INTO erased_payloads(tenant, ptr, sha256, job_id, entry) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`,
		Args: []any{e.Tenant, e.Ptr, e.SHA256, e.JobID, int64(e.Entry)},
		One:  func() error { return cairn.Conflict(cairn.CodeErased, "payload %q is erased already", ptr) }}); err != nil {
		return err
	}
	return w.DB.Write(Write{SQL: `DELETE FROM payloads WHERE tenant = ? AND ptr = ?`, Args: []any{e.Tenant, e.Ptr},
		One: func() error { return cairn.NotFound("payload %q not found", ptr) }})
}

// PutTenantSettings implements cairn.Tx.
func (w *Writer) PutTenantSettings(s *cairn.TenantSettings) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return w.DB.Write(Write{SQL: `INSERT INTO tenant_settings(tenant, body) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET body = excluded.body`,
		Args: []any{s.Tenant, string(body)}})
}
