package tree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// C2SP tlog-tiles (https://c2sp.org/tlog-tiles) publishes a Merkle log as
// static resources: a hash tile at level L and index N holds the hashes of
// the tree nodes at Merkle level 8·L with indexes [256·N, 256·N+W), 32
// bytes each, concatenated; an entry bundle N holds the entries
// [256·N, 256·N+W), each as a big-endian uint16 length followed by its
// bytes. W is 256 for a full tile and 1…255 for a partial one. Every hash in
// a tile is a perfect subtree, i.e. a persisted node (see Node): tiles are a
// view of the node table, not new state.

// TileWidth is the number of hashes in a full tile (entries in a full bundle).
const TileWidth = 256

// TileHeight is the number of Merkle levels one tile level spans.
const TileHeight = 8

// MaxBundleEntry is the largest entry an entry bundle can carry (its length
// prefix is a uint16).
const MaxBundleEntry = 1<<16 - 1

// TileRef names one tlog-tiles resource below "tile/".
type TileRef struct {
	// Entries is true for an entry bundle ("tile/entries/…"); Level is then 0.
	Entries bool
	// Level is the tile level L (Merkle level 8·L).
	Level uint
	// Index is the tile index N.
	Index uint64
	// Width is W for a partial tile, 0 for a full one.
	Width int
}

// Partial reports whether the tile is a partial one.
func (t TileRef) Partial() bool { return t.Width != 0 }

// Count returns the number of hashes (entries) the tile holds.
func (t TileRef) Count() int {
	if t.Width == 0 {
		return TileWidth
	}
	return t.Width
}

// Path returns the tile's path relative to the log's root ("tile/0/x001/234.p/5").
func (t TileRef) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries {
		b.WriteString("entries/")
	} else {
		b.WriteString(strconv.FormatUint(uint64(t.Level), 10))
		b.WriteByte('/')
	}
	b.WriteString(tileIndexPath(t.Index))
	if t.Width != 0 {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.Width))
	}
	return b.String()
}

// tileIndexPath encodes N as zero-padded groups of three digits, every
// group but the last prefixed with "x" (1234067 → "x001/x234/067").
func tileIndexPath(n uint64) string {
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append(groups, fmt.Sprintf("x%03d", n%1000))
	}
	for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
		groups[i], groups[j] = groups[j], groups[i]
	}
	return strings.Join(groups, "/")
}

// ErrTilePath means a path is not a canonical tlog-tiles tile path.
var ErrTilePath = errors.New("not a tlog-tiles tile path")

// ParseTilePath parses the part of a tile path after "tile/" ("0/x001/234",
// "entries/005.p/17"). Only the canonical spelling is accepted, so that
// each resource has exactly one name (and one cache entry).
func ParseTilePath(p string) (TileRef, error) {
	bad := func(why string) (TileRef, error) {
		return TileRef{}, fmt.Errorf("ledger: %w: %s", ErrTilePath, why)
	}
	if len(p) > 128 {
		return bad("too long")
	}
	segs := strings.Split(p, "/")
	if len(segs) < 2 {
		return bad("want <L>/<N> or entries/<N>")
	}
	var t TileRef
	var why string
	if t.Entries, t.Level, why = parseTileLevel(segs[0]); why != "" {
		return bad(why)
	}
	if segs, t.Width, why = parseTileWidth(segs[1:]); why != "" {
		return bad(why)
	}
	if t.Index, why = parseTileIndex(segs); why != "" {
		return bad(why)
	}
	if t.Path() != "tile/"+p {
		return bad("not canonical")
	}
	return t, nil
}

// parseTileLevel parses the first segment of a tile path: "entries" or a
// level from 0 to 63; why says what is wrong.
func parseTileLevel(seg string) (entries bool, level uint, why string) {
	if seg == "entries" {
		return true, 0, ""
	}
	l, err := strconv.ParseUint(seg, 10, 8)
	if err != nil || strconv.FormatUint(l, 10) != seg || l > 63 {
		return false, 0, "level must be 0 to 63"
	}
	return false, uint(l), ""
}

// parseTileWidth strips the ".p/<W>" of a partial tile from the index
// segments and returns its width (0 for a full tile).
func parseTileWidth(segs []string) ([]string, int, string) {
	n := len(segs)
	if n < 2 || !strings.HasSuffix(segs[n-2], ".p") {
		return segs, 0, ""
	}
	w, err := strconv.Atoi(segs[n-1])
	if err != nil || strconv.Itoa(w) != segs[n-1] || w < 1 || w >= TileWidth {
		return nil, 0, "partial width must be 1 to 255"
	}
	segs[n-2] = strings.TrimSuffix(segs[n-2], ".p")
	return segs[:n-1], w, ""
}

// parseTileIndex parses the index groups of a tile path: "x" and three
// digits but the last, which is three digits.
func parseTileIndex(segs []string) (uint64, string) {
	if len(segs) > 7 {
		return 0, "index too long"
	}
	var idx uint64
	for i, s := range segs {
		if i < len(segs)-1 {
			if !strings.HasPrefix(s, "x") {
				return 0, "index groups but the last start with x"
			}
			s = s[1:]
		}
		if len(s) != 3 || strings.Trim(s, "0123456789") != "" {
			return 0, "index groups are three digits"
		}
		g, _ := strconv.ParseUint(s, 10, 64)
		if idx > (1<<63)/1000 {
			return 0, "index too large"
		}
		idx = idx*1000 + g
	}
	return idx, ""
}

// TileAvailable reports whether the tile exists in a tree of the given
// size: every node (entry) it holds is complete.
func TileAvailable(t TileRef, size uint64) bool {
	level := t.Level * TileHeight
	if level >= 64 {
		return false
	}
	complete := size >> level // complete nodes at that Merkle level
	start := t.Index * TileWidth
	if start/TileWidth != t.Index { // overflow
		return false
	}
	return start < complete && uint64(t.Count()) <= complete-start
}

// AppendBundleEntry appends one entry to an entry bundle: a big-endian
// uint16 length, then the bytes.
func AppendBundleEntry(bundle, entry []byte) ([]byte, error) {
	if len(entry) > MaxBundleEntry {
		return nil, fmt.Errorf("ledger: entry of %d bytes does not fit an entry bundle (max %d)", len(entry), MaxBundleEntry)
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...), nil
}

// SplitBundle returns the entries of an entry bundle (for tests and tools).
func SplitBundle(bundle []byte) ([][]byte, error) {
	var out [][]byte
	for len(bundle) > 0 {
		if len(bundle) < 2 {
			return nil, errors.New("ledger: entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+n {
			return nil, errors.New("ledger: entry bundle: truncated entry")
		}
		out = append(out, bundle[2:2+n])
		bundle = bundle[2+n:]
	}
	return out, nil
}
