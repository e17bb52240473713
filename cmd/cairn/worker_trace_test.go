package main

import (
	"slices"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestJobEnvTraceparent: a job's command continues the job's trace from
// the lease answer, never from a trace context the worker inherited.
func TestJobEnvTraceparent(t *testing.T) {
	base := []string{"PATH=/bin", "TRACEPARENT=00-11111111111111111111111111111111-2222222222222222-01", "TRACESTATE=old=1"}
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	env := jobEnv(base, &cairn.LeasedJob{JobID: "j1", Traceparent: tp})
	if !slices.Contains(env, "TRACEPARENT="+tp) || slices.Contains(env, base[1]) || slices.Contains(env, base[2]) {
		t.Fatalf("env %v", env)
	}
	env = jobEnv(base, &cairn.LeasedJob{JobID: "j1"})
	for _, kv := range env {
		if kv == base[1] || kv == base[2] {
			t.Fatalf("an inherited trace context is passed on: %v", env)
		}
	}
}
