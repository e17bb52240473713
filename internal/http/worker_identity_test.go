package http_test

import (
	"encoding/json"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestWorkerEvidenceNamesTheKey: dispatch and completion evidence records
// the authenticated key (principal and key id) beside the worker_id the
// worker chose for itself (issue 11 §3.10).
func TestWorkerEvidenceNamesTheKey(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	var me cairn.Principal
	e.MustDo("worker-1", "GET", "/api/v1/whoami", nil, 200, &me)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-w", RunID: "run-w", Action: "db.read"})
	var lr cairn.LeaseResponse
	e.MustDo("worker-1", "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "trusted-worker", Actions: []string{"db.*"}}, 200, &lr)
	if len(lr.Jobs) != 1 {
		t.Fatalf("leased %d", len(lr.Jobs))
	}
	raw, _ := json.Marshal(map[string]int{"rows": 1})
	e.MustDo("worker-1", "POST", "/api/v1/jobs/j-w/complete", cairn.CompleteRequest{LeaseID: lr.Jobs[0].LeaseID, Status: "succeeded", Result: raw}, 200, nil)
	seen := 0
	for _, ev := range e.timeline("run-w") {
		if ev.Type != cairn.EventJobDispatched && ev.Type != cairn.EventJobCompleted {
			continue
		}
		seen++
		if ev.DataMap()["principal"] != "worker-1" || ev.DataMap()["key_id"] != me.KeyID || ev.DataMap()["worker_id"] != "trusted-worker" {
			t.Errorf("%s data %v: want principal worker-1, key_id %s, worker_id trusted-worker", ev.Type, ev.Data, me.KeyID)
		}
	}
	if seen != 2 {
		t.Fatalf("saw %d dispatch/complete events", seen)
	}
	e.verifyLedger()
}
