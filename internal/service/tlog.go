package service

import (
	"context"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// The tlog-tiles view of a tenant's ledger (https://c2sp.org/tlog-tiles):
// hash tiles are read from the persisted Merkle nodes and leaf hashes,
// entry bundles from the ledger table, the checkpoint is the latest signed
// one. Each resource is a pure function of durable, insert-only evidence,
// so every replica of a shared store serves the same bytes.

// TlogTile returns a hash tile or an entry bundle of the tenant's ledger.
// A tile that the ledger does not (yet) complete is a 404.
func (s *Service) TlogTile(ctx context.Context, tenant string, t tree.TileRef) ([]byte, error) {
	var out []byte
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		size, err := tx.LedgerSize(tenant)
		if err != nil {
			return err
		}
		if !tree.TileAvailable(t, size) {
			return cairn.NotFound("the ledger of tenant %q (%d entries) has no %s", tenant, size, t.Path())
		}
		if t.Entries {
			out, err = entryBundle(tx, tenant, t)
		} else {
			out, err = hashTile(tx, tenant, t)
		}
		return err
	})
	return out, err
}

// tileReader is implemented by stores (sqlite, postgres) that read one
// tile's nodes with a single range query instead of LedgerNodes' point
// lookups: leaf hashes for level 0, stored nodes above.
type tileReader interface {
	LedgerLeafHashes(tenant string, from uint64, n int) ([][32]byte, error)
	LedgerNodeRange(tenant string, level uint, from uint64, n int) ([][32]byte, error)
}

// hashTile reads the tile's nodes (all perfect subtrees: stored nodes, or
// leaf hashes at level 0) in one batch.
func hashTile(tx cairn.ReadTx, tenant string, t tree.TileRef) ([]byte, error) {
	n := t.Count()
	level, from := t.Level*tree.TileHeight, t.Index*tree.TileWidth
	var hs [][32]byte
	var err error
	switch tr, ok := tx.(tileReader); {
	case ok && level == 0:
		hs, err = tr.LedgerLeafHashes(tenant, from, n)
	case ok:
		hs, err = tr.LedgerNodeRange(tenant, level, from, n)
	default:
		ids := make([]cairn.NodeID, n)
		for i := range ids {
			ids[i] = cairn.NodeID{Level: level, Index: from + uint64(i)}
		}
		hs, err = tx.LedgerNodes(tenant, ids)
	}
	if err != nil {
		return nil, err
	}
	if len(hs) != n {
		return nil, cairn.Errorf(cairn.EInternal, "the tree of tenant %q returned %d hashes for %s", tenant, len(hs), t.Path())
	}
	out := make([]byte, 0, 32*n)
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out, nil
}

// bodyReader is implemented by stores (sqlite, postgres) that read entry
// bodies alone, without the other columns LedgerEntries returns.
type bodyReader interface {
	LedgerBodies(tenant string, from uint64, n int, fn func(index uint64, body []byte) error) error
}

// entryBundle reads the tile's ledger entries; each carries the entry's
// exact body, whose RFC 6962 leaf hash is the ledger's leaf hash.
func entryBundle(tx cairn.ReadTx, tenant string, t tree.TileRef) ([]byte, error) {
	n := t.Count()
	from := t.Index * tree.TileWidth
	if br, ok := tx.(bodyReader); ok {
		out := make([]byte, 0, 600*n)
		next := from
		err := br.LedgerBodies(tenant, from, n, func(index uint64, body []byte) error {
			if index != next {
				return cairn.Errorf(cairn.EInternal, "the ledger of tenant %q has entry %d where %d belongs", tenant, index, next)
			}
			next++
			if len(body) == 0 {
				return prunedTile(index)
			}
			var err error
			if out, err = tree.AppendBundleEntry(out, body); err != nil {
				return cairn.Errorf(cairn.EInternal, "ledger entry %d: %v", index, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if next != from+uint64(n) {
			return nil, cairn.Errorf(cairn.EInternal, "the ledger of tenant %q returned %d entries from %d, want %d", tenant, next-from, from, n)
		}
		return out, nil
	}
	es, err := tx.LedgerEntries(tenant, from, n)
	if err != nil {
		return nil, err
	}
	if len(es) != n {
		return nil, cairn.Errorf(cairn.EInternal, "the ledger of tenant %q returned %d entries from %d, want %d", tenant, len(es), from, n)
	}
	out := make([]byte, 0, 600*n)
	for i, e := range es {
		if e.Index != from+uint64(i) {
			return nil, cairn.Errorf(cairn.EInternal, "the ledger of tenant %q has entry %d where %d belongs", tenant, e.Index, from+uint64(i))
		}
		if e.Pruned {
			return nil, prunedTile(e.Index)
		}
		if out, err = tree.AppendBundleEntry(out, e.Body); err != nil {
			return nil, cairn.Errorf(cairn.EInternal, "ledger entry %d: %v", e.Index, err)
		}
	}
	return out, nil
}

// TlogCheckpoint returns the latest stored checkpoint of the tenant's
// ledger as a signed note with every stored cosignature merged in. It
// never signs one on the spot: replicas then agree on it, and the tiles
// it commits to are all served.
func (s *Service) TlogCheckpoint(ctx context.Context, tenant string) ([]byte, error) {
	c, err := s.LatestCheckpoint(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if c == nil {
		// A tenant whose ledger was never checkpointed: sign one now.
		if c, err = s.IssueCheckpoint(ctx, tenant); err != nil {
			return nil, err
		}
	}
	return NoteWithCosignatures(c), nil
}

// LatestCheckpoint returns the tenant's latest stored checkpoint with its
// cosignatures (nil when none is stored).
func (s *Service) LatestCheckpoint(ctx context.Context, tenant string) (*cairn.Checkpoint, error) {
	var c *cairn.Checkpoint
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		c, err = tx.LatestCheckpoint(tenant)
		return err
	})
	return c, err
}

// NoteWithCosignatures returns the checkpoint's note with the signature
// lines of its cosignatures merged in (the log's note alone if they do not
// merge).
func NoteWithCosignatures(c *cairn.Checkpoint) []byte {
	notes := make([][]byte, len(c.Cosignatures))
	for i, cs := range c.Cosignatures {
		notes[i] = []byte(cs.Note)
	}
	merged, err := tree.MergeSignatures([]byte(c.Note), notes...)
	if err != nil {
		return []byte(c.Note)
	}
	return merged
}

// Tenants lists the tenants of the store.
func (s *Service) Tenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.Tenants()
		return err
	})
	return out, err
}

// TenantExists reports whether the tenant exists.
func (s *Service) TenantExists(ctx context.Context, tenant string) (bool, error) {
	var ok bool
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		ok, err = tx.TenantExists(tenant)
		return err
	})
	return ok, err
}

// prunedTile refuses an entry bundle holding an entry whose body a
// retention compaction removed: a tile's bytes never change, so it is no
// longer served (its hash tiles still are).
func prunedTile(index uint64) error {
	return cairn.Errorf(cairn.CodePrunedByRetention, "ledger entry %d was pruned by retention; the entry bundle that holds it is no longer served", index)
}
