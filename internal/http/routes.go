package http

import (
	nethttp "net/http"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/verify"
)

// route is one operation of the API. The table below is the only place
// routes are registered, and what the OpenAPI document openapi.json is
// generated from (openapi_routes.go, ADR 0052): its paths, security, path
// parameters, request and answer schemas (from req and resp) and error
// answers. Adding a route: add it here, add its prose under paths in
// openapi.overlay.yaml, run `go generate ./internal/http/`.
type route struct {
	method, path string
	// handle serves a route that needs a key; public one that does not.
	handle func(nethttp.ResponseWriter, *nethttp.Request, cairn.Principal)
	public nethttp.Handler
	// keyOptional: a public handler that checks a key itself unless the
	// server lets a caller in without one (--public-tlog; /metrics from
	// loopback).
	keyOptional bool
	req         any // the JSON request body's Go type (nil: no body)
	resp        any // the JSON success answer's Go type (nil: not a fixed JSON object)
}

func (s *Server) table() []route {
	return []route{
		{method: "GET", path: "/healthz", public: nethttp.HandlerFunc(s.healthz)},
		{method: "GET", path: "/readyz", public: nethttp.HandlerFunc(s.readyz)},
		{method: "GET", path: "/metrics", public: s.metrics(), keyOptional: true}, // ADR 0037
		{method: "GET", path: "/api/v1/openapi.json", handle: s.openapi},
		{method: "GET", path: "/api/v1/whoami", handle: s.whoami, resp: cairn.Principal{}},

		{method: "POST", path: "/api/v1/jobs", handle: s.submit, req: cairn.SubmitRequest{}, resp: cairn.SubmitResponse{}},
		{method: "GET", path: "/api/v1/jobs", handle: s.listJobs, resp: cairn.List[*cairn.Job]{}},
		{method: "GET", path: "/api/v1/jobs/{id}", handle: s.getJob, resp: cairn.Job{}},
		{method: "GET", path: "/api/v1/jobs/{id}/decisions", handle: s.decisions, resp: cairn.List[*cairn.Decision]{}},
		{method: "GET", path: "/api/v1/jobs/{id}/evidence", handle: s.evidence, resp: cairn.DecisionRecord{}},
		{method: "GET", path: "/api/v1/jobs/{id}/context", handle: s.payload(false)},
		{method: "GET", path: "/api/v1/jobs/{id}/result", handle: s.payload(true)},
		{method: "POST", path: "/api/v1/jobs/{id}/complete", handle: s.complete, req: cairn.CompleteRequest{}, resp: cairn.Job{}},
		{method: "POST", path: "/api/v1/jobs/{id}/cancel", handle: s.cancelJob, req: cairn.CancelRequest{}, resp: cairn.Job{}},

		{method: "GET", path: "/api/v1/approvals", handle: s.listApprovals, resp: cairn.List[*cairn.Approval]{}},
		{method: "POST", path: "/api/v1/approvals/{id}/approve", handle: s.resolve(true), req: cairn.ResolveRequest{}, resp: cairn.Approval{}},
		{method: "POST", path: "/api/v1/approvals/{id}/reject", handle: s.resolve(false), req: cairn.ResolveRequest{}, resp: cairn.Approval{}},

		{method: "POST", path: "/api/v1/workers/lease", handle: s.lease, req: cairn.LeaseRequest{}, resp: cairn.LeaseResponse{}},

		{method: "POST", path: "/api/v1/workflows", handle: s.registerWorkflow, req: cairn.RegisterWorkflowRequest{}, resp: cairn.Workflow{}},
		{method: "GET", path: "/api/v1/workflows", handle: s.listWorkflows, resp: cairn.List[*cairn.Workflow]{}},
		{method: "GET", path: "/api/v1/workflows/{id}", handle: s.getWorkflow, resp: cairn.Workflow{}},
		{method: "POST", path: "/api/v1/workflow-runs", handle: s.startRun, req: cairn.StartRunRequest{}, resp: cairn.Run{}},
		{method: "GET", path: "/api/v1/workflow-runs", handle: s.listRuns, resp: cairn.List[*cairn.Run]{}},
		{method: "GET", path: "/api/v1/workflow-runs/{id}", handle: s.getRun, resp: cairn.Run{}},
		{method: "GET", path: "/api/v1/workflow-runs/{id}/timeline", handle: s.timeline, resp: cairn.List[*cairn.Event]{}},
		{method: "POST", path: "/api/v1/workflow-runs/{id}/cancel", handle: s.cancelRun, req: cairn.CancelRunRequest{}, resp: cairn.Run{}},
		{method: "POST", path: "/api/v1/workflow-runs/{id}/rerun", handle: s.rerunRun, req: cairn.RerunRequest{}, resp: cairn.Run{}},
		{method: "POST", path: "/api/v1/workflow-runs/{id}/steps/{step}/approve", handle: s.voteGate(true), req: cairn.GateVoteRequest{}, resp: cairn.Run{}},
		{method: "POST", path: "/api/v1/workflow-runs/{id}/steps/{step}/reject", handle: s.voteGate(false), req: cairn.GateVoteRequest{}, resp: cairn.Run{}},

		{method: "GET", path: "/api/v1/policy", handle: s.activePolicy},
		{method: "POST", path: "/api/v1/policy/publish", handle: s.publish, req: cairn.PublishRequest{}, resp: cairn.PolicyChange{}},
		{method: "POST", path: "/api/v1/policy/rollback", handle: s.rollback, req: cairn.RollbackRequest{}, resp: cairn.PolicyChange{}},
		{method: "GET", path: "/api/v1/policy/snapshots", handle: s.listSnapshots, resp: cairn.List[*cairn.Snapshot]{}},
		{method: "GET", path: "/api/v1/policy/snapshots/{id}", handle: s.getSnapshot, resp: cairn.Snapshot{}},
		{method: "GET", path: "/api/v1/policy/audit", handle: s.policyAudit, resp: cairn.List[*cairn.PolicyAudit]{}},
		{method: "POST", path: "/api/v1/policy/simulate", handle: s.simulate, req: cairn.SimulateRequest{}, resp: cairn.Decision{}},
		{method: "POST", path: "/api/v1/policy/denies", handle: s.denies, req: cairn.DeniesRequest{}, resp: cairn.DeniesResponse{}},

		{method: "POST", path: "/api/v1/keys", handle: s.createKey, req: cairn.CreateKeyRequest{}, resp: cairn.CreatedKey{}},
		{method: "GET", path: "/api/v1/keys", handle: s.listKeys, resp: cairn.List[*cairn.Key]{}},
		{method: "DELETE", path: "/api/v1/keys/{id}", handle: s.revokeKey},

		{method: "POST", path: "/api/v1/holds", handle: s.placeHold, req: cairn.PlaceHoldRequest{}, resp: cairn.Hold{}},
		{method: "GET", path: "/api/v1/holds", handle: s.listHolds, resp: cairn.List[*cairn.Hold]{}},
		{method: "POST", path: "/api/v1/holds/{id}/release", handle: s.releaseHold, req: cairn.ReleaseHoldRequest{}, resp: cairn.Hold{}},
		{method: "GET", path: "/api/v1/tenant/retention", handle: s.getRetention, resp: cairn.RetentionView{}},
		{method: "PUT", path: "/api/v1/tenant/retention", handle: s.setRetention, req: cairn.SetRetentionRequest{}, resp: cairn.RetentionView{}},
		{method: "POST", path: "/api/v1/erasures", handle: s.erase, req: cairn.ErasureRequest{}, resp: cairn.Erasure{}},
		{method: "GET", path: "/api/v1/tenant/settings", handle: s.tenantSettings, resp: cairn.TenantSettings{}},
		{method: "PUT", path: "/api/v1/tenant/settings", handle: s.setTenantSettings, req: service.TenantSettingsRequest{}, resp: cairn.TenantSettings{}},

		{method: "GET", path: "/api/v1/ledger/entries", handle: s.ledgerEntries, resp: cairn.List[*cairn.LedgerEntry]{}},
		{method: "GET", path: "/api/v1/ledger/key", handle: s.ledgerKey},
		{method: "GET", path: "/api/v1/ledger/checkpoint", handle: s.checkpoint, resp: checkpointView{}},
		{method: "POST", path: "/api/v1/ledger/checkpoints", handle: s.issueCheckpoint, resp: checkpointView{}},
		{method: "GET", path: "/api/v1/ledger/checkpoints", handle: s.listCheckpoints, resp: cairn.List[checkpointView]{}},
		{method: "GET", path: "/api/v1/ledger/checkpoints/{size}", handle: s.getCheckpoint, resp: checkpointView{}},
		{method: "POST", path: "/api/v1/ledger/cosignatures", handle: s.cosign, req: cosignRequest{}, resp: checkpointView{}},
		{method: "GET", path: "/api/v1/ledger/proof/inclusion", handle: s.inclusionProof, resp: service.Proof{}},
		{method: "GET", path: "/api/v1/ledger/proof/consistency", handle: s.consistencyProof, resp: service.Consistency{}},
		{method: "GET", path: "/api/v1/ledger/verify", handle: s.verifyLedger, resp: verify.Report{}},
		{method: "GET", path: "/api/v1/evidence/export", handle: s.export},
		{method: "GET", path: "/api/v1/events", handle: s.events},

		// C2SP tlog-tiles (tlog.go): authenticated unless --public-tlog.
		{method: "GET", path: "/tlog/{tenant}/checkpoint", public: s.tlogHandler(s.tlogCheckpoint), keyOptional: true},
		{method: "GET", path: "/tlog/{tenant}/tile/{path...}", public: s.tlogHandler(s.tlogTile), keyOptional: true},
	}
}

// register puts every route of the table on the mux.
func (s *Server) register() {
	for _, r := range s.table() {
		pattern := r.method + " " + r.path
		if r.public != nil {
			s.mux.Handle(pattern, r.public)
			continue
		}
		s.Handle(pattern, r.handle)
	}
	s.mux.HandleFunc("/", s.notFound)
}
