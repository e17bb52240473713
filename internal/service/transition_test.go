package service

import (
	"errors"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// TestTransition walks every pair of job states (and "", a job being
// submitted): the legal ones, and only those, move the job; an illegal one
// is an internal error and leaves the job as it was.
func TestTransition(t *testing.T) {
	const (
		pa, q, r   = cairn.StatePendingApproval, cairn.StateQueued, cairn.StateRunning
		ok, fl, dn = cairn.StateSucceeded, cairn.StateFailed, cairn.StateDenied
		ex, cn     = cairn.StateExpired, cairn.StateCancelled
	)
	legal := map[[2]string]bool{
		{"", q}: true, {"", pa}: true, {"", dn}: true,
		{pa, q}: true, {pa, dn}: true, {pa, ex}: true, {pa, cn}: true,
		{q, r}: true, {q, dn}: true, {q, pa}: true, {q, cn}: true,
		{r, ok}: true, {r, fl}: true, {r, q}: true, {r, cn}: true,
	}
	from := append([]string{""}, cairn.AllStates...)
	before := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := before.Add(time.Minute)
	for _, f := range from {
		for _, to := range append([]string{""}, cairn.AllStates...) {
			j := &cairn.Job{JobID: "j", State: f, UpdatedAt: before}
			err := transition(j, to, now)
			if !legal[[2]string{f, to}] {
				if !errors.Is(err, errIllegalTransition) || cairn.ErrorCode(err) != cairn.EInternal {
					t.Errorf("%q -> %q: err %v, want an internal illegal-transition error", f, to, err)
				}
				if j.State != f || !j.UpdatedAt.Equal(before) || j.CompletedAt != nil {
					t.Errorf("%q -> %q refused but applied: %+v", f, to, j)
				}
				continue
			}
			if err != nil {
				t.Errorf("%q -> %q: %v", f, to, err)
				continue
			}
			if j.State != to || !j.UpdatedAt.Equal(now) {
				t.Errorf("%q -> %q: state %q updated_at %v", f, to, j.State, j.UpdatedAt)
			}
			if final := j.CompletedAt != nil && j.CompletedAt.Equal(now); final != cairn.IsFinalState(to) {
				t.Errorf("%q -> %q: completed_at %v", f, to, j.CompletedAt)
			}
		}
	}
}
