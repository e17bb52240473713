package service

import (
	"context"
	"strings"

	"github.com/cairnhq/cairn"
)

// integrityState is the last result of the ledger integrity check.
type integrityState struct{ err *cairn.Error }

// truncated returns a ledger_truncated error when the tenant's ledger
// (size entries) is shorter than its latest checkpoint cp, nil otherwise.
func truncated(tenant string, size uint64, cp *cairn.Checkpoint) error {
	if cp == nil || cp.Size <= size {
		return nil
	}
	return cairn.Errorf(cairn.CodeLedgerTruncated,
		"integrity failure: the ledger of tenant %q has %d entries but its latest checkpoint (signed %s) covers %d: entries were removed from the store; restore it from a backup",
		tenant, size, cairn.Timestamp(cp.CreatedAt), cp.Size)
}

// ledgerTruncated checks one tenant's ledger against its latest checkpoint.
func ledgerTruncated(tx cairn.ReadTx, tenant string) error {
	size, err := tx.LedgerSize(tenant)
	if err != nil {
		return err
	}
	cp, err := tx.LatestCheckpoint(tenant)
	if err != nil {
		return err
	}
	return truncated(tenant, size, cp)
}

// CheckIntegrity checks every tenant's ledger against its latest
// checkpoint and remembers the outcome for Integrity (and /readyz). A
// ledger shorter than its checkpoint is logged as an error when first seen.
// Start runs it; the checkpoint loop repeats it every CheckpointEvery.
func (s *Service) CheckIntegrity(ctx context.Context) error {
	var msgs []string
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		tenants, err := tx.Tenants()
		if err != nil {
			return err
		}
		for _, tenant := range tenants {
			if err := ledgerTruncated(tx, tenant); err != nil {
				if cairn.ErrorCode(err) != cairn.CodeLedgerTruncated {
					return err
				}
				msgs = append(msgs, err.(*cairn.Error).Message)
			}
		}
		return nil
	})
	if err != nil {
		return err // the store could not be read: readiness says so itself
	}
	var problem *cairn.Error
	if len(msgs) > 0 {
		problem = cairn.Errorf(cairn.CodeLedgerTruncated, "%s", strings.Join(msgs, "; "))
	}
	s.setIntegrity(problem)
	if problem == nil {
		return nil
	}
	return problem
}

func (s *Service) setIntegrity(problem *cairn.Error) {
	old := s.integrity.Swap(&integrityState{err: problem})
	if problem != nil && (old == nil || old.err == nil || old.err.Error() != problem.Error()) {
		s.Log.Error("ledger integrity failure", "err", problem.Error())
	}
	if problem == nil && old != nil && old.err != nil {
		s.Log.Info("ledger integrity restored")
	}
}

// Integrity is the last integrity problem found (nil when none): a
// *cairn.Error with code ledger_truncated naming each damaged tenant and
// both sizes.
func (s *Service) Integrity() error {
	st := s.integrity.Load()
	if st == nil || st.err == nil {
		return nil
	}
	return st.err
}
