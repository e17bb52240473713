package service

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cairnhq/cairn"
)

// jobTransitions lists every legal change of a job's state: from a state
// (the key; "" is a job being submitted) to the states it may move to.
// Final states move nowhere.
var jobTransitions = map[string][]string{
	// Submit: the submit-phase decision.
	"": {cairn.StateQueued, cairn.StatePendingApproval, cairn.StateDenied},
	// Resolve (approved, rejected, expired) or the job's cancellation.
	cairn.StatePendingApproval: {cairn.StateQueued, cairn.StateDenied, cairn.StateExpired, cairn.StateCancelled},
	// Dispatch (leased, denied, or its approval asked for), or cancellation.
	cairn.StateQueued: {cairn.StateRunning, cairn.StateDenied, cairn.StatePendingApproval, cairn.StateCancelled},
	// Complete, the lease's expiry (back to the queue, or failed after
	// MaxAttempts), or cancellation.
	cairn.StateRunning: {cairn.StateSucceeded, cairn.StateFailed, cairn.StateQueued, cairn.StateCancelled},
}

// errIllegalTransition is the error of a job state change that
// jobTransitions does not allow: a bug, answered as an internal error.
var errIllegalTransition = errors.New("illegal job state transition")

// transition moves j to state to at now: its state and updated_at, and
// completed_at when to is final. It is the only place a job's state is
// set. A change jobTransitions does not list leaves j as it was and
// returns an error wrapping errIllegalTransition.
func transition(j *cairn.Job, to string, now time.Time) error {
	if !slices.Contains(jobTransitions[j.State], to) {
		return fmt.Errorf("%w: job %q from %q to %q", errIllegalTransition, j.JobID, j.State, to)
	}
	j.State = to
	j.UpdatedAt = now
	if cairn.IsFinalState(to) {
		at := now
		j.CompletedAt = &at
	}
	return nil
}
