package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// Sources of a recorded store secret (cairn.StoreSecret.Source).
const (
	sourceFirstStart  = "first start"
	sourceCheckpoints = "checkpoints"
)

// SecretMismatchError is why a server refuses to start: a secret it was
// given differs from the one recorded in the store.
type SecretMismatchError struct {
	Name     string // cairn.SecretLedgerKey or cairn.SecretFindingsSalt
	Have     string // this server's value (public key or fingerprint)
	Recorded *cairn.StoreSecret
	Detail   string // for a store with no record: what did not match
}

func (e *SecretMismatchError) Error() string {
	what := "checkpoint signing key"
	flag := "--ledger-key"
	if e.Name == cairn.SecretFindingsSalt {
		what, flag = "findings salt", "--salt-file"
	}
	if e.Recorded == nil {
		return fmt.Sprintf("this server's %s (%s) does not match the store: %s; start it with the %s the store was used with", what, e.Have, e.Detail, flag)
	}
	return fmt.Sprintf("this server's %s is %s, but the store expects %s (%s); start every server on this store with the same %s",
		what, e.Have, e.Recorded.Value, recordedWhere(e.Recorded), flag)
}

func recordedWhere(r *cairn.StoreSecret) string {
	at := cairn.Timestamp(r.RecordedAt)
	if r.Source == sourceCheckpoints {
		return "recorded in the store on " + at + " from the checkpoints it held, which that key signed"
	}
	return "recorded in the store at first start on " + at
}

// ledgerKeyValue is how a signing key is recorded: its public half.
func ledgerKeyValue(k *tree.Key) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(k.PublicKey())
}

// saltFingerprint is how the findings salt is recorded: a MAC keyed by the
// salt of a fixed label, which tells two salts apart and reveals neither.
func saltFingerprint(salt []byte) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("cairn findings salt fingerprint v1"))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// CheckSecrets compares the checkpoint signing key and the findings salt
// this service was given with those recorded in the store, recording them
// when none are yet: the signing key at first start, or, for a store that
// already holds checkpoints, only if every tenant's latest checkpoint
// verifies with it. A mismatch is a *SecretMismatchError: the server must
// not start (issue 11 §2). Start calls it.
func (s *Service) CheckSecrets(ctx context.Context) error {
	return s.update(ctx, func(tx cairn.Tx) error {
		now := s.now()
		if s.ledgerKey != nil {
			have := ledgerKeyValue(s.ledgerKey)
			rec, err := tx.StoreSecret(cairn.SecretLedgerKey)
			if err != nil {
				return err
			}
			switch {
			case rec != nil && rec.Value != have:
				return &SecretMismatchError{Name: cairn.SecretLedgerKey, Have: have, Recorded: rec}
			case rec == nil:
				source, err := s.checkpointsSignedBy(tx, have)
				if err != nil {
					return err
				}
				if err := tx.RecordStoreSecret(&cairn.StoreSecret{Name: cairn.SecretLedgerKey, Value: have, Source: source, RecordedAt: now}); err != nil {
					return err
				}
			}
		}
		if len(s.Salt) > 0 {
			have := saltFingerprint(s.Salt)
			rec, err := tx.StoreSecret(cairn.SecretFindingsSalt)
			if err != nil {
				return err
			}
			switch {
			case rec != nil && rec.Value != have:
				return &SecretMismatchError{Name: cairn.SecretFindingsSalt, Have: have, Recorded: rec}
			case rec == nil:
				if err := tx.RecordStoreSecret(&cairn.StoreSecret{Name: cairn.SecretFindingsSalt, Value: have, Source: sourceFirstStart, RecordedAt: now}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// checkpointsSignedBy checks that the latest checkpoint of every tenant is
// signed by this service's key (have) and returns the source to record:
// sourceCheckpoints when there were some, sourceFirstStart otherwise.
func (s *Service) checkpointsSignedBy(tx cairn.ReadTx, have string) (string, error) {
	tenants, err := tx.Tenants()
	if err != nil {
		return "", err
	}
	source := sourceFirstStart
	for _, tenant := range tenants {
		c, err := tx.LatestCheckpoint(tenant)
		if err != nil {
			return "", err
		}
		if c == nil {
			continue
		}
		origin, err := s.origin(tenant)
		if err != nil {
			return "", err
		}
		vk, err := s.ledgerKey.VerifierKeyFor(origin)
		if err != nil {
			return "", err
		}
		v, err := tree.NewVerifier(vk)
		if err != nil {
			return "", err
		}
		if _, err := tree.OpenCheckpoint([]byte(c.Note), v); err != nil {
			return "", &SecretMismatchError{Name: cairn.SecretLedgerKey, Have: have,
				Detail: fmt.Sprintf("no signing key is recorded yet, and the latest checkpoint of tenant %q (size %d) is not signed by this key under origin %q", tenant, c.Size, origin)}
		}
		source = sourceCheckpoints
	}
	return source, nil
}
