package serve

import (
	"strings"
	"testing"
	"time"
)

// TestRetentionValidated: --retention below the 183-day floor is refused
// at start, naming the floor and its reason, unless
// --allow-retention-below-floor is given; a malformed one is refused.
func TestRetentionValidated(t *testing.T) {
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
		cfg := DefaultConfig()
		cfg.Retention, cfg.AllowRetentionBelowFloor = c.retention, c.allow
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("--retention %q (allow %v): %v", c.retention, c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("--retention %q (allow %v): %v, want an error saying %q", c.retention, c.allow, err, c.want)
		case c.want == "":
			if d, _ := cfg.retentionPeriod(); d != c.period {
				t.Errorf("--retention %q: period %s, want %s", c.retention, d, c.period)
			}
		}
	}
}
