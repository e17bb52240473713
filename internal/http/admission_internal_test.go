package http

import (
	"testing"

	nethttp "net/http"

	"github.com/cairnhq/cairn"
)

// TestSlotsShares: a principal holds at most its share of a pool (429),
// the pool at most its bound (503); a release frees both.
func TestSlotsShares(t *testing.T) {
	s := &Server{}
	s.SetInflight(InflightLimits{Calls: 5, Polls: 8, PerPrincipal: 2})
	if s.calls.max != 5 || s.calls.share != 2 || s.polls.max != 8 || s.polls.share != 2 {
		t.Fatalf("calls %d/%d, polls %d/%d", s.calls.max, s.calls.share, s.polls.max, s.polls.share)
	}
	sl := s.calls
	p := func(id string) (string, cairn.Principal) {
		pr := cairn.Principal{Tenant: "t", ID: id}
		return principalKeyOf(pr), pr
	}
	take := func(id string) int {
		k, pr := p(id)
		if err := sl.take(k, pr); err != nil {
			st, _ := StatusOf(err.(*cairn.Error).Code)
			return st
		}
		return 200
	}
	for _, c := range []struct {
		id   string
		want int
	}{{"a", 200}, {"a", 200}, {"a", 429}, {"b", 200}, {"b", 200}, {"c", 200}, {"d", 503}, {"b", 429}} {
		if got := take(c.id); got != c.want {
			t.Fatalf("take(%s) = %d, want %d", c.id, got, c.want)
		}
	}
	k, _ := p("a")
	sl.release(k)
	if got := take("d"); got != 200 {
		t.Fatalf("take(d) after a release = %d", got)
	}
	if got := take("a"); got != 503 {
		t.Fatalf("take(a) with the pool full = %d", got)
	}
	// Defaults: a quarter of each bound, at least 1; polls as many as calls.
	s.SetMaxInflight(16)
	if s.calls.share != 4 || s.polls.max != 16 || s.polls.share != 4 {
		t.Fatalf("defaults: calls share %d, polls %d/%d", s.calls.share, s.polls.max, s.polls.share)
	}
	s.SetMaxInflight(2)
	if s.calls.share != 1 {
		t.Fatalf("share of 2: %d", s.calls.share)
	}
	s.SetMaxInflight(0)
	if s.calls != nil || s.polls != nil {
		t.Fatal("SetMaxInflight(0) left a bound")
	}
}

// TestClientAddr: IPv4 addresses are throttled one by one, IPv6 by /64.
func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1":       "192.0.2.7",
		"not-an-address":             "not-an-address",
	} {
		if got := clientAddr(&nethttp.Request{RemoteAddr: in}); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
