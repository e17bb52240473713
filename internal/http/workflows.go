package http

import (
	nethttp "net/http"

	"github.com/cairnhq/cairn"
)

// MaxWorkflowBodyBytes bounds a registration body (the definition is at most 256 KiB).
const MaxWorkflowBodyBytes = 1 << 20

func (s *Server) registerWorkflow(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.RegisterWorkflowRequest
	if err := decode(w, r, MaxWorkflowBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	wf, created, err := s.svc.RegisterWorkflow(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, createdStatus(created), wf)
}

func createdStatus(created bool) int {
	if created {
		return 201
	}
	return 200
}

func (s *Server) listWorkflows(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "name")
	f := cairn.WorkflowFilter{Name: q.str("name"), Page: q.page("workflows")}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	wfs, err := s.svc.ListWorkflows(r.Context(), p, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "workflows", wfs, f.Limit, func(x *cairn.Workflow) int64 { return x.Seq })
}

func (s *Server) getWorkflow(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	wf, err := s.svc.GetWorkflow(r.Context(), p, pathID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, wf)
}

func (s *Server) startRun(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.StartRunRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	run, created, err := s.svc.StartRun(r.Context(), p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, createdStatus(created), run)
}

func (s *Server) listRuns(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	q := newQuery(r, "workflow_id", "status")
	f := cairn.RunFilter{
		WorkflowID: q.str("workflow_id"),
		Status: q.enum("status", []string{cairn.RunRunning, cairn.RunCompleted, cairn.RunWaitingApproval, cairn.RunSucceeded,
			cairn.RunFailed, cairn.RunCancelled, cairn.RunTimedOut}),
		Page: q.page("runs"),
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	runs, err := s.svc.ListRuns(r.Context(), p, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list(w, "runs", runs, f.Limit, func(x *cairn.Run) int64 { return x.Seq })
}

func (s *Server) cancelRun(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.CancelRunRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	run, err := s.svc.CancelRun(r.Context(), p, pathID(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, run)
}

func (s *Server) rerunRun(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
	var req cairn.RerunRequest
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	run, created, err := s.svc.RerunRun(r.Context(), p, pathID(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, createdStatus(created), run)
}

func (s *Server) voteGate(approve bool) func(nethttp.ResponseWriter, *nethttp.Request, cairn.Principal) {
	return func(w nethttp.ResponseWriter, r *nethttp.Request, p cairn.Principal) {
		var req cairn.GateVoteRequest
		if err := decode(w, r, MaxBodyBytes, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		run, err := s.svc.VoteGate(r.Context(), p, pathID(r), r.PathValue("step"), approve, req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, 200, run)
	}
}
