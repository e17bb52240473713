package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// BinDir holds the PostgreSQL server programs Private runs.
var BinDir = "/usr/lib/postgresql/15/bin"

// Server is a throwaway PostgreSQL cluster of one test: its own data
// directory and port, so the test may restart or stop it without touching
// the shared server other tests use.
type Server struct {
	t    testing.TB
	dir  string
	port int
	run  []string // command prefix that runs a program as the cluster's owner
}

// Private initialises and starts a private PostgreSQL cluster on a free
// loopback port, stopped and removed when the test ends. Like Schema it
// runs only when CAIRN_TEST_POSTGRES is set; it skips the test when the
// server programs are not in BinDir. As root it runs them as the user
// postgres (the server refuses to run as root).
func Private(t testing.TB) *Server {
	t.Helper()
	if os.Getenv("CAIRN_TEST_POSTGRES") == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set")
	}
	for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, p)); err != nil {
			t.Skipf("a private PostgreSQL needs %s/%s: %v", BinDir, p, err)
		}
	}
	dir, err := os.MkdirTemp("", "cairn-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, dir: dir, port: freePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("a private PostgreSQL cannot run as root and there is no user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.run = []string{"runuser", "-u", "postgres", "--"}
	}
	s.pg("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	s.pg("pg_ctl", "start", "-w", "-D", s.data(), "-l", filepath.Join(dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=60", s.port, dir))
	t.Cleanup(func() { s.cmd("pg_ctl", "stop", "-m", "immediate", "-D", s.data()).Run() })
	return s
}

// URL is the cluster's postgres database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Restart stops the cluster with a fast shutdown (sessions are terminated,
// nothing committed is lost) and starts it again, waiting until it accepts
// connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.pg("pg_ctl", "restart", "-m", "fast", "-w", "-D", s.data(), "-l", filepath.Join(s.dir, "log"))
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) cmd(prog string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, s.run...), filepath.Join(BinDir, prog)), args...)
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = s.dir
	return c
}

func (s *Server) pg(prog string, args ...string) {
	s.t.Helper()
	if out, err := s.cmd(prog, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("%s %v: %v\n%s\n%s", prog, args, err, out, log)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
