package storetest

import (
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// testPayloadRows: payloads keep their hash and key as written (ADR 0047):
// a hex hash reads back as the same hex (stored as its 32 bytes), a
// payload under the tenant's own key reads back as cairn.TenantDataKey and
// is not listed by key, a subject's payloads are listed by their key, and a
// hash of 32 characters that is not hex is refused.
func testPayloadRows(t *testing.T, s cairn.Store) {
	sum := ledger.SHA256Hex([]byte("context"))
	other := ledger.SHA256Hex([]byte("result"))
	update(t, s, func(tx cairn.Tx) error {
		for _, p := range []*cairn.Payload{
			{Tenant: "default", Ptr: "ctx:r1", SHA256: sum, Data: []byte("sealed-1"), KeyID: cairn.TenantDataKey},
			{Tenant: "default", Ptr: "ctx:r2", SHA256: other, Data: []byte("sealed-2"), KeyID: "subj-key"},
			{Tenant: "default", Ptr: "res:r2", SHA256: sum, Data: []byte("sealed-3"), KeyID: "subj-key"},
			{Tenant: "acme", Ptr: "ctx:r3", SHA256: other, Data: []byte("sealed-4"), KeyID: "subj-key"},
		} {
			if err := tx.PutPayload(p); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx cairn.ReadTx) error {
		p, err := tx.GetPayload("default", "ctx:r1")
		if err != nil || p.SHA256 != sum || p.KeyID != cairn.TenantDataKey || string(p.Data) != "sealed-1" {
			t.Fatalf("tenant-key payload = %+v, %v", p, err)
		}
		p, err = tx.GetPayload("default", "ctx:r2")
		if err != nil || p.SHA256 != other || p.KeyID != "subj-key" {
			t.Fatalf("subject payload = %+v, %v", p, err)
		}
		ps, err := tx.PayloadsByKey("default", "subj-key")
		if err != nil || len(ps) != 2 || ps[0].Ptr != "ctx:r2" || ps[0].SHA256 != other || ps[1].Ptr != "res:r2" || ps[1].SHA256 != sum {
			t.Fatalf("PayloadsByKey = %+v, %v", ps, err)
		}
		if _, err := tx.PayloadsByKey("default", cairn.TenantDataKey); cairn.ErrorCode(err) != cairn.EInvalid {
			t.Fatalf("PayloadsByKey of the tenant's key: %v, want invalid", err)
		}
		return nil
	})
	err := s.Update(ctx, func(tx cairn.Tx) error {
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:bad", SHA256: "0123456789abcdef0123456789abcdeX", Data: []byte("x"), KeyID: cairn.TenantDataKey})
	})
	wantCode(t, err, cairn.EInvalid)
}
