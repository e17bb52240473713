package service

import (
	"time"

	"github.com/cairnhq/cairn"
)

// The typed data of job events (cairn.*Data, package ledger's payload
// structs), built in one place each.

// submittedData is the data of the job_submitted event of j.
func submittedData(j *cairn.Job) *cairn.SubmittedData {
	return &cairn.SubmittedData{Job: hashProjection(j), Executor: j.Executor}
}

// dispatchedData is the data of the job_dispatched event of j leased by
// workerID (its own label) with p's key until exp.
func dispatchedData(j *cairn.Job, workerID string, p cairn.Principal, exp time.Time, decisionID string) *cairn.DispatchedData {
	return &cairn.DispatchedData{LeaseID: j.LeaseID, WorkerID: workerID, Principal: p.ID, KeyID: p.KeyID,
		LeaseExpiresAt: exp, DecisionID: decisionID, Attempts: j.Attempts}
}

// completedData is the data of the job_completed event of j.
func completedData(j *cairn.Job, req cairn.CompleteRequest, p cairn.Principal, blinding string) *cairn.CompletedData {
	return &cairn.CompletedData{Status: req.Status, ResultPtr: j.ResultPtr, ResultSHA256: j.ResultSHA256, LeaseID: req.LeaseID,
		Error: j.Error, WorkerID: string(j.LeaseOwner), Principal: p.ID, KeyID: p.KeyID, ErrorSafety: j.ErrorSafety, Blinding: blinding}
}

// outputCheckedData is the data of the output_checked event of j.
func outputCheckedData(j *cairn.Job, blinding string) *cairn.OutputCheckedData {
	return &cairn.OutputCheckedData{ResultPtr: j.ResultPtr, ResultSHA256: j.ResultSHA256, Blinding: blinding}
}

// keyCreatedData is the data of the key_created event of k.
func keyCreatedData(k *cairn.Key) *cairn.KeyCreatedData {
	return &cairn.KeyCreatedData{KeyID: k.KeyID, Principal: k.Principal, Kind: k.Kind, Roles: k.Roles}
}

// resolvedData is the data of the approval_resolved event of a.
func resolvedData(a *cairn.Approval, comment string) *cairn.ApprovalResolvedData {
	return &cairn.ApprovalResolvedData{ApprovalID: a.ApprovalID, Comment: comment, ResolverRoles: a.ResolverRoles}
}
