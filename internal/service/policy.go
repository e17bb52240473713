package service

import (
	"context"
	"encoding/json"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
	"github.com/cairnhq/cairn/ledger"
)

// MaxBundleBytes bounds a policy bundle.
const MaxBundleBytes = 1 << 20

func canReadPolicy(p cairn.Principal) bool {
	return p.HasAny(cairn.RolePolicyAdmin, cairn.RoleAuditor, cairn.RoleApprover)
}

// canChangePolicy: the system policy governs every tenant, so only policy
// admins of the system tenant (default) may publish or roll it back.
func canChangePolicy(p cairn.Principal) error {
	if !p.Has(cairn.RolePolicyAdmin) {
		return cairn.Forbidden(cairn.EForbidden, "changing policy needs the policy_admin role")
	}
	if p.Tenant != DefaultTenant {
		return cairn.Forbidden(cairn.EForbidden, "the system policy is managed from tenant %q", DefaultTenant)
	}
	return nil
}

// Publish compiles a bundle and makes it the active snapshot. Publishing the
// active bundle again changes nothing and writes no audit entry.
func (s *Service) Publish(ctx context.Context, p cairn.Principal, req cairn.PublishRequest) (*cairn.PolicyChange, error) {
	if err := canChangePolicy(p); err != nil {
		return nil, err
	}
	if err := validText("message", req.Message, 4096); err != nil {
		return nil, err
	}
	if req.Bundle == "" {
		return nil, cairn.Invalid("bundle", "is required: the policy YAML text")
	}
	b, err := policy.Compile([]byte(req.Bundle))
	if err != nil {
		return nil, err
	}
	snap := &cairn.Snapshot{ID: b.SnapshotID(), SHA256: ledger.SHA256Hex([]byte(req.Bundle)), Text: req.Bundle, CreatedAt: s.now(), CreatedBy: p.ID}
	s.bundles.Store(snap.ID, b)
	return s.activate(ctx, p, snap, "publish", req.Message, b)
}

// Rollback makes an earlier snapshot active again.
func (s *Service) Rollback(ctx context.Context, p cairn.Principal, req cairn.RollbackRequest) (*cairn.PolicyChange, error) {
	if err := canChangePolicy(p); err != nil {
		return nil, err
	}
	if err := validText("message", req.Message, 4096); err != nil {
		return nil, err
	}
	if req.To == "" {
		return nil, cairn.Invalid("to", "is required: the snapshot id to roll back to")
	}
	if err := validText("to", req.To, 200); err != nil {
		return nil, err
	}
	var snap *cairn.Snapshot
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		snap, err = tx.GetSnapshot(req.To)
		return err
	}); err != nil {
		return nil, err
	}
	b, err := s.bundle(snap)
	if err != nil {
		return nil, err
	}
	return s.activate(ctx, p, snap, "rollback", req.Message, b)
}

func (s *Service) activate(ctx context.Context, p cairn.Principal, snap *cairn.Snapshot, action, message string, b *policy.Bundle) (*cairn.PolicyChange, error) {
	out := &cairn.PolicyChange{PolicySnapshot: snap.ID}
	err := s.update(ctx, func(tx cairn.Tx) error {
		now := s.now()
		before, err := tx.ActiveSnapshot()
		if err != nil {
			return err
		}
		if before != nil && before.ID == snap.ID {
			out.Changed = false
			return nil
		}
		if err := tx.InsertSnapshot(snap); err != nil {
			return err
		}
		if err := tx.SetActiveSnapshot(snap.ID, now); err != nil {
			return err
		}
		a := &cairn.PolicyAudit{AuditID: randomID("pa_", 12), Action: action, SnapshotAfter: snap.ID, Actor: p.ID, Tenant: p.Tenant, Message: message, Timestamp: now}
		if before != nil {
			a.SnapshotBefore = cairn.Opt(before.ID)
		}
		typ := cairn.EventPolicyPublished
		if action == "rollback" {
			typ = cairn.EventPolicyRolledBack
		}
		e := &cairn.Event{Tenant: p.Tenant, Type: typ, Timestamp: now, Actor: p.ID, PolicySnapshot: snap.ID, Data: &cairn.PolicyChangeData{Audit: a, PolicySHA256: snap.SHA256}}
		if err := tx.AppendEvent(e); err != nil {
			return err
		}
		a.Ledger = e.Ledger
		if err := tx.InsertPolicyAudit(a); err != nil {
			return err
		}
		out.Audit = a
		out.Changed = true
		tx.AfterCommit(func() { s.active.Store(&activePolicy{id: snap.ID, bundle: b}) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Active returns the active snapshot (nil when none is published).
func (s *Service) Active(ctx context.Context, p cairn.Principal) (*cairn.Snapshot, error) {
	if !canReadPolicy(p) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading policy needs the policy_admin, auditor or approver role")
	}
	var snap *cairn.Snapshot
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		snap, err = tx.ActiveSnapshot()
		return err
	})
	return snap, err
}

// Snapshot returns a snapshot by id; every published snapshot stays retrievable.
func (s *Service) Snapshot(ctx context.Context, p cairn.Principal, id string) (*cairn.Snapshot, error) {
	if !canReadPolicy(p) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading policy needs the policy_admin, auditor or approver role")
	}
	if err := validText("id", id, 200); err != nil {
		return nil, err
	}
	var snap *cairn.Snapshot
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		snap, err = tx.GetSnapshot(id)
		return err
	})
	return snap, err
}

// Snapshots lists snapshots newest first.
func (s *Service) Snapshots(ctx context.Context, p cairn.Principal, page cairn.Page) ([]*cairn.Snapshot, error) {
	if !canReadPolicy(p) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading policy needs the policy_admin, auditor or approver role")
	}
	var out []*cairn.Snapshot
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListSnapshots(page)
		return err
	})
	return out, err
}

// PolicyAudit is audit query 5, newest first.
func (s *Service) PolicyAudit(ctx context.Context, p cairn.Principal, f cairn.AuditFilter) ([]*cairn.PolicyAudit, error) {
	if !canReadPolicy(p) {
		return nil, cairn.Forbidden(cairn.EForbidden, "the policy audit needs the policy_admin, auditor or approver role")
	}
	var out []*cairn.PolicyAudit
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListPolicyAudit(f)
		return err
	})
	return out, err
}

// Simulate evaluates a job against a candidate bundle, a stored snapshot or
// the active policy, with no side effects, and explains the decision. A
// candidate bundle needs the policy_admin role (it is code the server runs,
// as publishing is); the others need policy_admin or auditor. Evaluation
// stops when ctx ends, and ctx's error is returned.
func (s *Service) Simulate(ctx context.Context, p cairn.Principal, req cairn.SimulateRequest) (*cairn.Decision, error) {
	if !p.HasAny(cairn.RolePolicyAdmin, cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "simulating needs the policy_admin or auditor role")
	}
	if req.Bundle != "" && !p.Has(cairn.RolePolicyAdmin) {
		return nil, cairn.Forbidden(cairn.EForbidden, "simulating a candidate bundle needs the policy_admin role; auditors may simulate the active policy or a stored snapshot")
	}
	job := req.Job
	if err := normalizeSubmit(&job); err != nil {
		if e, ok := err.(*cairn.Error); ok {
			e.Field = "job." + e.Field
		}
		return nil, err
	}
	submitter := p
	if req.SubmittedAs != "" {
		if err := validID("submitted_as", req.SubmittedAs); err != nil {
			return nil, err
		}
		submitter = cairn.Principal{Tenant: p.Tenant, ID: req.SubmittedAs, Kind: cairn.KindAgent, Roles: []string{cairn.RoleAgent}}
	}
	var input any
	if len(job.Input) > 0 {
		if err := json.Unmarshal(job.Input, &input); err != nil {
			return nil, cairn.Invalid("job.input", "is not valid JSON")
		}
	}
	now := s.now()
	in := cairn.PolicyInput{Tenant: p.Tenant, JobID: job.JobID, RunID: job.RunID, WorkflowStepID: job.WorkflowStepID,
		Action: job.Action, Resource: job.Resource, Labels: job.Labels, RiskTags: job.RiskTags,
		Input: input, Principal: submitter, Now: now}
	ev, err := s.simulateEvaluation(ctx, p, req, in)
	if err != nil {
		return nil, err
	}
	ev, err = evaluated(ctx, ev)
	if err != nil {
		return nil, err
	}
	hash, _ := ledger.JobHash(ledger.JobHashInput{Tenant: p.Tenant, JobID: job.JobID, RunID: job.RunID, WorkflowStepID: job.WorkflowStepID,
		Action: job.Action, Resource: job.Resource, Labels: job.Labels, RiskTags: job.RiskTags, Input: job.Input, SubmittedBy: submitter.ID})
	d := &cairn.Decision{DecisionID: "", JobID: job.JobID, Phase: cairn.PhaseSimulate, Decision: ev.Decision,
		PolicyRuleID: cairn.Opt(ev.RuleID), PolicyReason: ev.Reason, PolicySnapshot: cairn.Opt(ev.Snapshot), JobHash: hash,
		Constraints: ev.Constraints, Approval: ev.Approval, Default: ev.DefaultRule, Explanation: ev.Explanation,
		RulesTried: ev.Trace, EvaluatedAt: now}
	if d.RulesTried == nil {
		d.RulesTried = []cairn.RuleTrace{}
	}
	return d, nil
}

// simulateEvaluation evaluates in against the candidate bundle, the stored
// snapshot or the active policy that req names.
func (s *Service) simulateEvaluation(ctx context.Context, p cairn.Principal, req cairn.SimulateRequest, in cairn.PolicyInput) (cairn.Evaluation, error) {
	switch {
	case req.Bundle != "" && req.Snapshot != "":
		return cairn.Evaluation{}, cairn.Invalid("bundle", "give a bundle or a snapshot, not both")
	case req.Bundle != "":
		b, err := policy.Compile([]byte(req.Bundle))
		if err != nil {
			return cairn.Evaluation{}, err
		}
		return b.EvaluateContext(ctx, in), nil
	case req.Snapshot != "":
		snap, err := s.Snapshot(ctx, p, req.Snapshot)
		if err != nil {
			return cairn.Evaluation{}, err
		}
		b, err := s.bundle(snap)
		if err != nil {
			return cairn.Evaluation{}, err
		}
		return b.EvaluateContext(ctx, in), nil
	}
	return s.evaluateActive(ctx, in)
}

// evaluateActive evaluates in against the active policy as stored now, not
// as this replica last saw it.
func (s *Service) evaluateActive(ctx context.Context, in cairn.PolicyInput) (cairn.Evaluation, error) {
	var snap *cairn.Snapshot
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		snap, err = tx.ActiveSnapshot()
		return err
	}); err != nil {
		return cairn.Evaluation{}, err
	}
	pol := &activePolicy{}
	if snap != nil {
		b, err := s.bundle(snap)
		if err != nil {
			return cairn.Evaluation{}, err
		}
		pol = &activePolicy{id: snap.ID, bundle: b}
	}
	return pol.evaluate(ctx, in)
}
