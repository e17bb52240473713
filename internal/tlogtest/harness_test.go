package tlogtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/pack"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/internal/sqlite"
	"github.com/cairnhq/cairn/internal/tlogwitness"
	"github.com/cairnhq/cairn/ledger/tree"
)

const adminKey = "tlogtest-admin-key-0123456789abcdef"

// logBuffer collects a server's log lines, for tests that check what it logged.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a Cairn server on the embedded store in dir, with the tlog
// routes and, if given witnesses, a pusher. It can be stopped and started
// again on the same data.
type server struct {
	t      testing.TB
	dir    string
	store  *sqlite.Store
	svc    *service.Service
	srv    *httptest.Server
	URL    string
	pusher *tlogwitness.Pusher
	api    *cairnhttp.Server
	Logs   *logBuffer
	once   sync.Once
	// actor names the actor of the entries grow appends.
	actor string
}

type serverOpts struct {
	access    cairnhttp.TlogAccess
	witnesses []*tlogwitness.Witness
	// interval is the pusher's (default: 20 ms, for quick tests).
	interval time.Duration
}

// logKey is the test ledger key: every server of a test signs with it.
func logKey(t testing.TB) *tree.Key {
	k, err := tree.NewKeyFromSeed("cairn", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func startServer(t testing.TB, dir string, o serverOpts) *server {
	t.Helper()
	store, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := service.New(store, log, []byte("salt"))
	svc.SetLedgerKey(logKey(t), "")
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, adminKey); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := cairnhttp.New(svc, log)
	api.SetTlogAccess(o.access)
	s := &server{t: t, dir: dir, store: store, svc: svc, api: api, Logs: logs}
	if len(o.witnesses) > 0 {
		iv := o.interval
		if iv == 0 {
			iv = 20 * time.Millisecond
		}
		s.pusher = tlogwitness.New(svc, log, o.witnesses, tlogwitness.Options{Interval: iv, MaxBackoff: 5 * iv})
		api.Registry().MustRegister(s.pusher.Collector())
		s.pusher.Start()
	}
	s.srv = httptest.NewServer(api)
	s.URL = s.srv.URL
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	s.once.Do(func() {
		if s.pusher != nil {
			s.pusher.Stop()
		}
		s.srv.Close()
		s.svc.Stop()
		s.store.Close()
	})
}

// grow appends n ledger entries (job_submitted events) and checkpoints the ledger.
func (s *server) grow(n int) uint64 {
	s.t.Helper()
	ctx := context.Background()
	var size uint64
	s.store.View(ctx, func(tx cairn.ReadTx) error { size, _ = tx.LedgerSize("default"); return nil })
	for done := 0; done < n; {
		batch := min(5000, n-done)
		err := s.store.Update(ctx, func(tx cairn.Tx) error {
			for i := 0; i < batch; i++ {
				k := size + uint64(done+i)
				ev := &cairn.Event{Tenant: "default", Type: cairn.EventJobSubmitted, Timestamp: time.Unix(1_780_000_000+int64(k), 0).UTC(), Actor: s.actorName(), JobID: cairn.Opt(fmt.Sprintf("job-%d", k))}
				if err := tx.AppendEvent(ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.t.Fatal(err)
		}
		done += batch
	}
	c, err := s.svc.IssueCheckpoint(ctx, "default")
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Size
}

func (s *server) actorName() string {
	if s.actor == "" {
		return "tlogtest"
	}
	return s.actor
}

// submit submits n jobs through the service (real evidence: decisions,
// job rows, ledger entries) and checkpoints the ledger.
func (s *server) submit(n int) uint64 {
	s.t.Helper()
	ctx := context.Background()
	agent := cairn.Principal{Tenant: "default", ID: "agent-1", Kind: "agent", Roles: []string{cairn.RoleAgent}}
	for i := 0; i < n; i++ {
		if _, _, err := s.svc.Submit(ctx, agent, cairn.SubmitRequest{Action: "db.read", Input: []byte(fmt.Sprintf(`{"q":%d}`, i))}, ""); err != nil {
			s.t.Fatal(err)
		}
	}
	c, err := s.svc.IssueCheckpoint(ctx, "default")
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Size
}

// do calls the API with the admin key and decodes a JSON answer into out.
func (s *server) do(method, path string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := nethttp.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// auditorKey creates a key with the auditor role only.
func (s *server) auditorKey() string {
	var out cairn.CreatedKey
	if st := s.do("POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "auditor", Kind: "human", Roles: []string{cairn.RoleAuditor}}, &out); st != 201 {
		s.t.Fatalf("create key: %d", st)
	}
	return out.Key
}

// origin and verifier key of the default tenant's log.
func (s *server) logKey() (origin, vkey string) {
	o, vk, err := s.svc.LedgerKey("default")
	if err != nil {
		s.t.Fatal(err)
	}
	return o, vk
}

// truncate deletes the ledger's entries from size on (with their tree
// nodes, checkpoints and cosignatures), directly in the database file of
// a stopped server, as an operator with file access could.
func truncate(t testing.TB, dir string, size uint64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, trg := range []string{"ledger_no_delete", "ledger_bodies_no_delete", "ledger_bodies_no_update", "ledger_nodes_no_delete", "checkpoints_no_delete", "cosignatures_no_delete"} {
		if _, err := db.Exec("DROP TRIGGER " + trg); err != nil {
			t.Fatal(err)
		}
	}
	cutBodyRow(t, db, size)
	for _, s := range []string{
		fmt.Sprintf(`DELETE FROM ledger WHERE idx >= %d`, size),
		fmt.Sprintf(`DELETE FROM ledger_bodies WHERE idx >= %d`, size),
		fmt.Sprintf(`DELETE FROM ledger_nodes WHERE ((idx + 1) << level) > %d`, size),
		fmt.Sprintf(`DELETE FROM checkpoints WHERE size > %d`, size),
		fmt.Sprintf(`DELETE FROM cosignatures WHERE size > %d`, size),
	} {
		res, err := db.Exec(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		n, _ := res.RowsAffected()
		t.Logf("%s: %d rows", s, n)
	}
}

// cutBodyRow shortens the ledger_bodies row that holds entries on both
// sides of size (a writer transaction's entries share one row, ADR 0045)
// to the entries below size.
func cutBodyRow(t testing.TB, db *sql.DB, size uint64) {
	t.Helper()
	var tenant string
	var first, n int64
	var stored []byte
	err := db.QueryRow(`SELECT tenant, idx, n, body FROM ledger_bodies WHERE idx < ? AND idx + n > ?`, size, size).Scan(&tenant, &first, &n, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := pack.UnpackBatch(stored, int(n))
	if err != nil {
		t.Fatal(err)
	}
	keep := bodies[:size-uint64(first)]
	cut, err := pack.PackBatch(keep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE ledger_bodies SET n = ?, body = ? WHERE tenant = ? AND idx = ?`, len(keep), cut, tenant, first); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds (no deadline of its own: the test's
// timeout is the bound).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cosigners returns the witnesses that cosigned the checkpoint of size (as
// GET /api/v1/ledger/checkpoints/{size} shows them).
func (s *server) cosigners(size uint64) []string {
	var c struct {
		Cosignatures []cairn.Cosignature `json:"cosignatures"`
	}
	if st := s.do("GET", fmt.Sprintf("/api/v1/ledger/checkpoints/%d", size), nil, &c); st != 200 {
		return nil
	}
	var out []string
	for _, cs := range c.Cosignatures {
		out = append(out, cs.Witness)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// metric returns the value of a metric line on /metrics ("" if absent).
func (s *server) metric(line string) string {
	resp, err := nethttp.Get(s.URL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, line+" "); ok {
			return rest
		}
	}
	return ""
}
