package http

import (
	"strconv"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// TestPrincipalLimitsStayBounded: the limiter map never grows past its
// bound; idle principals go first, then a tenth of the active ones.
func TestPrincipalLimitsStayBounded(t *testing.T) {
	s := &Server{}
	s.SetRateLimit(1, 1)
	l := s.limits
	start := time.Unix(1_000_000, 0)
	p := func(i int) string { return principalKeyOf(cairn.Principal{Tenant: "t", ID: "p" + strconv.Itoa(i)}) }
	for i := 0; i < maxTrackedKeys; i++ {
		if ok, _ := l.allow(p(i), start); !ok {
			t.Fatalf("first request of principal %d refused", i)
		}
	}
	// Principal 0 is over its limit (burst 1, nothing refilled yet).
	if ok, wait := l.allow(p(0), start); ok || wait <= 0 || wait > time.Second {
		t.Fatalf("second request at once: %v, wait %v", ok, wait)
	}
	// A minute later everyone is idle: a newcomer sweeps them all.
	later := start.Add(2 * time.Minute)
	l.allow(p(-1), later)
	if n := len(l.m); n != 1 {
		t.Fatalf("after the idle sweep %d principals are tracked", n)
	}
	// Full of active principals: a newcomer makes room by forgetting some.
	for i := 0; i < maxTrackedKeys; i++ {
		l.allow(p(i), later)
	}
	if n := len(l.m); n > maxTrackedKeys {
		t.Fatalf("%d principals tracked, bound %d", n, maxTrackedKeys)
	}
	l.allow(p(-2), later)
	if n := len(l.m); n > maxTrackedKeys*9/10+1 {
		t.Fatalf("after the forced sweep %d principals are tracked", n)
	}
}
