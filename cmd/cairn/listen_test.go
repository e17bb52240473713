package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
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
