package service

import (
	"slices"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger"
)

// A workflow gate's rendered input (what its approvers review) is a
// payload like a job's context: sealed under the data key of the gate
// job's subject, stored at gate:<job id>, erased with that job or
// subject. The run record the store keeps carries no gate input; the
// service's view of the store puts it back when a run is read.

// gateInputPtr is where the rendered input of the gate releasing jobID is.
func gateInputPtr(jobID string) string { return "gate:" + jobID }

// putGateInput stores a gate's rendered input (labels: the gate job's).
func putGateInput(tx cairn.Tx, tenant, jobID string, input []byte, sha string, labels map[string]string) error {
	return tx.PutPayload(&cairn.Payload{Tenant: tenant, Ptr: gateInputPtr(jobID), SHA256: sha, Data: input, Labels: labels})
}

// withoutGateInputs returns r as the store keeps it: without gate inputs
// (a copy when it had any). An input with no payload yet (a run stored
// before gate inputs were payloads) is stored as one first.
func (t *cryptTx) withoutGateInputs(r *cairn.Run) (*cairn.Run, error) {
	var out *cairn.Run
	for i, st := range r.Steps {
		if st == nil || st.Gate == nil || !hasInput(st.Gate.Input) || st.Gate.JobID == "" {
			continue
		}
		if err := t.ensureGateInput(r.Tenant, st.Gate); err != nil {
			return nil, err
		}
		if out == nil {
			cp := *r
			cp.Steps = slices.Clone(r.Steps)
			out = &cp
		}
		s, g := *st, *st.Gate
		g.Input = nil
		s.Gate = &g
		out.Steps[i] = &s
	}
	if out == nil {
		return r, nil
	}
	return out, nil
}

func (t *cryptTx) ensureGateInput(tenant string, g *cairn.GateState) error {
	ptr := gateInputPtr(g.JobID)
	_, err := t.Tx.GetPayload(tenant, ptr)
	if !cairn.IsNotFound(err) {
		return err
	}
	if e, err := t.Tx.ErasedPayload(tenant, ptr); err != nil || e != nil {
		return err
	}
	return t.PutPayload(&cairn.Payload{Tenant: tenant, Ptr: ptr, SHA256: ledger.SHA256Hex(g.Input), Data: g.Input})
}

// hasInput: a gate input that is more than JSON null (as a run record
// without one decodes).
func hasInput(raw []byte) bool { return len(raw) > 0 && string(raw) != "null" }

// InsertRun stores r without its gate inputs.
func (t *cryptTx) InsertRun(r *cairn.Run) error {
	stored, err := t.withoutGateInputs(r)
	if err != nil {
		return err
	}
	err = t.Tx.InsertRun(stored)
	r.Seq = stored.Seq
	return err
}

// UpdateRun stores r without its gate inputs.
func (t *cryptTx) UpdateRun(r *cairn.Run) error {
	stored, err := t.withoutGateInputs(r)
	if err != nil {
		return err
	}
	return t.Tx.UpdateRun(stored)
}

// GetRun reads a run with its gate inputs.
func (t *cryptTx) GetRun(tenant, runID string) (*cairn.Run, error) {
	r, err := t.Tx.GetRun(tenant, runID)
	if err != nil {
		return nil, err
	}
	return r, t.c.fillGateInputs(t.Tx, r)
}

// GetRun reads a run with its gate inputs.
func (t *cryptReadTx) GetRun(tenant, runID string) (*cairn.Run, error) {
	r, err := t.ReadTx.GetRun(tenant, runID)
	if err != nil {
		return nil, err
	}
	return r, t.c.fillGateInputs(t.ReadTx, r)
}

// ListRuns lists runs with their gate inputs.
func (t *cryptReadTx) ListRuns(tenant string, f cairn.RunFilter) ([]*cairn.Run, error) {
	rs, err := t.ReadTx.ListRuns(tenant, f)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if err := t.c.fillGateInputs(t.ReadTx, r); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// fillGateInputs puts back the gate inputs of r (none for an erased one).
func (c *payloadCrypt) fillGateInputs(tx cairn.ReadTx, r *cairn.Run) error {
	for _, st := range r.Steps {
		if st == nil || st.Gate == nil || hasInput(st.Gate.Input) || st.Gate.JobID == "" {
			continue
		}
		p, err := c.open(tx, r.Tenant, gateInputPtr(st.Gate.JobID))
		switch {
		case cairn.IsNotFound(err), cairn.ErrorCode(err) == cairn.CodeErased:
			continue
		case err != nil:
			return err
		}
		st.Gate.Input = p.Data
	}
	return nil
}

// hideGateInputs removes the gate inputs of runs a caller may not read
// payloads of (the tenant's payload reader roles).
func (s *Service) hideGateInputs(tx cairn.ReadTx, p cairn.Principal, runs ...*cairn.Run) error {
	err := s.payloadAccess(tx, p)
	if err == nil || cairn.ErrorCode(err) != cairn.CodePayloadAccessDenied {
		return err
	}
	for _, r := range runs {
		for _, st := range r.Steps {
			if st != nil && st.Gate != nil {
				st.Gate.Input = nil
			}
		}
	}
	return nil
}
