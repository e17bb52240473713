package http_test

import (
	"testing"

	"github.com/cairnhq/cairn"
)

// TestCrossTenantKeyMinting: an admin of another tenant can create keys only
// in its own tenant. It cannot mint an admin key in "default" (which would
// let it publish the system policy), nor create a third tenant. The system
// tenant's admin still can, and created_by names the tenant that minted it.
func TestCrossTenantKeyMinting(t *testing.T) {
	e := newEnv(t)
	var b cairn.CreatedKey
	e.MustDo("admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "b-admin", Kind: "human", Roles: []string{"admin", "policy_admin"}, Tenant: "tenant-b"}, 201, &b)
	e.Keys["b-admin"] = b.Key

	e.ErrCode("b-admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "evil", Kind: "human", Roles: []string{"admin"}, Tenant: "default"}, 403, cairn.EForbidden)
	e.ErrCode("b-admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "evil", Kind: "human", Roles: []string{"policy_admin"}, Tenant: "default"}, 403, cairn.EForbidden)
	e.ErrCode("b-admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "evil", Kind: "human", Roles: []string{"admin"}, Tenant: "tenant-c"}, 403, cairn.EForbidden)
	e.ErrCode("b-admin", "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: "default: allow\n"}, 403, cairn.EForbidden)

	// Nothing was created in default by tenant b.
	var keys cairn.List[*cairn.Key]
	e.MustDo("admin", "GET", "/api/v1/keys?limit=1000", nil, 200, &keys)
	for _, k := range keys.Items {
		if k.Principal == "evil" {
			t.Fatalf("tenant b minted a key in default: %+v", k)
		}
	}

	// Within its own tenant it may, and created_by is plain.
	var own cairn.CreatedKey
	e.MustDo("b-admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "b-agent", Kind: "agent", Roles: []string{"agent"}}, 201, &own)
	e.MustDo("b-admin", "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "b-agent-2", Kind: "agent", Roles: []string{"agent"}, Tenant: "tenant-b"}, 201, nil)
	var bkeys cairn.List[*cairn.Key]
	e.MustDo("b-admin", "GET", "/api/v1/keys?limit=1000", nil, 200, &bkeys)
	createdBy := map[string]string{}
	for _, k := range bkeys.Items {
		if k.Tenant != "tenant-b" {
			t.Fatalf("tenant b lists a key of %q", k.Tenant)
		}
		createdBy[k.Principal] = k.CreatedBy
	}
	if createdBy["b-agent"] != "b-admin" || createdBy["b-admin"] != "default/admin" {
		t.Fatalf("created_by: %v", createdBy)
	}
}
