package main

import (
	"strings"
	"testing"
	"time"
)

// TestRetentionFlags: --retention below the 183-day floor is refused at
// start, naming the floor and its reason, unless
// --allow-retention-below-floor is given; a malformed one is refused.
func TestRetentionFlags(t *testing.T) {
	defer func() { retentionFlags.retention, retentionFlags.allowBelowFloor, retentionFlags.period = "", false, 0 }()
	for _, c := range []struct {
		retention string
		allow     bool
		want      string        // in the error; "" for none
		period    time.Duration // when accepted
	}{
		{"", false, "", 0},
		{"400d", false, "", 400 * 24 * time.Hour},
		{"183d", false, "", 183 * 24 * time.Hour},
		{"182d", false, "below the floor of 183d", 0},
		{"100d", false, "AI Act", 0},
		{"100d", false, "--allow-retention-below-floor", 0},
		{"100d", true, "", 100 * 24 * time.Hour},
		{"1h", true, "", time.Hour},
		{"0d", false, "not a number of days", 0},
		{"-3d", false, "not a number of days", 0},
		{"soon", false, "neither", 0},
		{"-1h", true, "not positive", 0},
	} {
		retentionFlags.retention, retentionFlags.allowBelowFloor = c.retention, c.allow
		err := checkRetentionFlags()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("--retention %q (allow %v): %v", c.retention, c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("--retention %q (allow %v): %v, want an error saying %q", c.retention, c.allow, err, c.want)
		case c.want == "" && retentionFlags.period != c.period:
			t.Errorf("--retention %q: period %s, want %s", c.retention, retentionFlags.period, c.period)
		}
	}
}
