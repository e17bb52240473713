package sqlite

import (
	"context"
	"fmt"
	"time"
)

// CompactErased implements cairn.Compactor. With secure_delete on (every
// connection), SQLite overwrites the content of deleted rows and freed
// pages with zeros; but the WAL still holds the earlier images of those
// pages until it is checkpointed and truncated. CompactErased checkpoints
// the whole WAL into the database and truncates it to zero bytes, retrying
// while readers hold older snapshots (each try waits up to busy_timeout).
func (s *Store) CompactErased(ctx context.Context) error {
	var err error
	for try := 0; try < 5; try++ {
		var busy, logFrames, done int
		err = s.cdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
		if err == nil && busy == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("sqlite: the WAL checkpoint was blocked (%d of %d frames copied)", done, logFrames)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}
