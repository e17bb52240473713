package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/payloadkey"
)

// Encryption at rest (ADR 0048). The service wraps its store so that every
// payload it writes is sealed under a data key (the job's data subject's,
// or the tenant's when the job names none) and every payload it reads is
// opened again: no use case sees a ciphertext, and none can write a
// plaintext. Data keys are stored wrapped by the key-encryption key (KEK).

// settingsTTL bounds how long a tenant's settings are cached: a change
// made through another replica takes effect here within it.
const settingsTTL = 2 * time.Second

// payloadCrypt holds the KEK and the caches of unwrapped data keys.
type payloadCrypt struct {
	mu  sync.Mutex
	kek *payloadkey.KEK

	keys       sync.Map // tenant "\x00" key id -> *payloadkey.DataKey
	tenantKeys sync.Map // tenant -> key id of its own key (never destroyed)
	settings   sync.Map // tenant -> cachedSettings
	now        func() time.Time
}

type cachedSettings struct {
	s  *cairn.TenantSettings
	at time.Time
}

// processKEK is the KEK of a Service given none: random, one per process
// (so that services of one test process sharing a store agree), and gone
// with the process. cairn serve always sets the one from --payload-key.
var processKEK = sync.OnceValue(func() *payloadkey.KEK {
	raw, err := payloadkey.Generate()
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	k, err := payloadkey.NewKEK(raw)
	if err != nil {
		panic(err)
	}
	return k
})

// SetPayloadKey sets the key-encryption key that wraps the data keys.
func (s *Service) SetPayloadKey(k *payloadkey.KEK) {
	s.crypt.mu.Lock()
	defer s.crypt.mu.Unlock()
	s.crypt.kek = k
	s.crypt.keys = sync.Map{}
}

// PayloadKEKID is the fingerprint of the key-encryption key in use.
func (s *Service) PayloadKEKID() string { return s.crypt.key().ID() }

func (c *payloadCrypt) key() *payloadkey.KEK {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kek == nil {
		c.kek = processKEK()
	}
	return c.kek
}

// tenantSettings returns the tenant's settings, cached for settingsTTL.
func (c *payloadCrypt) tenantSettings(tx cairn.ReadTx, tenant string) (*cairn.TenantSettings, error) {
	now := c.now()
	if v, ok := c.settings.Load(tenant); ok {
		if cs := v.(cachedSettings); now.Sub(cs.at) < settingsTTL && !now.Before(cs.at) {
			return cs.s, nil
		}
	}
	st, err := tx.TenantSettings(tenant)
	if err != nil {
		return nil, err
	}
	c.settings.Store(tenant, cachedSettings{s: st, at: now})
	return st, nil
}

// subjectOf is the data subject a payload with these labels belongs to
// ("" when none: the tenant's key).
func (c *payloadCrypt) subjectOf(tx cairn.ReadTx, tenant string, labels map[string]string) (string, error) {
	if len(labels) == 0 {
		return "", nil
	}
	st, err := c.tenantSettings(tx, tenant)
	if err != nil {
		return "", err
	}
	return labels[st.Label()], nil
}

// unwrap opens a stored data key, caching it by id.
func (c *payloadCrypt) unwrap(k *cairn.PayloadKey) (*payloadkey.DataKey, error) {
	id := k.Tenant + "\x00" + k.KeyID
	if v, ok := c.keys.Load(id); ok {
		return v.(*payloadkey.DataKey), nil
	}
	kek := c.key()
	if k.KEKID != kek.ID() {
		return nil, &cairn.Error{Code: cairn.EInternal, Message: "a data key is wrapped by another payload key",
			Cause: fmt.Errorf("data key %s of tenant %s is wrapped by payload key %s, this server has %s", k.KeyID, k.Tenant, k.KEKID, kek.ID())}
	}
	dk, err := kek.Unwrap(k.Tenant, k.KeyID, k.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("data key %s of tenant %s: %w", k.KeyID, k.Tenant, err)
	}
	c.keys.Store(id, dk)
	return dk, nil
}

// keyFor returns the id and key of the tenant's data key for subject,
// creating it when there is none.
func (c *payloadCrypt) keyFor(tx cairn.Tx, tenant, subject string) (string, *payloadkey.DataKey, error) {
	if subject == "" {
		if v, ok := c.tenantKeys.Load(tenant); ok {
			if dk, ok := c.keys.Load(tenant + "\x00" + v.(string)); ok {
				return v.(string), dk.(*payloadkey.DataKey), nil
			}
		}
	}
	k, err := tx.PayloadKey(tenant, subject)
	if err != nil {
		return "", nil, err
	}
	if k == nil {
		if k, err = c.newKey(tx, tenant, subject); err != nil {
			return "", nil, err
		}
	}
	dk, err := c.unwrap(k)
	if err != nil {
		return "", nil, err
	}
	if subject == "" {
		// Cached once committed: a key of a transaction that rolled back
		// must not be used.
		tx.AfterCommit(func() { c.tenantKeys.Store(tenant, k.KeyID) })
	}
	return k.KeyID, dk, nil
}

// newKey makes, wraps and stores a data key and reads back the subject's
// key (this one, or one a concurrent transaction stored first).
func (c *payloadCrypt) newKey(tx cairn.Tx, tenant, subject string) (*cairn.PayloadKey, error) {
	raw, err := payloadkey.Generate()
	if err != nil {
		return nil, err
	}
	kek := c.key()
	// 64 random bits, unique within the tenant: a collision (likely only
	// past about 2^32 subjects) inserts nothing, and the submit fails with
	// 503 unavailable below, its retry drawing another id. Half the bytes
	// of the 128-bit ids before, in each of a subject's payload rows and
	// index entries (ADR 0047).
	k := &cairn.PayloadKey{Tenant: tenant, KeyID: randomID("", 8), Subject: subject, KEKID: kek.ID(), CreatedAt: c.now()}
	if k.Wrapped, err = kek.Wrap(tenant, k.KeyID, raw); err != nil {
		return nil, err
	}
	if err := tx.InsertPayloadKey(k); err != nil {
		return nil, err
	}
	got, err := tx.PayloadKey(tenant, subject)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, cairn.Errorf(cairn.EUnavailable, "a data key is being created concurrently; retry")
	}
	return got, nil
}

// seal returns p encrypted under its subject's data key.
func (c *payloadCrypt) seal(tx cairn.Tx, p *cairn.Payload) (*cairn.Payload, error) {
	subject, err := c.subjectOf(tx, p.Tenant, p.Labels)
	if err != nil {
		return nil, err
	}
	keyID, dk, err := c.keyFor(tx, p.Tenant, subject)
	if err != nil {
		return nil, err
	}
	sealed, err := dk.Seal(p.Tenant, p.Ptr, p.Data)
	if err != nil {
		return nil, err
	}
	if subject == "" {
		keyID = cairn.TenantDataKey // stored without the id (ADR 0047)
	}
	return &cairn.Payload{Tenant: p.Tenant, Ptr: p.Ptr, SHA256: p.SHA256, Data: sealed, KeyID: keyID}, nil
}

// erasedError is 410 erased naming the erasure's ledger entry.
func erasedError(e *cairn.ErasedPayload) error {
	return &cairn.Error{Code: cairn.CodeErased, Message: fmt.Sprintf("payload %s was erased (ledger entry %d)", e.Ptr, e.Entry), LedgerIndex: &e.Entry}
}

// open reads and decrypts a payload: 410 erased when an erasure removed it.
func (c *payloadCrypt) open(tx cairn.ReadTx, tenant, ptr string) (*cairn.Payload, error) {
	p, err := tx.GetPayload(tenant, ptr)
	if cairn.IsNotFound(err) {
		if e, err2 := tx.ErasedPayload(tenant, ptr); err2 != nil {
			return nil, err2
		} else if e != nil {
			return nil, erasedError(e)
		}
	}
	if err != nil || p.KeyID == "" { // "": a legacy payload, not yet encrypted
		return p, err
	}
	dk, err := c.dataKey(tx, tenant, p.KeyID)
	if err != nil {
		return nil, err
	}
	if dk == nil {
		return nil, cairn.Errorf(cairn.CodeErased, "payload %s was erased (its data key is destroyed)", ptr)
	}
	plain, err := dk.Open(tenant, ptr, p.Data)
	if err != nil {
		return nil, &cairn.Error{Code: cairn.EInternal, Message: "a stored payload does not decrypt", Cause: fmt.Errorf("payload %s of tenant %s: %w", ptr, tenant, err)}
	}
	p.Data = plain
	return p, nil
}

// dataKey returns the data key a payload names: keyID, or the tenant's
// own for cairn.TenantDataKey; nil when it is destroyed.
func (c *payloadCrypt) dataKey(tx cairn.ReadTx, tenant, keyID string) (*payloadkey.DataKey, error) {
	if keyID == cairn.TenantDataKey {
		if v, ok := c.tenantKeys.Load(tenant); ok {
			keyID = v.(string)
		}
	}
	if v, ok := c.keys.Load(tenant + "\x00" + keyID); ok {
		return v.(*payloadkey.DataKey), nil
	}
	var k *cairn.PayloadKey
	var err error
	if keyID == cairn.TenantDataKey {
		k, err = tx.PayloadKey(tenant, "")
	} else {
		k, err = tx.PayloadKeyByID(tenant, keyID)
	}
	if err != nil || k == nil {
		return nil, err
	}
	return c.unwrap(k)
}

// forget drops a destroyed data key from the caches.
func (c *payloadCrypt) forget(tenant, keyID string) { c.keys.Delete(tenant + "\x00" + keyID) }

// cryptStore is the service's view of its store: payloads sealed on write,
// opened on read. A store that is a cairn.Notifier stays one.
type cryptStore struct {
	cairn.Store
	c *payloadCrypt
}

type notifierCryptStore struct {
	*cryptStore
	n cairn.Notifier
}

// OnQueued passes the registration on to the wrapped store.
func (s *notifierCryptStore) OnQueued(fn func(cairn.QueuedNote)) { s.n.OnQueued(fn) }

func wrapCrypt(st cairn.Store, c *payloadCrypt) cairn.Store {
	w := &cryptStore{Store: st, c: c}
	if n, ok := st.(cairn.Notifier); ok {
		return &notifierCryptStore{cryptStore: w, n: n}
	}
	return w
}

// Unwrap returns the wrapped store.
func (s *cryptStore) Unwrap() cairn.Store { return s.Store }

// Update runs fn with a transaction that seals and opens payloads.
func (s *cryptStore) Update(ctx context.Context, fn func(cairn.Tx) error) error {
	return s.Store.Update(ctx, func(tx cairn.Tx) error { return fn(&cryptTx{Tx: tx, c: s.c}) })
}

// View runs fn with a view that opens payloads.
func (s *cryptStore) View(ctx context.Context, fn func(cairn.ReadTx) error) error {
	return s.Store.View(ctx, func(tx cairn.ReadTx) error { return fn(&cryptReadTx{ReadTx: tx, c: s.c}) })
}

type cryptTx struct {
	cairn.Tx
	c *payloadCrypt
}

// PutPayload stores p sealed.
func (t *cryptTx) PutPayload(p *cairn.Payload) error {
	sealed, err := t.c.seal(t.Tx, p)
	if err != nil {
		return err
	}
	return t.Tx.PutPayload(sealed)
}

// GetPayload reads and opens a payload.
func (t *cryptTx) GetPayload(tenant, ptr string) (*cairn.Payload, error) {
	return t.c.open(t.Tx, tenant, ptr)
}

type cryptReadTx struct {
	cairn.ReadTx
	c *payloadCrypt
}

// GetPayload reads and opens a payload.
func (t *cryptReadTx) GetPayload(tenant, ptr string) (*cairn.Payload, error) {
	return t.c.open(t.ReadTx, tenant, ptr)
}

// rawTx is the store's own transaction under the service's view.
func rawTx(tx cairn.Tx) cairn.Tx {
	if c, ok := tx.(*cryptTx); ok {
		return c.Tx
	}
	return tx
}

// rawRead is the store's own view under the service's view.
func rawRead(tx cairn.ReadTx) cairn.ReadTx {
	switch c := tx.(type) {
	case *cryptReadTx:
		return c.ReadTx
	case *cryptTx:
		return c.Tx
	}
	return tx
}

// compactorOf finds the store that removes deleted rows' leftovers.
func compactorOf(st cairn.Store) (cairn.Compactor, bool) {
	for st != nil {
		if c, ok := st.(cairn.Compactor); ok {
			return c, true
		}
		u, ok := st.(interface{ Unwrap() cairn.Store })
		if !ok {
			return nil, false
		}
		st = u.Unwrap()
	}
	return nil, false
}
