package service

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/scan"
	"github.com/cairnhq/cairn/ledger"
)

// Complete records a worker's result, checks it against the output rules
// and moves the job to its final state. Its phases: the request is checked
// (validComplete), the lease (leasedJob), the job takes its final state
// (finalState) and its result is stored and scanned (checkResult), the
// completion is recorded (recordCompletion) and the job's run told.
func (s *Service) Complete(ctx context.Context, p cairn.Principal, jobID string, req cairn.CompleteRequest) (*cairn.Job, error) {
	if err := validComplete(p, jobID, req); err != nil {
		return nil, err
	}
	var out *cairn.Job
	err := s.update(ctx, func(tx cairn.Tx) error {
		now := s.now()
		j, err := leasedJob(tx, p.Tenant, jobID, req.LeaseID, now)
		if err != nil {
			return err
		}
		var rules []cairn.OutputRule
		if len(req.Result) > 0 || req.Status == "failed" && req.Error != "" {
			if rules, err = s.outputRules(tx, j); err != nil {
				return err
			}
		}
		if err := s.finalState(j, req, rules, now); err != nil {
			return err
		}
		safety, err := s.checkResult(tx, j, req.Result, rules)
		if err != nil {
			return err
		}
		if err := s.recordCompletion(tx, p, j, req, safety, now); err != nil {
			return err
		}
		if err := s.runJobChanged(tx, j, now); err != nil {
			return err
		}
		out = j
		return nil
	})
	return out, err
}

// validComplete checks a complete request.
func validComplete(p cairn.Principal, jobID string, req cairn.CompleteRequest) error {
	if !p.Has(cairn.RoleWorker) {
		return cairn.Forbidden(cairn.EForbidden, "completing jobs needs the worker role")
	}
	if err := validID("job_id", jobID); err != nil {
		return err
	}
	if req.LeaseID == "" {
		return cairn.Invalid("lease_id", "is required")
	}
	if req.Status != "succeeded" && req.Status != "failed" {
		return cairn.Invalid("status", "must be succeeded or failed")
	}
	if len(req.Result) > MaxResultBytes {
		return cairn.Invalid("result", "is %d bytes; the maximum is %d", len(req.Result), MaxResultBytes)
	}
	if len(req.Result) > 0 && !json.Valid(req.Result) {
		return cairn.Invalid("result", "is not valid JSON")
	}
	return validText("error", req.Error, 4096)
}

// leasedJob reads a job that must be running under leaseID, unexpired at now.
func leasedJob(tx cairn.Tx, tenant, jobID, leaseID string, now time.Time) (*cairn.Job, error) {
	j, err := tx.GetJob(tenant, jobID)
	if err != nil {
		return nil, err
	}
	if j.State != cairn.StateRunning || string(j.LeaseID) != leaseID {
		return nil, cairn.Conflict(cairn.CodeLeaseInvalid, "job %q is not running under lease %q", jobID, truncate(leaseID, 64))
	}
	if j.LeaseExpiresAt != nil && now.After(*j.LeaseExpiresAt) {
		return nil, cairn.Conflict(cairn.CodeLeaseInvalid, "the lease on job %q expired at %s", jobID, cairn.Timestamp(*j.LeaseExpiresAt))
	}
	return j, nil
}

// finalState moves a completed job to SUCCEEDED or FAILED; a failure's
// error text is kept as the output rules allow (checkError).
func (s *Service) finalState(j *cairn.Job, req cairn.CompleteRequest, rules []cairn.OutputRule, now time.Time) error {
	to := cairn.StateSucceeded
	if req.Status == "failed" {
		to = cairn.StateFailed
		text, safety := s.checkError(j.Action, req.Error, rules)
		j.Error, j.ErrorSafety = cairn.Opt(text), safety
	}
	if err := transition(j, to, now); err != nil {
		return err
	}
	j.LeaseExpiresAt = nil
	return nil
}

// checkResult stores a job's result and checks it against the output
// rules, storing its redacted copy when they redact it. It returns the
// verdict (nil when there is no result).
func (s *Service) checkResult(tx cairn.Tx, j *cairn.Job, result []byte, rules []cairn.OutputRule) (*cairn.OutputSafety, error) {
	if len(result) == 0 {
		return nil, nil
	}
	j.ResultPtr = cairn.Opt(cairn.ResultPtr(j.JobID))
	j.ResultSHA256 = cairn.Opt(ledger.SHA256Hex(result))
	if err := tx.PutPayload(&cairn.Payload{Tenant: j.Tenant, Ptr: string(j.ResultPtr), SHA256: string(j.ResultSHA256), Data: result, Labels: j.Labels}); err != nil {
		return nil, err
	}
	verdict, redacted, err := scan.Check(j.Action, result, rules, s.Salt)
	if err != nil {
		return nil, cairn.Invalid("result", "cannot be scanned: %v", err)
	}
	if verdict.Findings == nil {
		verdict.Findings = []cairn.Finding{}
	}
	if verdict.Decision == cairn.OutputAllow && verdict.RuleID == "" {
		// Released: name the first output rule that checked it.
		for _, r := range rules {
			if len(r.Actions) == 0 || scan.Applies(r.Actions, j.Action) {
				verdict.RuleID = cairn.Opt(r.ID)
				break
			}
		}
	}
	if verdict.Decision == cairn.OutputRedact && redacted != nil {
		if err := tx.PutPayload(&cairn.Payload{Tenant: j.Tenant, Ptr: redactedPtr(j.JobID), SHA256: ledger.SHA256Hex(redacted), Data: redacted, Labels: j.Labels}); err != nil {
			return nil, err
		}
	}
	j.OutputSafety = &verdict
	return &verdict, nil
}

// recordCompletion stores the completed job and appends job_completed
// and, for a result, output_checked (both with the result's blinding value
// when its ledger entries need one).
func (s *Service) recordCompletion(tx cairn.Tx, p cairn.Principal, j *cairn.Job, req cairn.CompleteRequest, safety *cairn.OutputSafety, now time.Time) error {
	if err := tx.UpdateJob(j); err != nil {
		return err
	}
	worker := "worker:" + string(j.LeaseOwner)
	blinding := resultBlinding(safety)
	if err := s.appendJob(tx, j, cairn.EventJobCompleted, worker, now, func(e *cairn.Event) {
		e.State = j.State
		e.JobHash = j.JobHash
		e.Data = completedData(j, req, p, blinding)
	}); err != nil {
		return err
	}
	if safety == nil {
		return nil
	}
	return s.appendJob(tx, j, cairn.EventOutputChecked, "cairn", now, func(e *cairn.Event) {
		e.OutputSafety = safety
		e.Data = outputCheckedData(j, blinding)
	})
}

func redactedPtr(jobID string) string { return cairn.ResultPtr(jobID) + "#redacted" }

// checkError runs the output rules over a failed job's error text, as over
// a result, before anything stores it: the text that is kept is the error
// as is (ALLOW, or no finding), its redacted copy (REDACT) or a notice that
// it was withheld (QUARANTINE, or a scan that failed). Unlike a result, the
// original is not kept. safety is nil when nothing was found; otherwise its
// findings give offsets into the error written as a JSON string.
func (s *Service) checkError(action, text string, rules []cairn.OutputRule) (string, *cairn.OutputSafety) {
	if text == "" || len(rules) == 0 {
		return text, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(text); err != nil { // validText has checked it is UTF-8
		return errorWithheld(""), &cairn.OutputSafety{Decision: cairn.OutputQuarantine, Findings: []cairn.Finding{}}
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	verdict, redacted, err := scan.Check(action, raw, rules, s.Salt)
	if err != nil {
		return errorWithheld(""), &verdict // Check fails closed: QUARANTINE
	}
	if len(verdict.Findings) == 0 && verdict.Decision == cairn.OutputAllow {
		return text, nil
	}
	switch verdict.Decision {
	case cairn.OutputAllow:
		return text, &verdict
	case cairn.OutputRedact:
		var out string
		if redacted != nil && json.Unmarshal(redacted, &out) == nil {
			return out, &verdict
		}
	}
	return errorWithheld(string(verdict.RuleID)), &verdict
}

// errorWithheld is the error text kept in place of one that is withheld.
func errorWithheld(rule string) string {
	if rule == "" {
		return "[error withheld: it could not be checked against the output rules]"
	}
	return "[error withheld: output rule " + rule + " quarantines it]"
}

// outputRules are the output rules of the snapshot that governs j.
func (s *Service) outputRules(tx cairn.ReadTx, j *cairn.Job) ([]cairn.OutputRule, error) {
	id := string(j.PolicySnapshot)
	if id == "" {
		return nil, nil
	}
	if b, ok := s.bundles.Load(id); ok {
		return b.(interface{ OutputRules() []cairn.OutputRule }).OutputRules(), nil
	}
	snap, err := tx.GetSnapshot(id)
	if err != nil {
		return nil, err
	}
	b, err := s.bundle(snap)
	if err != nil {
		return nil, err
	}
	return b.OutputRules(), nil
}
