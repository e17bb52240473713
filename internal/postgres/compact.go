package postgres

import (
	"context"
	"fmt"
)

// CompactErased implements cairn.Compactor. PostgreSQL keeps deleted rows
// as dead tuples until VACUUM, which this runs on the tables an erasure
// deletes from; VACUUM makes their space reusable but does not overwrite
// it at once, and the server's WAL (and its archive) keeps the earlier
// images. What is guaranteed on PostgreSQL is that an erased subject's
// data key is destroyed, so no leftover ciphertext of it can be opened
// (docs/data-protection.md).
func (s *Store) CompactErased(ctx context.Context) error {
	for _, table := range []string{"payloads", "payload_keys"} {
		if _, err := s.pool.Exec(ctx, "VACUUM "+table); err != nil {
			return fmt.Errorf("postgres: vacuum %s: %w", table, err)
		}
	}
	return nil
}
