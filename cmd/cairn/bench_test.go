package main

import (
	"encoding/json"
	"testing"
)

// TestBenchInput: the submit benchmarks send issue 14's load shape, inputs
// of about 260 bytes of JSON that differ from job to job.
func TestBenchInput(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{0, 1, 2, 977, 31999, 1000003*31 + 7} {
		in := benchInput(n)
		var v map[string]any
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatalf("benchInput(%d) is not JSON: %v: %s", n, err, in)
		}
		if len(in) < 240 || len(in) > 280 {
			t.Errorf("benchInput(%d) is %d bytes, want about 260: %s", n, len(in), in)
		}
		seen[in] = true
	}
	if len(seen) != 6 {
		t.Errorf("benchInput repeats itself: %d distinct inputs of 6", len(seen))
	}
}
