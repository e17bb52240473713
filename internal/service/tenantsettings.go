package service

import (
	"context"
	"slices"
	"strings"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/bundle"
)

// EventTenantSettingsChanged records a change of a tenant's
// data-protection settings (subject label, payload reader roles).
const EventTenantSettingsChanged = cairn.EventTenantSettingsChanged

// TenantSettings returns the caller's tenant's data-protection settings
// (admin and auditor).
func (s *Service) TenantSettings(ctx context.Context, p cairn.Principal) (*cairn.TenantSettings, error) {
	if !p.HasAny(cairn.RoleAdmin, cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading tenant settings needs the admin or auditor role")
	}
	var out *cairn.TenantSettings
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.TenantSettings(p.Tenant)
		return err
	})
	if err == nil {
		out.SubjectLabel = out.Label()
	}
	return out, err
}

// TenantSettingsRequest is PUT /api/v1/tenant/settings.
type TenantSettingsRequest struct {
	SubjectLabel   string   `json:"subject_label"`
	PayloadReaders []string `json:"payload_reader_roles"`
}

func validSettings(req *TenantSettingsRequest) error {
	if req.SubjectLabel == "" {
		req.SubjectLabel = cairn.DefaultSubjectLabel
	}
	if err := validLabelKey("subject_label", req.SubjectLabel); err != nil {
		return err
	}
	if req.PayloadReaders == nil {
		req.PayloadReaders = []string{}
	}
	if len(req.PayloadReaders) > len(cairn.AllRoles) {
		return cairn.Invalid("payload_reader_roles", "has %d roles; there are %d", len(req.PayloadReaders), len(cairn.AllRoles))
	}
	for i, r := range req.PayloadReaders {
		if !slices.Contains(cairn.AllRoles, r) {
			return cairn.Invalid("payload_reader_roles["+itoa(i)+"]", "unknown role %q; roles are %s", truncate(r, 40), strings.Join(cairn.AllRoles, ", "))
		}
	}
	slices.Sort(req.PayloadReaders)
	req.PayloadReaders = slices.Compact(req.PayloadReaders)
	return nil
}

// SetTenantSettings replaces the caller's tenant's settings (admin), with
// a tenant_settings_changed ledger event. Jobs submitted before keep the
// data key they were sealed under; the new label applies from now on.
func (s *Service) SetTenantSettings(ctx context.Context, p cairn.Principal, req TenantSettingsRequest) (*cairn.TenantSettings, error) {
	if !p.Has(cairn.RoleAdmin) {
		return nil, cairn.Forbidden(cairn.EForbidden, "changing tenant settings needs the admin role")
	}
	if err := validSettings(&req); err != nil {
		return nil, err
	}
	st := &cairn.TenantSettings{Tenant: p.Tenant, SubjectLabel: req.SubjectLabel, PayloadReaders: req.PayloadReaders, UpdatedBy: p.ID, UpdatedAt: s.now()}
	err := s.Store.Update(ctx, func(tx cairn.Tx) error {
		if err := tx.PutTenantSettings(st); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.crypt.settings.Delete(p.Tenant) })
		return tx.AppendEvent(&cairn.Event{Tenant: p.Tenant, Type: EventTenantSettingsChanged, Timestamp: st.UpdatedAt, Actor: p.ID,
			Data: map[string]any{"subject_label": st.SubjectLabel, "payload_reader_roles": st.PayloadReaders}})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// payloadAccess refuses a caller who holds none of the roles the tenant
// lets read payloads (when it names any): 403 payload_access_denied.
// Admins always may.
func (s *Service) payloadAccess(tx cairn.ReadTx, p cairn.Principal) error {
	st, err := s.crypt.tenantSettings(tx, p.Tenant)
	if err != nil {
		return err
	}
	if len(st.PayloadReaders) == 0 || p.HasAny(st.PayloadReaders...) {
		return nil
	}
	return cairn.Forbidden(cairn.CodePayloadAccessDenied, "tenant %s lets only %s read payloads; the hashes stay readable", p.Tenant, strings.Join(st.PayloadReaders, ", "))
}

// CanReadPayloads reports whether p may read payloads in its tenant.
func (s *Service) CanReadPayloads(ctx context.Context, p cairn.Principal) (bool, error) {
	var ok bool
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		err := s.payloadAccess(tx, p)
		ok = err == nil
		if cairn.ErrorCode(err) == cairn.CodePayloadAccessDenied {
			err = nil
		}
		return err
	})
	return ok, err
}

// WithheldAccess is the reason of a payload an export lists as withheld
// because the exporting principal may not read payloads.
const WithheldAccess = "payload_access_denied"

// hashOnlyInBundle lists a payload by its hash alone (withheld, reason
// payload_access_denied), or as erased or missing.
func hashOnlyInBundle(tx cairn.ReadTx, tenant, ptr string) (bundle.Payload, bool, error) {
	p, err := rawRead(tx).GetPayload(tenant, ptr)
	if cairn.IsNotFound(err) {
		e, err := rawRead(tx).ErasedPayload(tenant, ptr)
		switch {
		case err != nil:
			return bundle.Payload{}, false, err
		case e != nil:
			return erasedInBundle(tx, tenant, ptr)
		}
		return bundle.Payload{Ptr: ptr, Withheld: true, Reason: WithheldMissing}, true, nil
	}
	if err != nil {
		return bundle.Payload{}, false, err
	}
	return bundle.Payload{Ptr: ptr, SHA256: p.SHA256, Withheld: true, Reason: WithheldAccess}, true, nil
}
