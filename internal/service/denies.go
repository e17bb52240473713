package service

import (
	"context"

	"github.com/cairnhq/cairn"
)

// MaxDeniesActions bounds one POST /policy/denies.
const MaxDeniesActions = 1000

// Denies answers which of req.Actions the active policy denies for the
// caller whatever the input (policy.Bundle.DeniesEveryInput). It records
// nothing: it reads the policy as an agent's integration lists its tools.
func (s *Service) Denies(ctx context.Context, p cairn.Principal, req cairn.DeniesRequest) (*cairn.DeniesResponse, error) {
	if len(req.Actions) == 0 {
		return nil, cairn.Invalid("actions", "at least one action is required")
	}
	if len(req.Actions) > MaxDeniesActions {
		return nil, cairn.Invalid("actions", "has %d actions; the maximum is %d", len(req.Actions), MaxDeniesActions)
	}
	for i, a := range req.Actions {
		if err := validAction(a); err != nil {
			err.(*cairn.Error).Field = "actions[" + itoa(i) + "]"
			return nil, err
		}
	}
	if err := validText("resource", req.Resource, 1024); err != nil {
		return nil, err
	}
	if len(req.Labels) > MaxLabels {
		return nil, cairn.Invalid("labels", "has %d labels; the maximum is %d", len(req.Labels), MaxLabels)
	}
	for k, v := range req.Labels {
		if err := validLabelKey("labels", k); err != nil {
			return nil, err
		}
		if err := validText("labels."+k, v, 256); err != nil {
			return nil, err
		}
	}
	pol := s.current()
	out := &cairn.DeniesResponse{PolicySnapshot: cairn.Opt(pol.id), Denied: []string{}}
	for _, a := range req.Actions {
		in := cairn.PolicyInput{Tenant: p.Tenant, Action: a, Resource: req.Resource, Labels: req.Labels, Principal: p, Now: s.now()}
		if pol.bundle == nil || pol.bundle.DeniesEveryInput(in, req.AnyResource) {
			out.Denied = append(out.Denied, a)
		}
	}
	return out, ctx.Err()
}
