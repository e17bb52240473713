package tree

import (
	"bytes"
	"testing"
)

func TestTilePaths(t *testing.T) {
	for _, c := range []struct {
		path string
		want TileRef
	}{
		{"0/000", TileRef{}},
		{"0/x001/234", TileRef{Index: 1234}},
		{"2/x001/x234/067.p/8", TileRef{Level: 2, Index: 1234067, Width: 8}},
		{"entries/005", TileRef{Entries: true, Index: 5}},
		{"entries/x999/999.p/255", TileRef{Entries: true, Index: 999999, Width: 255}},
		{"63/000", TileRef{Level: 63}},
	} {
		got, err := ParseTilePath(c.path)
		if err != nil || got != c.want {
			t.Errorf("ParseTilePath(%q) = %+v, %v; want %+v", c.path, got, err, c.want)
			continue
		}
		if got.Path() != "tile/"+c.path {
			t.Errorf("Path() = %q, want tile/%s", got.Path(), c.path)
		}
	}
	for _, bad := range []string{"", "0", "0/", "0/0", "0/0000", "0/x000/001", "0/001/002", "00/000", "64/000", "-1/000",
		"0/000.p/0", "0/000.p/256", "0/000.p/01", "0/000.p/", "entries", "entries/abc", "x/000", "0/000.p", "0/x001/x002/x003/x004/x005/x006/x007/008"} {
		if r, err := ParseTilePath(bad); err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, want an error", bad, r)
		}
	}
}

func TestTileAvailable(t *testing.T) {
	for _, c := range []struct {
		t    TileRef
		size uint64
		want bool
	}{
		{TileRef{}, 255, false},
		{TileRef{}, 256, true},
		{TileRef{Width: 255}, 255, true},
		{TileRef{Width: 100}, 1000, true}, // a narrower partial stays valid
		{TileRef{Index: 1, Width: 3}, 258, false},
		{TileRef{Index: 1, Width: 3}, 259, true},
		{TileRef{Level: 1}, 65535, false},
		{TileRef{Level: 1}, 65536, true},
		{TileRef{Level: 1, Width: 1}, 256, true},
		{TileRef{Level: 1, Width: 2}, 511, false},
		{TileRef{Entries: true, Width: 7}, 7, true},
		{TileRef{Index: 1 << 60}, 1 << 62, false},
		{TileRef{Level: 8}, ^uint64(0), false},
	} {
		if got := TileAvailable(c.t, c.size); got != c.want {
			t.Errorf("TileAvailable(%+v, %d) = %v, want %v", c.t, c.size, got, c.want)
		}
	}
}

func TestBundleEntries(t *testing.T) {
	var b []byte
	var err error
	for _, e := range [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{1}, 300)} {
		if b, err = AppendBundleEntry(b, e); err != nil {
			t.Fatal(err)
		}
	}
	es, err := SplitBundle(b)
	if err != nil || len(es) != 3 || string(es[0]) != "a" || len(es[1]) != 0 || len(es[2]) != 300 || b[0] != 0 || b[1] != 1 {
		t.Fatalf("round trip: %v %d", err, len(es))
	}
	if _, err := AppendBundleEntry(nil, make([]byte, MaxBundleEntry+1)); err == nil {
		t.Fatal("an entry over 65,535 bytes was bundled")
	}
	if _, err := SplitBundle([]byte{0, 5, 1}); err == nil {
		t.Fatal("a truncated bundle split")
	}
}
