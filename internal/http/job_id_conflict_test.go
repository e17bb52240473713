package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestJobIDConflictRevealsNothing: a job_id taken by a job the caller cannot
// read answers a 409 that tells nothing of that job, the submitter's own
// replays stay idempotent, and the ids of workflow step jobs cannot be
// claimed ahead of the engine (issue 11 §3.10).
func TestJobIDConflictRevealsNothing(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	mine := e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-secret", Action: "db.read", Input: json.RawMessage(`{"q":1}`)})
	// The submitter's replay: 200, the same job.
	var again cairn.Job
	e.MustDo("agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-secret", Action: "db.read", Input: json.RawMessage(`{"q":1}`)}, 200, &again)
	if again.JobHash != mine.JobHash {
		t.Fatal("replay answered another job")
	}
	// The submitter, another payload: the conflict may say why.
	_, raw := e.Do("agent-1", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-secret", Action: "db.read"})
	if !strings.Contains(string(raw), "different job_hash") {
		t.Fatalf("own conflict: %s", raw)
	}
	// Another agent: 409, and nothing about the job it cannot read.
	status, raw := e.Do("agent-2", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j-secret", Action: "db.read", Input: json.RawMessage(`{"q":1}`)})
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(raw, &eb)
	if status != 409 || eb.Error.Code != cairn.CodeJobConflict {
		t.Fatalf("other agent: %d %s", status, raw)
	}
	if want := `job_id "j-secret" is not available: choose another job_id, or omit it to have one generated`; eb.Error.Message != want {
		t.Fatalf("other agent's conflict says %q; want %q", eb.Error.Message, want)
	}
	e.ErrCode("agent-2", "GET", "/api/v1/jobs/j-secret", nil, 404, cairn.ENotFound)

	// The ids of a workflow run's step jobs are the engine's.
	w := e.register(linearWorkflow)
	e.startRun("agent-1", "run-p", w.WorkflowID, map[string]any{"order": "o-1"})
	for _, id := range []string{"run-p.lookup.2", "run-p.transfer.1", "run-p.notify.compensate", "wfj_" + strings.Repeat("ab", 20)} {
		e.ErrCode("agent-2", "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: id, Action: "tool.lookup"}, 409, cairn.CodeJobConflict)
	}
	// Ids that only look alike are anyone's.
	e.Submit("agent-2", cairn.SubmitRequest{JobID: "run-p.lookup", Action: "tool.lookup"})
	e.Submit("agent-2", cairn.SubmitRequest{JobID: "run-p.lookup.2a", Action: "tool.lookup"})

	// An id claimed before its run exists makes that run id unusable, at
	// once, instead of wedging the run when the engine reaches the step.
	e.Submit("agent-2", cairn.SubmitRequest{JobID: "run-q.notify.1", Action: "tool.notify"})
	raw2, _ := json.Marshal(map[string]any{"order": "o-2"})
	e.ErrCode("agent-1", "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: "run-q", Input: raw2}, 409, cairn.CodeRunConflict)
	e.startRun("agent-1", "run-q2", w.WorkflowID, map[string]any{"order": "o-2"})
	e.work(succeed(map[string]any{"amount": 5}), "tool.lookup")
	e.work(succeed("ok"), "payments.transfer")
	e.work(succeed("sent"), "tool.notify")
	e.WaitRun("run-q2", cairn.RunSucceeded)
}
