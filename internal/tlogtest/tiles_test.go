package tlogtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"golang.org/x/mod/sumdb/note"
)

// leafHasher is tessera fsck's own bundle hasher (cmd/fsck): RFC 6962 leaf
// hashes of the entries of a C2SP entry bundle.
func leafHasher(bundle []byte) ([][]byte, error) {
	eb := &api.EntryBundle{}
	if err := eb.UnmarshalText(bundle); err != nil {
		return nil, fmt.Errorf("unmarshal: %v", err)
	}
	out := make([][]byte, 0, len(eb.Entries))
	for _, e := range eb.Entries {
		out = append(out, rfc6962.DefaultHasher.HashLeaf(e))
	}
	return out, nil
}

func fetcher(t *testing.T, base, key string) *client.HTTPFetcher {
	t.Helper()
	u, err := url.Parse(base + "/tlog/default/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		f.SetAuthorizationHeader("Bearer " + key)
	}
	return f
}

// runFsck runs tessera's fsck (the library behind its fsck command) on
// the log at base and returns its verdict.
func runFsck(t *testing.T, s *server, base, key string) error {
	origin, vk := s.logKey()
	v, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	return fsck.New(origin, v, fetcher(t, base, key), leafHasher, fsck.Opts{N: 4}).Check(context.Background())
}

// TestFsckVerifiesTiles: tessera's fsck re-derives every tile and the
// checkpoint's root from the entry bundles of a Cairn log, at sizes that
// end inside a bundle, inside a level-1 tile and past a full level-1 tile
// (65,536 entries), so full and partial tiles of levels 0–2 are checked.
func TestFsckVerifiesTiles(t *testing.T) {
	s := startServer(t, t.TempDir(), serverOpts{})
	key := s.auditorKey()
	for _, n := range []int{10_007, 256*256 - 10_007 + 1_000} {
		size := s.grow(n)
		if err := runFsck(t, s, s.URL, key); err != nil {
			t.Fatalf("fsck of the log at size %d: %v", size, err)
		}
		t.Logf("tessera fsck verified the log at size %d", size)
	}
}

// TestFsckDetectsAChangedEntry: the same fsck fails when one entry of one
// bundle is changed on the way (a proxy flips a byte), so its passing
// above means something.
func TestFsckDetectsAChangedEntry(t *testing.T) {
	s := startServer(t, t.TempDir(), serverOpts{})
	s.grow(1000)
	proxy := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		req, _ := nethttp.NewRequest(r.Method, s.URL+r.URL.Path, nil)
		req.Header = r.Header.Clone()
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.HasSuffix(r.URL.Path, "/tile/entries/002") {
			b = bytes.Replace(b, []byte(`job-600`), []byte(`job-6OO`), 1)
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(b)
	}))
	defer proxy.Close()
	err := runFsck(t, s, proxy.URL, adminKey)
	if err == nil {
		t.Fatal("fsck accepted a log whose entry 600 was changed")
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	t.Logf("fsck refused the changed log: %s", msg)
}

// TestClientProofsEqualCairnProofs: tessera's client proof builder, fed
// from the tiles, gives the inclusion and consistency proofs Cairn's own
// proof endpoints give.
func TestClientProofsEqualCairnProofs(t *testing.T) {
	s := startServer(t, t.TempDir(), serverOpts{access: cairnhttp.TlogAccess{Public: true}})
	small := s.grow(3_001)
	size := s.grow(70_000)
	ctx := context.Background()
	f := fetcher(t, s.URL, "")
	origin, vk := s.logKey()
	v, _ := note.NewVerifier(vk)
	cp, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, v, origin)
	if err != nil {
		t.Fatalf("tessera client refused the checkpoint: %v", err)
	}
	if cp.Size != size || cp.Origin != origin {
		t.Fatalf("checkpoint %q size %d, want %q %d", cp.Origin, cp.Size, origin, size)
	}
	pb, err := client.NewProofBuilder(ctx, size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{0, 1, 255, 256, 3_000, 65_535, 65_536, 69_999, size - 1} {
		got, err := pb.InclusionProof(ctx, idx)
		if err != nil {
			t.Fatalf("inclusion proof of %d: %v", idx, err)
		}
		var want service.Proof
		if st := s.do("GET", fmt.Sprintf("/api/v1/ledger/proof/inclusion?index=%d&size=%d", idx, size), nil, &want); st != 200 {
			t.Fatalf("cairn inclusion proof: %d", st)
		}
		if !equalHex(got, want.Hashes) {
			t.Fatalf("inclusion proof of %d differs:\ntessera %x\ncairn   %v", idx, got, want.Hashes)
		}
		leaf, _ := hex.DecodeString(want.LeafHash)
		var lh, root [32]byte
		copy(lh[:], leaf)
		copy(root[:], cp.Hash)
		if err := tree.VerifyInclusion(idx, size, lh, got, root); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []uint64{1, 255, 256, small, 65_536, size - 1} {
		got, err := pb.ConsistencyProof(ctx, from, size)
		if err != nil {
			t.Fatalf("consistency proof %d→%d: %v", from, size, err)
		}
		var want service.Consistency
		if st := s.do("GET", fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", from, size), nil, &want); st != 200 {
			t.Fatalf("cairn consistency proof: %d", st)
		}
		if !equalHex(got, want.Hashes) {
			t.Fatalf("consistency proof %d→%d differs", from, size)
		}
	}
	t.Logf("tessera's client proofs equal Cairn's at size %d", size)
}

func equalHex(got [][]byte, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if hex.EncodeToString(got[i]) != want[i] {
			return false
		}
	}
	return true
}
