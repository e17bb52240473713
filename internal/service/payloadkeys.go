package service

import (
	"context"
	"fmt"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/payloadkey"
)

// EventPayloadKeyRotated records, in each tenant's ledger, that its data
// keys were re-wrapped under another key-encryption key.
const EventPayloadKeyRotated = cairn.EventPayloadKeyRotated

// legacyBatch is how many legacy payloads one transaction encrypts.
const legacyBatch = 256

// PayloadKeyMismatchError: the store's data keys are wrapped by another
// key-encryption key than the one this server was given.
type PayloadKeyMismatchError struct{ Stored, Given string }

func (e *PayloadKeyMismatchError) Error() string {
	return fmt.Sprintf("the store's data keys are wrapped by payload key %s, this server has payload key %s: start it with the payload key the store was created (or last rotated) with", e.Stored, e.Given)
}

// checkPayloadKEK refuses a KEK that did not wrap the store's data keys
// (it looks at the first one).
func (s *Service) checkPayloadKEK(ctx context.Context) error {
	kek := s.crypt.key()
	return s.Store.View(ctx, func(tx cairn.ReadTx) error {
		ks, err := tx.PayloadKeys("", "", 1)
		if err != nil || len(ks) == 0 || ks[0].KEKID == kek.ID() {
			return err
		}
		return &PayloadKeyMismatchError{Stored: ks[0].KEKID, Given: kek.ID()}
	})
}

// EncryptLegacyPayloads seals, in place, the payloads stored before
// encryption at rest (ADR 0048): each under its job's subject's data key,
// or the tenant's. Start runs it; it returns how many it sealed.
func (s *Service) EncryptLegacyPayloads(ctx context.Context) (int, error) {
	total := 0
	for conflicts := 0; ; {
		n, err := s.encryptLegacyBatch(ctx)
		if cairn.ErrorCode(err) == cairn.EConflict && conflicts < 100 {
			conflicts++ // another replica sealed some of them first: progress
			continue
		}
		if err != nil || n == 0 {
			return total, err
		}
		total += n
	}
}

func (s *Service) encryptLegacyBatch(ctx context.Context) (int, error) {
	n := 0
	err := s.Store.Update(ctx, func(tx cairn.Tx) error {
		raw := rawTx(tx)
		ps, err := raw.LegacyPayloads(legacyBatch)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if id := jobOfPtr(p.Ptr); id != "" {
				if j, err := raw.GetJob(p.Tenant, id); err == nil {
					p.Labels = j.Labels
				} else if !cairn.IsNotFound(err) {
					return err
				}
			}
			sealed, err := s.crypt.seal(tx, p)
			if err != nil {
				return err
			}
			if err := raw.EncryptLegacyPayload(sealed); err != nil {
				return err
			}
		}
		n = len(ps)
		return nil
	})
	return n, err
}

// RotatePayloadKey re-wraps every data key wrapped by the service's KEK (or
// already by next: a rotation that stopped half-way is run again) under
// next, and appends payload_key_rotated to each tenant's ledger. Payloads
// are not touched. Run it with the servers stopped; afterwards they start
// with next.
func (s *Service) RotatePayloadKey(ctx context.Context, next *payloadkey.KEK) (int, error) {
	old := s.crypt.key()
	if old.ID() == next.ID() {
		return 0, cairn.Invalid("new payload key", "is the payload key in use")
	}
	perTenant := map[string]int{}
	total := 0
	afterTenant, afterID := "", ""
	for {
		var page []*cairn.PayloadKey
		err := s.Store.Update(ctx, func(tx cairn.Tx) error {
			var err error
			if page, err = tx.PayloadKeys(afterTenant, afterID, 500); err != nil {
				return err
			}
			for _, k := range page {
				if err := rewrap(tx, k, old, next); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		for _, k := range page {
			perTenant[k.Tenant]++
		}
		total += len(page)
		if len(page) < 500 {
			break
		}
		afterTenant, afterID = page[len(page)-1].Tenant, page[len(page)-1].KeyID
	}
	err := s.Store.Update(ctx, func(tx cairn.Tx) error {
		for tenant, n := range perTenant {
			if err := tx.AppendEvent(&cairn.Event{Tenant: tenant, Type: EventPayloadKeyRotated, Timestamp: s.now(), Actor: "cairn",
				Data: map[string]any{"kek_before": old.ID(), "kek_after": next.ID(), "data_keys": n}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.SetPayloadKey(next)
	}
	return total, err
}

// rewrap re-wraps one data key under next (a no-op when next wraps it).
func rewrap(tx cairn.Tx, k *cairn.PayloadKey, old, next *payloadkey.KEK) error {
	if k.KEKID == next.ID() {
		return nil
	}
	if k.KEKID != old.ID() {
		return &PayloadKeyMismatchError{Stored: k.KEKID, Given: old.ID()}
	}
	dk, err := old.UnwrapRaw(k.Tenant, k.KeyID, k.Wrapped)
	if err != nil {
		return fmt.Errorf("data key %s of tenant %s: %w", k.KeyID, k.Tenant, err)
	}
	w, err := next.Wrap(k.Tenant, k.KeyID, dk)
	clear(dk)
	if err != nil {
		return err
	}
	return tx.RewrapPayloadKey(&cairn.PayloadKey{Tenant: k.Tenant, KeyID: k.KeyID, Wrapped: w, KEKID: next.ID()})
}

// startPayloadCrypt checks the KEK against the store and seals the
// payloads stored before encryption at rest.
func (s *Service) startPayloadCrypt(ctx context.Context) error {
	if err := s.checkPayloadKEK(ctx); err != nil {
		return err
	}
	n, err := s.EncryptLegacyPayloads(ctx)
	if n > 0 {
		s.Log.Info("sealed the payloads stored before encryption at rest", "payloads", n)
	}
	return err
}
