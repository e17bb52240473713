package storetest

import (
	"bytes"
	"testing"

	"github.com/cairnhq/cairn"
)

// testPayloadKeys: data keys are stored once per (tenant, subject), read by
// subject and by id, re-wrapped and destroyed; payloads carry their key id.
func testPayloadKeys(t *testing.T, s cairn.Store) {
	k := &cairn.PayloadKey{Tenant: "default", KeyID: "k1", Subject: "alice", Wrapped: []byte{1, 2, 0, 3}, KEKID: "kek1", CreatedAt: at(1)}
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.InsertPayloadKey(k); err != nil {
			return err
		}
		// A second key for the same subject is a no-op: the first stays.
		if err := tx.InsertPayloadKey(&cairn.PayloadKey{Tenant: "default", KeyID: "k2", Subject: "alice", Wrapped: []byte{9}, KEKID: "kek1", CreatedAt: at(2)}); err != nil {
			return err
		}
		if err := tx.InsertPayloadKey(&cairn.PayloadKey{Tenant: "acme", KeyID: "k1", Subject: "", Wrapped: []byte{7}, KEKID: "kek1", CreatedAt: at(3)}); err != nil {
			return err
		}
		got, err := tx.PayloadKey("default", "alice")
		if err != nil || got == nil || got.KeyID != "k1" {
			t.Fatalf("PayloadKey inside the update = %+v, %v", got, err)
		}
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s1", Data: []byte("sealed"), KeyID: "k1"})
	})
	view(t, s, func(tx cairn.ReadTx) error {
		got, err := tx.PayloadKey("default", "alice")
		if err != nil || got == nil || got.KeyID != "k1" || !bytes.Equal(got.Wrapped, k.Wrapped) || got.KEKID != "kek1" || !got.CreatedAt.Equal(at(1)) {
			t.Fatalf("PayloadKey = %+v, %v", got, err)
		}
		if got, err := tx.PayloadKey("default", "bob"); got != nil || err != nil {
			t.Fatalf("unknown subject: %+v, %v", got, err)
		}
		if got, err := tx.PayloadKeyByID("acme", "k1"); err != nil || got == nil || got.Subject != "" {
			t.Fatalf("PayloadKeyByID = %+v, %v", got, err)
		}
		all, err := tx.PayloadKeys("", "", 10)
		if err != nil || len(all) != 2 || all[0].Tenant != "acme" || all[1].Tenant != "default" {
			t.Fatalf("PayloadKeys = %+v, %v", all, err)
		}
		if rest, err := tx.PayloadKeys("acme", "k1", 10); err != nil || len(rest) != 1 || rest[0].Tenant != "default" {
			t.Fatalf("PayloadKeys after acme/k1 = %+v, %v", rest, err)
		}
		p, err := tx.GetPayload("default", "ctx:j1")
		if err != nil || p.KeyID != "k1" {
			t.Fatalf("GetPayload = %+v, %v", p, err)
		}
		ps, err := tx.PayloadsByKey("default", "k1")
		if err != nil || len(ps) != 1 || ps[0].Ptr != "ctx:j1" || ps[0].SHA256 != "s1" {
			t.Fatalf("PayloadsByKey = %+v, %v", ps, err)
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		return tx.RewrapPayloadKey(&cairn.PayloadKey{Tenant: "default", KeyID: "k1", Wrapped: []byte{5, 5}, KEKID: "kek2"})
	})
	err := s.Update(ctx, func(tx cairn.Tx) error {
		return tx.RewrapPayloadKey(&cairn.PayloadKey{Tenant: "default", KeyID: "nope", Wrapped: []byte{5}, KEKID: "kek2"})
	})
	wantCode(t, err, cairn.ENotFound)
	update(t, s, func(tx cairn.Tx) error { return tx.DestroyPayloadKey("default", "k1") })
	view(t, s, func(tx cairn.ReadTx) error {
		if got, err := tx.PayloadKeyByID("default", "k1"); got != nil || err != nil {
			t.Fatalf("destroyed key still read: %+v, %v", got, err)
		}
		return nil
	})
	err = s.Update(ctx, func(tx cairn.Tx) error { return tx.DestroyPayloadKey("default", "k1") })
	wantCode(t, err, cairn.ENotFound)
}

// testErasePayloads: a payload row is deleted only with its erasure
// record; a payload is erased once; legacy rows are encrypted once.
func testErasePayloads(t *testing.T, s cairn.Store) {
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s1", Data: []byte("c1"), KeyID: "k1"}); err != nil {
			return err
		}
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j2", SHA256: "s2", Data: []byte("legacy plaintext")})
	})
	e := &cairn.ErasedPayload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s1", JobID: "j1", Entry: 7}
	update(t, s, func(tx cairn.Tx) error { return tx.ErasePayload(e) })
	err := s.Update(ctx, func(tx cairn.Tx) error { return tx.ErasePayload(e) })
	wantCode(t, err, cairn.CodeErased)
	err = s.Update(ctx, func(tx cairn.Tx) error {
		return tx.ErasePayload(&cairn.ErasedPayload{Tenant: "default", Ptr: "ctx:none", SHA256: "s", JobID: "x", Entry: 8})
	})
	wantCode(t, err, cairn.ENotFound)
	view(t, s, func(tx cairn.ReadTx) error {
		_, err := tx.GetPayload("default", "ctx:j1")
		wantCode(t, err, cairn.ENotFound)
		got, err := tx.ErasedPayload("default", "ctx:j1")
		if err != nil || got == nil || got.Entry != 7 || got.SHA256 != "s1" || got.JobID != "j1" {
			t.Fatalf("ErasedPayload = %+v, %v", got, err)
		}
		if got, err := tx.ErasedPayload("acme", "ctx:j1"); got != nil || err != nil {
			t.Fatalf("another tenant's erasure record: %+v, %v", got, err)
		}
		legacy, err := tx.LegacyPayloads(10)
		if err != nil || len(legacy) != 1 || legacy[0].Ptr != "ctx:j2" || string(legacy[0].Data) != "legacy plaintext" {
			t.Fatalf("LegacyPayloads = %+v, %v", legacy, err)
		}
		return nil
	})
	update(t, s, func(tx cairn.Tx) error {
		return tx.EncryptLegacyPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j2", SHA256: "s2", Data: []byte("sealed"), KeyID: "k1"})
	})
	err = s.Update(ctx, func(tx cairn.Tx) error {
		return tx.EncryptLegacyPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j2", SHA256: "s2", Data: []byte("again"), KeyID: "k1"})
	})
	wantCode(t, err, cairn.EConflict)
	view(t, s, func(tx cairn.ReadTx) error {
		p, err := tx.GetPayload("default", "ctx:j2")
		if err != nil || string(p.Data) != "sealed" || p.KeyID != "k1" {
			t.Fatalf("after encryption: %+v, %v", p, err)
		}
		if legacy, err := tx.LegacyPayloads(10); err != nil || len(legacy) != 0 {
			t.Fatalf("LegacyPayloads = %+v, %v", legacy, err)
		}
		return nil
	})
}

// testTenantSettings: defaults until set; set replaces.
func testTenantSettings(t *testing.T, s cairn.Store) {
	view(t, s, func(tx cairn.ReadTx) error {
		st, err := tx.TenantSettings("default")
		if err != nil || st.Label() != cairn.DefaultSubjectLabel || len(st.PayloadReaders) != 0 {
			t.Fatalf("defaults = %+v, %v", st, err)
		}
		return nil
	})
	for _, label := range []string{"customer", "patient"} {
		update(t, s, func(tx cairn.Tx) error {
			return tx.PutTenantSettings(&cairn.TenantSettings{Tenant: "default", SubjectLabel: label, PayloadReaders: []string{"auditor"}})
		})
	}
	view(t, s, func(tx cairn.ReadTx) error {
		st, err := tx.TenantSettings("default")
		if err != nil || st.Label() != "patient" || len(st.PayloadReaders) != 1 {
			t.Fatalf("settings = %+v, %v", st, err)
		}
		if other, err := tx.TenantSettings("acme"); err != nil || other.Label() != cairn.DefaultSubjectLabel {
			t.Fatalf("another tenant = %+v, %v", other, err)
		}
		return nil
	})
}

// testCompactErased: a store that removes the leftovers of erased rows
// (cairn.Compactor) does so without error after an erasure, and the
// erasure's effects stay.
func testCompactErased(t *testing.T, s cairn.Store) {
	c, ok := s.(cairn.Compactor)
	if !ok {
		t.Skip("the store is not a cairn.Compactor")
	}
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.InsertPayloadKey(&cairn.PayloadKey{Tenant: "default", KeyID: "k1", Subject: "s", Wrapped: []byte{1}, KEKID: "kek", CreatedAt: at(1)}); err != nil {
			return err
		}
		return tx.PutPayload(&cairn.Payload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s1", Data: []byte("sealed"), KeyID: "k1"})
	})
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.ErasePayload(&cairn.ErasedPayload{Tenant: "default", Ptr: "ctx:j1", SHA256: "s1", JobID: "j1", Entry: 1}); err != nil {
			return err
		}
		return tx.DestroyPayloadKey("default", "k1")
	})
	if err := c.CompactErased(ctx); err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx cairn.ReadTx) error {
		_, err := tx.GetPayload("default", "ctx:j1")
		wantCode(t, err, cairn.ENotFound)
		if k, err := tx.PayloadKey("default", "s"); k != nil || err != nil {
			t.Fatalf("key after compaction: %+v, %v", k, err)
		}
		return nil
	})
}
