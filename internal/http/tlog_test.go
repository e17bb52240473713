package http_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/apitest"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/ledger"
	"github.com/cairnhq/cairn/ledger/tree"
)

// tlogEnv is a server whose default tenant's ledger has n entries (and a
// checkpoint of them), with an auditor and an agent key.
func tlogEnv(t *testing.T, n int, access cairnhttp.TlogAccess) (*apitest.Env, uint64) {
	t.Helper()
	e := apitest.New(t, apitest.Options{AdminKey: "admin-key-tlog-0123456789", LedgerKey: true, Tlog: access})
	e.Key("auditor", "human", cairn.RoleAuditor)
	e.Key("agent", "agent", cairn.RoleAgent)
	ctx := context.Background()
	err := e.Store.Update(ctx, func(tx cairn.Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.AppendEvent(&cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Unix(1_780_000_000+int64(i), 0).UTC(), Actor: "t", JobID: cairn.Opt(fmt.Sprintf("j%d", i))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Svc.IssueCheckpoint(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	return e, c.Size
}

func tlogGet(t *testing.T, e *apitest.Env, key, path string, hdr ...string) (*nethttp.Response, []byte) {
	t.Helper()
	req, _ := nethttp.NewRequest("GET", e.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestTlogAccess(t *testing.T) {
	e, _ := tlogEnv(t, 10, cairnhttp.TlogAccess{})
	for _, c := range []struct {
		key, path string
		status    int
		code      string
	}{
		{e.Keys["auditor"], "/tlog/default/checkpoint", 200, ""},
		{e.Keys["admin"], "/tlog/default/checkpoint", 200, ""},
		{"", "/tlog/default/checkpoint", 401, "unauthorized"},
		{"wrong-key-0123456789", "/tlog/default/tile/0/000.p/10", 401, "unauthorized"},
		{e.Keys["agent"], "/tlog/default/checkpoint", 403, "forbidden"},
		{e.Keys["auditor"], "/tlog/other/checkpoint", 404, "not_found"},
		{e.Keys["auditor"], "/tlog/default/tile/entries/000.p/10", 200, ""},
	} {
		resp, b := tlogGet(t, e, c.key, c.path)
		if resp.StatusCode != c.status || (c.code != "" && !strings.Contains(string(b), `"code":"`+c.code+`"`)) {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, resp.StatusCode, b, c.status, c.code)
		}
	}
}

func TestTlogPublicAndHashesOnly(t *testing.T) {
	e, _ := tlogEnv(t, 10, cairnhttp.TlogAccess{Public: true, HashesOnly: true})
	resp, b := tlogGet(t, e, "", "/tlog/default/checkpoint")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "cairn.local/default\n") {
		t.Fatalf("public checkpoint: %d %s", resp.StatusCode, b)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") {
		t.Errorf("public checkpoint Cache-Control %q", cc)
	}
	if resp, _ := tlogGet(t, e, "", "/tlog/default/tile/0/000.p/10"); resp.StatusCode != 200 {
		t.Errorf("public hash tile: %d", resp.StatusCode)
	}
	if resp, b := tlogGet(t, e, "", "/tlog/default/tile/entries/000.p/10"); resp.StatusCode != 404 || !strings.Contains(string(b), "hash tiles only") {
		t.Errorf("entry bundle with hashes only: %d %s", resp.StatusCode, b)
	}
	if resp, _ := tlogGet(t, e, "", "/tlog/nosuchtenant/checkpoint"); resp.StatusCode != 404 {
		t.Errorf("public checkpoint of an unknown tenant: %d", resp.StatusCode)
	}
}

// TestTlogTiles checks tiles against the ledger: level-0 hashes are the
// leaf hashes, entry bundles the exact bodies, level-1 hashes the roots of
// 256-leaf subtrees; caching headers; canonical paths only.
func TestTlogTiles(t *testing.T) {
	e, size := tlogEnv(t, 600, cairnhttp.TlogAccess{})
	key := e.Keys["auditor"]
	var entries struct {
		Items []cairn.LedgerEntry `json:"items"`
	}
	e.MustDo("auditor", "GET", "/api/v1/ledger/entries?limit=1000", nil, 200, &entries)
	if uint64(len(entries.Items)) != size {
		t.Fatalf("%d entries, size %d", len(entries.Items), size)
	}
	// Full tile 0: hashes and bundle.
	resp, tile := tlogGet(t, e, key, "/tlog/default/tile/0/000")
	if resp.StatusCode != 200 || len(tile) != 256*32 {
		t.Fatalf("tile 0/000: %d, %d bytes", resp.StatusCode, len(tile))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "private, max-age=31536000, immutable" || resp.Header.Get("ETag") == "" {
		t.Errorf("full tile headers: Cache-Control %q ETag %q", cc, resp.Header.Get("ETag"))
	}
	_, bundle := tlogGet(t, e, key, "/tlog/default/tile/entries/000")
	bodies, err := tree.SplitBundle(bundle)
	if err != nil || len(bodies) != 256 {
		t.Fatalf("bundle: %v, %d entries", err, len(bodies))
	}
	for i, body := range bodies {
		want := entries.Items[i]
		if !bytes.Equal(body, want.Body) {
			t.Fatalf("bundle entry %d differs from the ledger body", i)
		}
		lh := ledger.LeafHash(body)
		if hex.EncodeToString(lh[:]) != want.LeafHash || !bytes.Equal(tile[32*i:32*i+32], lh[:]) {
			t.Fatalf("entry %d: leaf hash mismatch", i)
		}
	}
	// 304 for a matching ETag.
	if resp, _ := tlogGet(t, e, key, "/tlog/default/tile/0/000", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	// Partial tile of width size-512 at index 2, short cache.
	w := size - 512
	resp, part := tlogGet(t, e, key, fmt.Sprintf("/tlog/default/tile/0/002.p/%d", w))
	if resp.StatusCode != 200 || uint64(len(part)) != 32*w || resp.Header.Get("Cache-Control") != "private, max-age=60" {
		t.Fatalf("partial tile: %d %d bytes %q", resp.StatusCode, len(part), resp.Header.Get("Cache-Control"))
	}
	// Level 1, partial width 2: the roots of leaves [0,256) and [256,512).
	_, l1 := tlogGet(t, e, key, "/tlog/default/tile/1/000.p/2")
	r := tree.NewAppender()
	for i := 0; i < 256; i++ {
		var h [32]byte
		copy(h[:], tile[32*i:])
		r.Append(h)
	}
	root := r.Root()
	if len(l1) != 64 || !bytes.Equal(l1[:32], root[:]) {
		t.Fatalf("tile 1/000.p/2 does not start with the root of the first 256 leaves")
	}
	for _, p := range []string{
		"/tlog/default/tile/0/003", // not complete
		"/tlog/default/tile/0/002", // not complete (full)
		fmt.Sprintf("/tlog/default/tile/0/002.p/%d", w+1),
		"/tlog/default/tile/1/000",       // 65,536 leaves needed
		"/tlog/default/tile/0/0",         // not canonical
		"/tlog/default/tile/0/x000/000",  // not canonical
		"/tlog/default/tile/0/000.p/0",   // width 0
		"/tlog/default/tile/0/000.p/256", // width 256
		"/tlog/default/tile/64/000",      // level
		"/tlog/default/tile/entries/x",   // garbage
	} {
		if resp, b := tlogGet(t, e, key, p); resp.StatusCode != 404 || !json.Valid(b) {
			t.Errorf("GET %s: %d %s, want 404", p, resp.StatusCode, b)
		}
	}
}
