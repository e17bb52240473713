package service

import (
	"strings"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/workflow"
)

// A job_id is unique in its tenant, so an id one principal holds is an id
// another cannot have. The answers below tell a principal that an id is not
// available and nothing else about a job it cannot read; and the ids the
// workflow engine will give a run's step jobs cannot be taken ahead of it
// (docs/adr/0017-job-id-namespaces.md).

// jobIDUnavailable is the conflict answered for a job_id held by a job the
// caller cannot read: the same words whoever holds it and whatever it is.
func jobIDUnavailable(id string) error {
	return cairn.Conflict(cairn.CodeJobConflict, "job_id %q is not available: choose another job_id, or omit it to have one generated", truncate(id, 128))
}

// hashedStepJobPrefix starts a step job id that would be longer than
// MaxIDBytes (attemptJobID); clients cannot submit ids of that form.
const hashedStepJobPrefix = "wfj_"

// isHashedStepJobID reports whether id has the form wfj_<40 lowercase hex>.
func isHashedStepJobID(id string) bool {
	rest, ok := strings.CutPrefix(id, hashedStepJobPrefix)
	if !ok || len(rest) != 40 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// stepJobRun returns the run whose step job id would be id, when id has the
// form the engine gives step jobs: <run_id>.<step_id>.<attempt> or
// <run_id>.<step_id>.compensate (step ids have no '.').
func stepJobRun(id string) (string, bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", false
	}
	if suffix := id[i+1:]; suffix != "compensate" && !isAttempt(suffix) {
		return "", false
	}
	j := strings.LastIndexByte(id[:i], '.')
	if j <= 0 || !workflow.ValidStepID(id[j+1:i]) {
		return "", false
	}
	return id[:j], true
}

// isAttempt reports whether s is an attempt number as the engine writes it.
func isAttempt(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// reservedJobID reports whether a client may not submit id because it is,
// or could become, the id of a workflow run's step job.
func reservedJobID(tx cairn.ReadTx, tenant, id string) (bool, error) {
	if isHashedStepJobID(id) {
		return true, nil
	}
	run, ok := stepJobRun(id)
	if !ok {
		return false, nil
	}
	r, err := tx.GetRun(tenant, run)
	if cairn.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return r.IsWorkflow(), nil
}

// runIDTaken reports whether a job already holds an id the engine would
// give one of run runID's step jobs (a job submitted before the run
// existed): such a run could not create that job, so it is not started.
func runIDTaken(tx cairn.ReadTx, tenant, runID string) (bool, error) {
	prefix := runID + "."
	for from := prefix; ; {
		ids, err := tx.JobIDsFrom(tenant, from, 1000)
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			if !strings.HasPrefix(id, prefix) {
				return false, nil
			}
			if run, ok := stepJobRun(id); ok && run == runID {
				return true, nil
			}
		}
		if len(ids) < 1000 {
			return false, nil
		}
		from = ids[len(ids)-1] + "\x00"
	}
}
