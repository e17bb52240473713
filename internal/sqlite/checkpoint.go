package sqlite

import (
	"context"
	"strconv"
	"time"
)

// CheckpointEvery is how often the checkpointer copies committed WAL frames
// into the database file (PASSIVE: it never blocks the writer or readers).
const CheckpointEvery = 200 * time.Millisecond

// walRestartFrames is the WAL length (in frames, 4 KiB pages) past which
// the checkpointer also restarts the WAL. Under a steady stream of writes
// and reads some reader always holds a snapshot that ends inside the WAL,
// so PASSIVE checkpoints never copy all of it and SQLite never rewinds the
// log: measured, the WAL grew by ~60 MB/s without bound at 1,500 submits/s
// (bench submit, 32 clients) until the load stopped.
const walRestartFrames = 16384

// walSizeLimit is the journal_size_limit of every connection: the bytes a
// WAL file keeps when it is rewound, so that one burst does not hold its
// disk space forever.
const walSizeLimit = 64 << 20

// restartWait bounds how long a RESTART checkpoint waits for readers to
// leave the WAL. While it waits, writers wait too (SQLite holds the
// writer lock), so it gives up quickly and tries again at the next tick
// (a long export keeps its snapshot: the WAL grows while it runs).
const restartWait = 50 * time.Millisecond

func (s *Store) checkpointer() {
	defer close(s.cdone)
	t := time.NewTicker(CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.q.Quit():
			return
		case <-t.C:
			if frames := s.checkpoint("PASSIVE"); int64(frames) >= s.walRestartAt.Load() {
				s.restartWAL()
			}
		}
	}
}

// checkpoint runs one wal_checkpoint in mode and returns the WAL's length
// in frames (0 when the checkpoint could not run).
func (s *Store) checkpoint(mode string) int {
	var busy, frames, copied int
	if err := s.cdb.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return 0
	}
	if int64(frames) > s.stats.walMaxFrames.Load() {
		s.stats.walMaxFrames.Store(int64(frames))
	}
	return frames
}

// restartWAL copies the whole WAL into the database and makes the next
// write start the log again from its beginning, waiting at most
// restartWait for readers. It runs on a connection of its own whose busy
// timeout it sets and restores (CompactErased shares the pool and waits
// longer).
func (s *Store) restartWAL() {
	ctx := context.Background()
	c, err := s.cdb.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(restartWait.Milliseconds(), 10)); err != nil {
		return
	}
	var busy, frames, copied int
	c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	if busy == 0 {
		s.stats.walRestarts.Add(1)
	}
	c.ExecContext(ctx, "PRAGMA busy_timeout = 10000")
}
