package serve

import (
	"math"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestListenFD(t *testing.T) {
	for _, fd := range []int{1, 2} {
		if _, err := listen("", fd); err == nil || !strings.Contains(err.Error(), "standard stream") {
			t.Errorf("--listen-fd %d: %v", fd, err)
		}
	}
	if _, err := listen("", 987); err == nil {
		t.Error("--listen-fd of a closed descriptor was accepted")
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	f, err := held.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd())) // listen takes ownership of the descriptor
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listen("ignored:1", fd)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != held.Addr().String() {
		t.Fatalf("listening on %s, the inherited socket is %s", ln.Addr(), held.Addr())
	}
	go func() {
		if c, err := net.Dial("tcp", held.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestValidateNamesTheFlag: every bound Validate checks is rejected with a
// message naming the flag and the value; the defaults pass.
func TestValidateNamesTheFlag(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.RateLimit = -1 }, "--rate-limit -1: must be from 0"},
		{func(c *Config) { c.RateLimit = 2e6 }, "--rate-limit 2e+06: must be from 0"},
		{func(c *Config) { c.RateLimit = math.NaN() }, "--rate-limit NaN: must be from 0"},
		{func(c *Config) { c.AuthFailLimit = math.Inf(1) }, "--auth-fail-limit +Inf: must be from 0"},
		{func(c *Config) { c.RateBurst = -3 }, "--rate-burst -3: must be from 0"},
		{func(c *Config) { c.MaxInflight = -1 }, "--max-inflight -1"},
		{func(c *Config) { c.MaxInflight = 1e7 + 1 }, "--max-inflight 10000001"},
		{func(c *Config) { c.MaxPolls = -1 }, "--max-polls -1"},
		{func(c *Config) { c.PerPrincipal = -2 }, "--max-inflight-per-principal -2"},
		{func(c *Config) { c.AuthFailLimit = -1 }, "--auth-fail-limit -1"},
		{func(c *Config) { c.AuthFailBurst = 0 }, "--auth-fail-burst 0"},
		{func(c *Config) { c.BodyTimeout = 0 }, "--body-timeout 0s"},
		{func(c *Config) { c.BodyTimeout = time.Hour }, "--body-timeout 1h0m0s"},
		{func(c *Config) { c.MaxExports = -1 }, "--max-exports -1"},
		{func(c *Config) { c.MaxExports = 65 }, "--max-exports 65"},
		{func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		{func(c *Config) { c.Tlog.Witnesses = []string{"http://w.example"} }, `--witness "http://w.example"`},
		{func(c *Config) { c.MaxPolls, c.PerPrincipal, c.AuthFailLimit, c.MaxExports = 100, 3, 0, 64 }, ""},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}
