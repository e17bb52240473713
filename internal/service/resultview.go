package service

import (
	"bytes"
	"encoding/json"

	"github.com/cairnhq/cairn"
)

// A REDACTed result is served redacted, and a QUARANTINEd one not at all,
// to everyone but auditors and admins. Those readers must not get
// result_sha256 either: it is the plain SHA-256 of the original, and a
// redacted SSN or card number is found again from it by trying every
// candidate. So the views below drop it (null) for them: on the job, and
// in the job_completed and output_checked events served by the timeline
// and the decision record (ADR 0011).
//
// The ledger entries of such a result hold a random blinding value
// (data.blinding), served to the same readers only, so that the entries'
// leaf hashes cannot test a guess of the original either (issue 11 §3.6).

// BlindingMember is the data member of job_completed and output_checked
// entries that holds the blinding value of a REDACTed or QUARANTINEd result.
const BlindingMember = "blinding"

// resultBlinding is a fresh blinding value for the entries of a result
// with the given verdict: 32 random bytes in hex for one that is withheld
// from some readers, "" for one released as it is (or no result).
func resultBlinding(v *cairn.OutputSafety) string {
	if v == nil || v.Decision != cairn.OutputRedact && v.Decision != cairn.OutputQuarantine {
		return ""
	}
	return randomID("", 32)
}

// seesOriginalResult reports whether p may read originals (auditor, admin).
func seesOriginalResult(p cairn.Principal) bool { return p.Has(cairn.RoleAuditor) }

// resultHidden reports whether p is served j's result redacted or not at all.
func resultHidden(p cairn.Principal, j *cairn.Job) bool {
	if seesOriginalResult(p) || j.OutputSafety == nil {
		return false
	}
	d := j.OutputSafety.Decision
	return d == cairn.OutputRedact || d == cairn.OutputQuarantine
}

// jobView is j as p may see it.
func jobView(p cairn.Principal, j *cairn.Job) *cairn.Job {
	if j == nil || !resultHidden(p, j) || j.ResultSHA256 == "" {
		return j
	}
	c := *j
	c.ResultSHA256 = ""
	return &c
}

// jobsView applies jobView to each job, in place.
func jobsView(p cairn.Principal, js []*cairn.Job) {
	if seesOriginalResult(p) {
		return
	}
	for i, j := range js {
		js[i] = jobView(p, j)
	}
}

// resultEvent reports whether an event of this type carries result_sha256.
func resultEvent(typ string) bool {
	return typ == cairn.EventJobCompleted || typ == cairn.EventOutputChecked
}

var resultHashMember = []byte(`"result_sha256":"`)

// hasResultHash reports whether the data of an event not held as JSON
// carries result_sha256 (typed data always has the member).
func hasResultHash(e *cairn.Event) bool {
	switch data := e.Data.(type) {
	case *cairn.CompletedData, *cairn.OutputCheckedData:
		return true
	case map[string]any:
		return data["result_sha256"] != nil
	}
	return false
}

// hideResultHash makes data.result_sha256 null and drops data.blinding.
func hideResultHash(e *cairn.Event) {
	switch data := e.Data.(type) {
	case *cairn.CompletedData:
		data.ResultSHA256, data.Blinding = "", ""
	case *cairn.OutputCheckedData:
		data.ResultSHA256, data.Blinding = "", ""
	case map[string]any:
		data["result_sha256"] = nil
		delete(data, BlindingMember)
	}
}

// eventsView drops data.result_sha256 (and data.blinding) from the
// events, in place, where p may not see it. job is the events' job when they all belong to one (the
// decision record); otherwise each job is read from tx once.
func eventsView(tx cairn.ReadTx, p cairn.Principal, evs []*cairn.Event, job *cairn.Job) error {
	if seesOriginalResult(p) {
		return nil
	}
	hidden := map[string]bool{}
	isHidden := func(jobID string) (bool, error) {
		if h, ok := hidden[jobID]; ok {
			return h, nil
		}
		j := job
		if j == nil || j.JobID != jobID {
			var err error
			if j, err = tx.GetJob(p.Tenant, jobID); err != nil {
				return false, err
			}
		}
		hidden[jobID] = resultHidden(p, j)
		return hidden[jobID], nil
	}
	for _, e := range evs {
		if e.Raw == nil {
			if !resultEvent(e.Type) || e.JobID == "" || !hasResultHash(e) {
				continue
			}
			h, err := isHidden(string(e.JobID))
			if err != nil {
				return err
			}
			if h {
				hideResultHash(e)
			}
			continue
		}
		if !bytes.Contains(e.Raw, resultHashMember) {
			continue
		}
		if err := rawEventView(e, isHidden); err != nil {
			return err
		}
	}
	return nil
}

// rawEventView is eventsView for an event served as its stored API JSON.
func rawEventView(e *cairn.Event, isHidden func(string) (bool, error)) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(e.Raw, &top); err != nil {
		return err
	}
	var typ, jobID string
	if json.Unmarshal(top["type"], &typ) != nil || !resultEvent(typ) || json.Unmarshal(top["job_id"], &jobID) != nil || jobID == "" {
		return nil
	}
	h, err := isHidden(jobID)
	if err != nil || !h {
		return err
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(top["data"], &data); err != nil {
		return err
	}
	data["result_sha256"] = json.RawMessage("null")
	delete(data, BlindingMember)
	if top["data"], err = json.Marshal(data); err != nil {
		return err
	}
	raw, err := json.Marshal(top)
	if err != nil {
		return err
	}
	e.Raw = raw
	return nil
}
