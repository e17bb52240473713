package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn"
)

// DefaultTenant is created at first start.
const DefaultTenant = "default"

// KeyPrefix starts every API key, so leaked keys are easy to scan for.
const KeyPrefix = "cairn_"

// HashKey is how keys are stored: lowercase hex SHA-256 of the whole key.
// Keys carry 256 bits of randomness, so a fast hash is enough.
func HashKey(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

func newKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Bootstrap creates tenant "default" and its admin key on an empty store.
// adminKey is used when set; otherwise a random key is made. It returns the
// key when one was created, "" when the store was already initialised.
func (s *Service) Bootstrap(ctx context.Context, adminKey string) (string, error) {
	if adminKey != "" && len(adminKey) < 16 {
		return "", cairn.Invalid("CAIRN_ADMIN_KEY", "must be at least 16 characters")
	}
	var exists bool
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		exists, err = tx.TenantExists(DefaultTenant)
		return err
	}); err != nil {
		return "", err
	}
	if exists {
		return "", nil
	}
	key := adminKey
	if key == "" {
		key = newKey()
	}
	created := false
	err := s.update(ctx, func(tx cairn.Tx) error {
		if ok, err := tx.TenantExists(DefaultTenant); err != nil || ok {
			return err
		}
		now := s.now()
		if err := tx.CreateTenant(DefaultTenant, now); err != nil {
			return err
		}
		k := &cairn.Key{KeyID: randomID("key_", 8), Tenant: DefaultTenant, Principal: "admin", Kind: cairn.KindHuman,
			Roles: []string{cairn.RoleAdmin}, Hash: HashKey(key), CreatedAt: now, CreatedBy: "cairn"}
		if err := tx.InsertKey(k); err != nil {
			return err
		}
		created = true
		return tx.AppendEvent(s.keyEvent(k, cairn.EventKeyCreated, "cairn"))
	})
	if err != nil || !created {
		return "", err
	}
	return key, nil
}

func (s *Service) keyEvent(k *cairn.Key, typ, actor string) *cairn.Event {
	return &cairn.Event{Tenant: k.Tenant, Type: typ, Timestamp: s.now(), Actor: actor,
		Data: keyCreatedData(k)}
}

// Authenticate resolves a bearer key to its principal.
func (s *Service) Authenticate(ctx context.Context, key string) (cairn.Principal, error) {
	unauth := &cairn.Error{Code: cairn.EUnauthorized, Message: "a valid API key is required: Authorization: Bearer <key>"}
	if key == "" || len(key) > 256 {
		return cairn.Principal{}, unauth
	}
	hash := HashKey(key)
	if c, ok := s.keyCache.Load(hash); ok {
		ck := c.(cachedKey)
		if s.now().Before(ck.until) {
			return ck.p, nil
		}
		s.keyCache.Delete(hash)
	}
	var k *cairn.Key
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		k, err = tx.KeyByHash(hash)
		return err
	})
	if cairn.IsNotFound(err) {
		return cairn.Principal{}, unauth
	}
	if err != nil {
		return cairn.Principal{}, err
	}
	if k.RevokedAt != nil {
		return cairn.Principal{}, &cairn.Error{Code: cairn.CodeKeyRevoked, Message: "this API key was revoked"}
	}
	p := cairn.Principal{Tenant: k.Tenant, ID: k.Principal, Kind: k.Kind, Roles: k.Roles, KeyID: k.KeyID}
	s.keyCache.Store(hash, cachedKey{p: p, until: s.now().Add(KeyCacheTTL)})
	return p, nil
}

// KeyCacheTTL bounds how long a resolved key is trusted without a store
// read. Revocation through this process takes effect at once; a revocation
// made by another replica takes effect within this time.
const KeyCacheTTL = 2 * time.Second

type cachedKey struct {
	p     cairn.Principal
	until time.Time
}

func (s *Service) forgetKey(keyID string) {
	s.keyCache.Range(func(h, v any) bool {
		if v.(cachedKey).p.KeyID == keyID {
			s.keyCache.Delete(h)
		}
		return true
	})
}

// CreateKey makes a key for a principal (admin only). The key is returned once.
func (s *Service) CreateKey(ctx context.Context, p cairn.Principal, req cairn.CreateKeyRequest) (*cairn.CreatedKey, error) {
	if !p.Has(cairn.RoleAdmin) {
		return nil, cairn.Forbidden(cairn.EForbidden, "key management needs the admin role")
	}
	if err := validID("principal", req.Principal); err != nil {
		return nil, err
	}
	if err := validKind(req.Kind); err != nil {
		return nil, err
	}
	roles, err := keyRoles(req.Roles)
	if err != nil {
		return nil, err
	}
	tenant := req.Tenant
	if tenant == "" {
		tenant = p.Tenant
	}
	if err := validID("tenant", tenant); err != nil {
		return nil, err
	}
	if err := canManageKeysOf(p, tenant); err != nil {
		return nil, err
	}
	key := newKey()
	k := &cairn.Key{KeyID: randomID("key_", 8), Tenant: tenant, Principal: req.Principal, Kind: req.Kind,
		Roles: roles, Hash: HashKey(key), CreatedAt: s.now(), CreatedBy: creator(p, tenant)}
	err = s.update(ctx, func(tx cairn.Tx) error {
		if err := tx.CreateTenant(tenant, k.CreatedAt); err != nil {
			return err
		}
		if err := tx.InsertKey(k); err != nil {
			return err
		}
		if err := tx.AppendEvent(s.keyEvent(k, cairn.EventKeyCreated, k.CreatedBy)); err != nil {
			return err
		}
		// Both stores run write transactions one at a time: two keys made
		// at once for "A" and "a" cannot both pass.
		if err := refuseCaseTwin(tx, tenant, k.Principal); err != nil {
			return err
		}
		if tenant == p.Tenant {
			return nil
		}
		// A key minted for another tenant is evidence in the minting
		// tenant's ledger too: that is where its auditor looks.
		ev := s.keyEvent(k, cairn.EventKeyCreated, p.ID)
		ev.Tenant = p.Tenant
		ev.Data.(*cairn.KeyCreatedData).Tenant = tenant
		return tx.AppendEvent(ev)
	})
	if err != nil {
		return nil, err
	}
	return &cairn.CreatedKey{Key: key, KeyID: k.KeyID, Principal: k.Principal, Kind: k.Kind, Tenant: tenant, Roles: roles}, nil
}

// validKind checks a key's principal kind: human, agent or service.
func validKind(kind string) error {
	switch kind {
	case cairn.KindHuman, cairn.KindAgent, cairn.KindService:
		return nil
	case "":
		return cairn.Invalid("kind", "is required: human, agent or service")
	}
	return cairn.Invalid("kind", "must be human, agent or service")
}

// keyRoles checks a key's roles (at least one, each known) and returns them
// sorted without duplicates.
func keyRoles(req []string) ([]string, error) {
	if len(req) == 0 {
		return nil, cairn.Invalid("roles", "at least one role is required")
	}
	roles := slices.Clone(req)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	for i, r := range roles {
		if !slices.Contains(cairn.AllRoles, r) {
			return nil, cairn.Invalid("roles["+itoa(i)+"]", "unknown role %q; roles are %s", truncate(r, 40), strings.Join(cairn.AllRoles, ", "))
		}
	}
	return roles, nil
}

// refuseCaseTwin refuses a principal id that differs from a principal of
// the tenant (any key, revoked ones included) by case only: "Agent-7" must
// not become a second person beside "agent-7". Keys that already differ so
// keep working; approvals compare ids without regard to case anyway.
func refuseCaseTwin(tx cairn.ReadTx, tenant, principal string) error {
	for after := int64(0); ; {
		keys, err := tx.ListKeys(tenant, cairn.Page{Limit: 1000, After: after})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.Principal != principal && samePrincipal(k.Principal, principal) {
				return &cairn.Error{Code: cairn.CodePrincipalCase, Field: "principal",
					Message: fmt.Sprintf("principal %q differs from the existing principal %q only by case; use %q or another id", principal, k.Principal, k.Principal)}
			}
		}
		if len(keys) < 1000 {
			return nil
		}
		after = keys[len(keys)-1].Seq
	}
}

// canManageKeysOf says whether p may create keys in tenant. Every admin
// manages its own tenant; only an admin of the system tenant (default), which
// owns the system policy, may create tenants or keys in another tenant. An
// admin of any other tenant who could mint a key in "default" would own the
// policy that governs every tenant.
func canManageKeysOf(p cairn.Principal, tenant string) error {
	if tenant == p.Tenant || p.Tenant == DefaultTenant {
		return nil
	}
	return cairn.Forbidden(cairn.EForbidden, "an admin of tenant %q may create keys only in that tenant; keys in other tenants are created by an admin of tenant %q", p.Tenant, DefaultTenant)
}

// creator names who created a key: the principal, qualified by its tenant
// when the key belongs to another tenant, so created_by cannot be mistaken
// for a principal of the key's own tenant.
func creator(p cairn.Principal, tenant string) string {
	if tenant == p.Tenant {
		return p.ID
	}
	return p.Tenant + "/" + p.ID
}

// ListKeys lists the tenant's keys (never their secrets).
func (s *Service) ListKeys(ctx context.Context, p cairn.Principal, page cairn.Page) ([]*cairn.Key, error) {
	if !p.Has(cairn.RoleAdmin) {
		return nil, cairn.Forbidden(cairn.EForbidden, "key management needs the admin role")
	}
	var out []*cairn.Key
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.ListKeys(p.Tenant, page)
		return err
	})
	return out, err
}

// RevokeKey revokes a key of the caller's tenant.
func (s *Service) RevokeKey(ctx context.Context, p cairn.Principal, keyID string) error {
	if !p.Has(cairn.RoleAdmin) {
		return cairn.Forbidden(cairn.EForbidden, "key management needs the admin role")
	}
	if err := validID("key_id", keyID); err != nil {
		return err
	}
	defer s.forgetKey(keyID)
	return s.update(ctx, func(tx cairn.Tx) error {
		now := s.now()
		if err := tx.RevokeKey(p.Tenant, keyID, now); err != nil {
			return err
		}
		return tx.AppendEvent(&cairn.Event{Tenant: p.Tenant, Type: cairn.EventKeyRevoked, Timestamp: now, Actor: p.ID, Data: &cairn.KeyRevokedData{KeyID: keyID}})
	})
}
