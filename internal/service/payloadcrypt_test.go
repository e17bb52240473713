package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/payloadkey"
	"github.com/cairnhq/cairn/ledger"
)

func (h *harness) raw() cairn.Store { return h.s.Store.(*cryptStore).Store }

func (h *harness) rawPayload(ptr string) *cairn.Payload {
	h.t.Helper()
	var p *cairn.Payload
	if err := h.raw().View(h.ctx, func(tx cairn.ReadTx) error {
		var err error
		p, err = tx.GetPayload("default", ptr)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) keyOf(subject string) string {
	h.t.Helper()
	var id string
	h.raw().View(h.ctx, func(tx cairn.ReadTx) error {
		k, err := tx.PayloadKey("default", subject)
		if err == nil && k != nil {
			id = k.KeyID
		}
		return err
	})
	return id
}

func (h *harness) submit(id string, labels map[string]string, input string) {
	h.t.Helper()
	if _, _, err := h.s.Submit(h.ctx, hAgent, cairn.SubmitRequest{JobID: id, Action: "db.read", Labels: labels, Input: json.RawMessage(input)}, ""); err != nil {
		h.t.Fatal(err)
	}
}

// TestLegacyPayloadsSealedAtStart: payloads stored before encryption at
// rest are sealed in place (under their job's subject's key, or the
// tenant's), read back as they were, and their hashes kept.
func TestLegacyPayloadsSealedAtStart(t *testing.T) {
	h := newHarness(t)
	h.submit("j-1", map[string]string{cairn.DefaultSubjectLabel: "s-1"}, `{"a":1}`)
	legacy := []*cairn.Payload{
		{Tenant: "default", Ptr: "res:j-1", SHA256: ledger.SHA256Hex([]byte(`"old result"`)), Data: []byte(`"old result"`)},
		{Tenant: "default", Ptr: "run-input:r-old", SHA256: ledger.SHA256Hex([]byte(`{"old":true}`)), Data: []byte(`{"old":true}`)},
	}
	if err := h.raw().Update(h.ctx, func(tx cairn.Tx) error {
		for _, p := range legacy {
			if err := tx.PutPayload(p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p := h.rawPayload("res:j-1"); p.KeyID != "" || string(p.Data) != `"old result"` {
		t.Fatalf("legacy row %+v", p)
	}
	if err := h.s.startPayloadCrypt(h.ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := h.s.EncryptLegacyPayloads(h.ctx); n != 0 || err != nil {
		t.Fatalf("a second pass sealed %d, %v", n, err)
	}
	wantKey := map[string]string{"res:j-1": h.keyOf("s-1"), "run-input:r-old": cairn.TenantDataKey}
	for _, l := range legacy {
		raw := h.rawPayload(l.Ptr)
		if raw.KeyID != wantKey[l.Ptr] || raw.KeyID == "" || bytes.Contains(raw.Data, l.Data) || raw.SHA256 != l.SHA256 {
			t.Fatalf("%s after start: key %q (want %q), data %q", l.Ptr, raw.KeyID, wantKey[l.Ptr], raw.Data)
		}
		h.s.Store.View(h.ctx, func(tx cairn.ReadTx) error {
			p, err := tx.GetPayload("default", l.Ptr)
			if err != nil || !bytes.Equal(p.Data, l.Data) {
				t.Fatalf("%s reads %q, %v", l.Ptr, p.Data, err)
			}
			return nil
		})
	}
}

// TestSubjectLabelCachedForTTL: a change of the subject label made through
// another replica (straight into the store) applies here once the cached
// settings are settingsTTL old, by the service's clock.
func TestSubjectLabelCachedForTTL(t *testing.T) {
	h := newHarness(t)
	h.submit("j-0", map[string]string{"customer": "c-1"}, `{}`) // caches the defaults
	if err := h.raw().Update(h.ctx, func(tx cairn.Tx) error {
		return tx.PutTenantSettings(&cairn.TenantSettings{Tenant: "default", SubjectLabel: "customer", PayloadReaders: []string{}})
	}); err != nil {
		t.Fatal(err)
	}
	h.advance(settingsTTL - time.Millisecond)
	h.submit("j-1", map[string]string{"customer": "c-1"}, `{}`)
	if k := h.rawPayload("ctx:j-1").KeyID; k != cairn.TenantDataKey || h.keyOf("") == "" {
		t.Fatalf("within the TTL j-1 is sealed under %s, want the tenant's key", k)
	}
	h.advance(2 * time.Millisecond)
	h.submit("j-2", map[string]string{"customer": "c-1"}, `{}`)
	if k := h.rawPayload("ctx:j-2").KeyID; k == "" || k != h.keyOf("c-1") {
		t.Fatalf("after the TTL j-2 is sealed under %q, want c-1's key %q", k, h.keyOf("c-1"))
	}
}

// TestRotatePayloadKey: data keys are re-wrapped under the new KEK; a
// service with the new KEK reads every payload, one with the old refuses
// to start; each tenant's ledger records the rotation.
func TestRotatePayloadKey(t *testing.T) {
	h := newHarness(t)
	raw1, _ := payloadkey.Generate()
	old, _ := payloadkey.NewKEK(raw1)
	h.s.SetPayloadKey(old)
	h.submit("j-1", map[string]string{cairn.DefaultSubjectLabel: "s-1"}, `{"x":1}`)
	h.submit("j-2", nil, `{"x":2}`)
	raw2, _ := payloadkey.Generate()
	next, _ := payloadkey.NewKEK(raw2)
	if _, err := h.s.RotatePayloadKey(h.ctx, old); cairn.ErrorCode(err) != cairn.EInvalid {
		t.Fatalf("rotating to the key in use: %v", err)
	}
	n, err := h.s.RotatePayloadKey(h.ctx, next)
	if err != nil || n != 2 {
		t.Fatalf("rotated %d, %v", n, err)
	}
	fresh := New(h.raw(), slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	fresh.SetPayloadKey(next)
	if err := fresh.checkPayloadKEK(h.ctx); err != nil {
		t.Fatal(err)
	}
	for _, ptr := range []string{"ctx:j-1", "ctx:j-2"} {
		if err := fresh.Store.View(h.ctx, func(tx cairn.ReadTx) error {
			_, err := tx.GetPayload("default", ptr)
			return err
		}); err != nil {
			t.Fatalf("%s under the new key: %v", ptr, err)
		}
	}
	stale := New(h.raw(), slog.New(slog.NewTextHandler(io.Discard, nil)), []byte("salt"))
	stale.SetPayloadKey(old)
	var mm *PayloadKeyMismatchError
	if err := stale.checkPayloadKEK(h.ctx); !errors.As(err, &mm) || mm.Stored != next.ID() {
		t.Fatalf("old key at start: %v", err)
	}
	// The new key is now the one in use: rotating to it again is refused.
	if n, err := fresh.RotatePayloadKey(h.ctx, next); cairn.ErrorCode(err) != cairn.EInvalid || n != 0 {
		t.Fatalf("again: %d, %v", n, err)
	}
	var found bool
	h.raw().View(h.ctx, func(tx cairn.ReadTx) error {
		size, _ := tx.LedgerSize("default")
		es, err := tx.LedgerEntries("default", 0, int(size))
		for _, e := range es {
			found = found || bytes.Contains(e.Body, []byte(EventPayloadKeyRotated))
		}
		return err
	})
	if !found {
		t.Fatal("no payload_key_rotated event")
	}
}
