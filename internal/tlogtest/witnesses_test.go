package tlogtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn/internal/tlogwitness"
	"github.com/cairnhq/cairn/ledger/tree"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/witness/omniwitness"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"
)

// witnessKey is a witness's Ed25519 key (fixed per name, for the test).
func witnessKey(t testing.TB, name string, seed byte) *tree.Key {
	k, err := tree.NewKeyFromSeed(name, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cosigV1Key returns the witness's cosignature/v1 verifier key.
func cosigV1Key(t testing.TB, k *tree.Key) string {
	vk, err := k.CosignatureV1VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	return vk
}

func parseWitness(t testing.TB, url, vkey string) *tlogwitness.Witness {
	w, err := tlogwitness.ParseWitness(url + "=" + vkey)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// omni is an omniwitness running in the test process (its library entry
// point, omniwitness.Main), with Cairn's default tenant in its log config.
type omni struct {
	addr   string
	p      omniwitness.Persistence
	cancel context.CancelFunc
	done   chan error
}

func startOmni(t testing.TB, addr string, p omniwitness.Persistence, origin, logVKey string, k *tree.Key) *omni {
	t.Helper()
	signer, err := k.CosignatureV1Signer()
	if err != nil {
		t.Fatal(err)
	}
	v, err := fnote.NewVerifierForCosignatureV1(cosigV1Key(t, k))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := omniwitness.NewStaticLogConfig([]byte(fmt.Sprintf("Logs:\n  - Origin: %s\n    PublicKey: %s\n", origin, logVKey)))
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &omni{addr: ln.Addr().String(), p: p, cancel: cancel, done: make(chan error, 1)}
	go func() {
		o.done <- omniwitness.Main(ctx, omniwitness.OperatorConfig{WitnessKeys: []note.Signer{signer}, WitnessVerifier: v, Logs: logs}, p, ln, nethttp.DefaultClient)
	}()
	t.Cleanup(o.stop)
	return o
}

func (o *omni) URL() string { return "http://" + o.addr }

func (o *omni) stop() {
	if o.cancel == nil {
		return
	}
	o.cancel()
	<-o.done
	o.cancel = nil
}

// torchwoodBin returns the directory holding litewitness and witnessctl
// (CAIRN_TORCHWOOD_BIN), skipping the test without it unless
// CAIRN_REQUIRE_TLOG_TOOLS=1.
func torchwoodBin(t *testing.T) string {
	dir := os.Getenv("CAIRN_TORCHWOOD_BIN")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "litewitness")); err == nil {
			return dir
		}
	}
	if os.Getenv("CAIRN_REQUIRE_TLOG_TOOLS") == "1" {
		t.Fatalf("CAIRN_TORCHWOOD_BIN=%q holds no litewitness (build: GOBIN=dir go install filippo.io/torchwood/cmd/litewitness@v0.6.1 filippo.io/torchwood/cmd/witnessctl@v0.6.1)", dir)
	}
	t.Skip("CAIRN_TORCHWOOD_BIN is not set: litewitness tests skipped")
	return ""
}

// lite is a litewitness process (filippo.io/torchwood v0.6.1) whose key is
// served by an ssh-agent in the test process.
type lite struct {
	t    *testing.T
	bin  string
	dir  string
	name string
	fp   string
	sock string
	addr string
	cmd  *exec.Cmd
	out  *logBuffer
}

func newLite(t *testing.T, name string, k *tree.Key, seed byte, origin, logVKey string) *lite {
	t.Helper()
	bin := torchwoodBin(t)
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), k.PublicKey()) {
		t.Fatal("witness key and ssh key differ")
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	l := &lite{t: t, bin: bin, dir: dir, name: name, fp: ssh.FingerprintSHA256(pub), sock: sock, addr: freeAddr(t)}
	db := filepath.Join(dir, "litewitness.db")
	for _, args := range [][]string{
		{"add-log", "-db", db, "-origin", origin},
		{"add-key", "-db", db, "-origin", origin, "-key", logVKey},
	} {
		out, err := exec.Command(filepath.Join(bin, "witnessctl"), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("witnessctl %s: %v\n%s", args[0], err, out)
		}
	}
	return l
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (l *lite) URL() string { return "http://" + l.addr }

func (l *lite) start() {
	l.t.Helper()
	l.out = &logBuffer{}
	l.cmd = exec.Command(filepath.Join(l.bin, "litewitness"), "-db", filepath.Join(l.dir, "litewitness.db"), "-name", l.name, "-key", l.fp, "-ssh-agent", l.sock, "-listen", l.addr)
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(l.stop)
	eventually(l.t, "litewitness listening", func() bool {
		c, err := net.Dial("tcp", l.addr)
		if err == nil {
			c.Close()
			return true
		}
		return false
	})
}

func (l *lite) stop() {
	if l.cmd == nil {
		return
	}
	l.cmd.Process.Signal(syscall.SIGINT)
	l.cmd.Wait()
	l.cmd = nil
}

// copyDB copies the witness's database files from one name to another
// (with the witness stopped): a backup, or its restore.
func (l *lite) copyDB(from, to string) {
	for _, sfx := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(l.dir, from+sfx))
		if errors.Is(err, os.ErrNotExist) {
			os.Remove(filepath.Join(l.dir, to+sfx))
			continue
		}
		if err != nil {
			l.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l.dir, to+sfx), b, 0o600); err != nil {
			l.t.Fatal(err)
		}
	}
}

// waitCosigned waits until every named witness cosigned the checkpoint of size.
func waitCosigned(t *testing.T, s *server, size uint64, names ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("cosignatures by %v of size %d", names, size), func() bool {
		cs := s.cosigners(size)
		for _, n := range names {
			if !contains(cs, n) {
				return false
			}
		}
		return true
	})
}

// checkpointNote is GET /api/v1/ledger/checkpoint?format=note: the latest
// checkpoint with every cosignature.
func (s *server) checkpointNote() []byte {
	req, _ := nethttp.NewRequest("GET", s.URL+"/api/v1/ledger/checkpoint?format=note", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

var buildOnce sync.Once
var cairnBin string
var buildErr error

// cairnBinary builds the cairn command from the repository (once).
func cairnBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-bin")
		if err != nil {
			buildErr = err
			return
		}
		cairnBin = filepath.Join(dir, "cairn")
		cmd := exec.Command("go", "build", "-o", cairnBin, "./cmd/cairn")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/cairn: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return cairnBin
}
