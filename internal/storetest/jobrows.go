package storetest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cairnhq/cairn"
)

// testJobRowsReadBack (ADR 0047): a job's row keeps in its body only what
// its columns do not, and every read path (GetJob, ListJobs with and
// without filters, ListRunJobs, LeasableJobs, ExpiredLeases) returns jobs
// whose JSON is exactly what a read of the job's full JSON returned before:
// times in other zones and without a column, empty lists, constraints,
// leases, executors and updates included.
func testJobRowsReadBack(t *testing.T, s cairn.Store) {
	paris := time.FixedZone("Paris", 3600)
	lease := at(100)
	var jobs []*cairn.Job
	add := func(id string, f func(j *cairn.Job)) {
		j := job("default", id, cairn.StateQueued, len(jobs))
		j.RunID = "run-rows"
		f(j)
		jobs = append(jobs, j)
	}
	add("r-plain", func(j *cairn.Job) {})
	add("r-empty", func(j *cairn.Job) {
		j.RunID, j.PolicyRuleID, j.Labels, j.RiskTags, j.SubmitterRoles = "", "", map[string]string{}, nil, []string{}
	})
	add("r-zone", func(j *cairn.Job) { j.CreatedAt = j.CreatedAt.In(paris); j.UpdatedAt = j.CreatedAt.Add(time.Second) })
	add("r-ctx", func(j *cairn.Job) { j.ContextPtr = ""; j.Constraints = json.RawMessage(`{"max_rows":5}`) })
	add("r-exec", func(j *cairn.Job) { j.Executor = "worker-7"; j.WorkflowStepID = "step-1" })
	add("r-lease", func(j *cairn.Job) {
		j.State, j.LeaseID, j.LeaseOwner, j.LeaseExpiresAt, j.Attempts = cairn.StateRunning, "lease-1", "worker-1", &lease, 1
	})
	add("r-zlease", func(j *cairn.Job) {
		l := lease.In(paris)
		j.State, j.LeaseID, j.LeaseExpiresAt = cairn.StateRunning, "lease-2", &l
	})
	want := map[string][]byte{}
	update(t, s, func(tx cairn.Tx) error {
		if err := tx.CreateTenant("default", at(0)); err != nil {
			return err
		}
		for _, j := range jobs {
			if err := tx.InsertJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	// An update: a completed job, with a result and a verdict.
	done := jobs[0]
	fin := at(50)
	done.State, done.ResultPtr, done.ResultSHA256, done.CompletedAt, done.UpdatedAt = cairn.StateSucceeded, cairn.Opt(cairn.ResultPtr(done.JobID)), "ab", &fin, fin
	done.OutputSafety = &cairn.OutputSafety{Decision: "allow", Findings: []cairn.Finding{}}
	update(t, s, func(tx cairn.Tx) error { return tx.UpdateJob(done) })
	for _, j := range jobs {
		want[j.JobID] = readBefore(t, j)
	}
	check := func(path string, got []*cairn.Job, err error, n int) {
		t.Helper()
		if err != nil || len(got) != n {
			t.Fatalf("%s: %d jobs, %v; want %d", path, len(got), err, n)
		}
		for _, j := range got {
			b, _ := json.Marshal(j)
			if !bytes.Equal(b, want[j.JobID]) {
				t.Errorf("%s %s:\n got %s\nwant %s", path, j.JobID, b, want[j.JobID])
			}
			if j.Seq == 0 {
				t.Errorf("%s %s: no seq", path, j.JobID)
			}
		}
	}
	view(t, s, func(tx cairn.ReadTx) error {
		for _, j := range jobs {
			got, err := tx.GetJob("default", j.JobID)
			check("GetJob", []*cairn.Job{got}, err, 1)
		}
		all, err := tx.ListJobs("default", cairn.JobFilter{Page: cairn.Page{Limit: 50}})
		check("ListJobs", all, err, len(jobs))
		got, err := tx.ListJobs("default", cairn.JobFilter{State: cairn.StateRunning, Page: cairn.Page{Limit: 50}})
		check("ListJobs state", got, err, 2)
		got, err = tx.ListJobs("default", cairn.JobFilter{RunID: "run-rows", SubmittedBy: "agent-1", Page: cairn.Page{Limit: 50}})
		check("ListJobs run", got, err, len(jobs)-1)
		got, err = tx.ListRunJobs("default", "run-rows", 50)
		check("ListRunJobs", got, err, len(jobs)-1)
		got, err = tx.LeasableJobs("default", nil, 50)
		check("LeasableJobs", got, err, 3)
		got, err = tx.LeasableJobs("default", []string{"db.read"}, 50)
		check("LeasableJobs by action", got, err, 3)
		got, err = tx.ExpiredLeases(at(200), 50)
		check("ExpiredLeases", got, err, 2)
		return nil
	})
}

// readBefore is a job as a read returned it before ADR 0047, as the API
// writes it: decoded from its full JSON alone.
func readBefore(t *testing.T, j *cairn.Job) []byte {
	t.Helper()
	full, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back cairn.Job
	if err := json.Unmarshal(full, &back); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(&back)
	return out
}
