package main

import (
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

func TestRateFlagsValidated(t *testing.T) {
	defer func() { serveFlags.rateLimit, serveFlags.rateBurst, serveFlags.inflight = 0, 0, 0 }()
	for _, c := range []struct{ limit, burst, inflight, want string }{
		{"abc", "", "", "not a number"},
		{"-1", "", "", "must be from 0"},
		{"NaN", "", "", "must be from 0"},
		{"2e6", "", "", "must be from 0"},
		{"5", "x", "", "not an integer"},
		{"5", "-3", "", "must be from 0"},
		{"5", "10", "x", "not an integer"},
		{"5", "10", "-1", "--max-inflight -1"},
		{"5", "10", "64", ""},
	} {
		serveFlags.rateLimit, serveFlags.rateBurst, serveFlags.inflight = 0, 0, 0
		t.Setenv("CAIRN_RATE_LIMIT", c.limit)
		t.Setenv("CAIRN_RATE_BURST", c.burst)
		t.Setenv("CAIRN_MAX_INFLIGHT", c.inflight)
		err := rateFlagsFromEnv(serveCmd)
		if c.want == "" {
			if err != nil || serveFlags.rateLimit != 5 || serveFlags.rateBurst != 10 || serveFlags.inflight != 64 {
				t.Errorf("%+v: %v, limit %g burst %d", c, err, serveFlags.rateLimit, serveFlags.rateBurst)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestAdmissionFlagsValidated(t *testing.T) {
	saved := serveFlags
	defer func() { serveFlags = saved }()
	for _, c := range []struct {
		set  func()
		want string
	}{
		{func() { serveFlags.polls = -1 }, "--max-polls -1"},
		{func() { serveFlags.share = -2 }, "--max-inflight-per-principal -2"},
		{func() { serveFlags.authFail = -1 }, "--auth-fail-limit -1"},
		{func() { serveFlags.authBurst = 0 }, "--auth-fail-burst 0"},
		{func() { serveFlags.bodyWait = 0 }, "--body-timeout 0s"},
		{func() { serveFlags.bodyWait = time.Hour }, "--body-timeout 1h0m0s"},
		{func() { serveFlags.polls, serveFlags.share, serveFlags.authFail = 100, 3, 0 }, ""},
	} {
		serveFlags = saved
		c.set()
		err := rateFlagsFromEnv(serveCmd)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}

func TestMaxExportsValidated(t *testing.T) {
	defer func() { serveFlags.exports = 0 }()
	for _, c := range []struct{ env, want string }{
		{"x", "not an integer"},
		{"-1", "--max-exports -1"},
		{"65", "--max-exports 65"},
		{"3", ""},
	} {
		serveFlags.exports = 0
		t.Setenv("CAIRN_MAX_EXPORTS", c.env)
		err := rateFlagsFromEnv(serveCmd)
		if c.want == "" {
			if err != nil || serveFlags.exports != 3 {
				t.Errorf("%+v: %v, exports %d", c, err, serveFlags.exports)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
