// Package service implements Cairn's use cases — submit, decide, approve,
// lease, complete, publish — over a cairn.Store. Every state change and the
// evidence that records it are written in one store transaction; nothing
// here knows SQL or HTTP. A job's state changes only through transition
// (transition.go); workflow runs move through the engine (engine.go,
// engine_steps.go); the time is read from the service's Clock (ADR 0043).
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
	"github.com/cairnhq/cairn/ledger/tree"
)

// Limits on what clients may send.
const (
	MaxIDBytes       = 256
	MaxInputBytes    = 1 << 20
	MaxResultBytes   = 4 << 20
	MaxLabels        = 64
	MaxRiskTags      = 32
	MaxLeaseBatch    = 100
	MaxWait          = 30 * time.Second
	DefaultLease     = 60 * time.Second
	MaxLease         = time.Hour
	MaxAttempts      = 5
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// Service is the application core.
type Service struct {
	Store cairn.Store
	Log   *slog.Logger
	// Salt keys the hashes of output-safety findings.
	Salt []byte

	clock     Clock    // the time (SetClock); cairn.Now by default
	bundles   sync.Map // snapshot id -> *policy.Bundle
	workflows sync.Map // workflow id -> *workflow.Definition
	keyCache  sync.Map // key hash -> cachedKey
	active    atomic.Pointer[activePolicy]
	integrity atomic.Pointer[integrityState]

	ledgerKey    *tree.Key
	crypt        payloadCrypt // encryption at rest (payloadcrypt.go)
	holds        HoldChecker  // legal holds an erasure respects (erasure.go)
	originPrefix string

	waiters  waiters  // long-polling leases, woken for the jobs they want
	feed     feedWake // event-feed long polls, woken by ledger appends
	claims   claims   // queued jobs that leases of this process are dispatching
	deadline notifier // fires when an earlier approval/lease/run deadline may exist
	// plannedWake is when the expiry loop will next look (unix nanos); 0
	// while it is looking. fireDeadline wakes it only for an earlier deadline.
	plannedWake atomic.Int64
	signers     sync.Map // origin -> note.Signer

	retention retentionState // --retention and what compaction did (retention.go)

	// maxExports bounds the exports running at once (exportsNow).
	maxExports, exportsNow atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

type activePolicy struct {
	id     string
	bundle *policy.Bundle // nil when no policy is published
}

// New builds a Service. Call Start to run background work.
func New(store cairn.Store, log *slog.Logger, salt []byte) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{Log: log, Salt: salt, stop: make(chan struct{}), originPrefix: DefaultOriginPrefix, clock: cairn.Now, holds: noHolds{}}
	s.crypt.now = func() time.Time { return s.clock() }
	s.Store = wrapCrypt(store, &s.crypt)
	s.deadline.init()
	if n, ok := store.(cairn.Notifier); ok {
		// Jobs queued through other processes sharing the store.
		n.OnQueued(s.waiters.wake)
	}
	s.maxExports.Store(DefaultMaxExports)
	return s
}

// Start checks the service's secrets against the store (CheckSecrets),
// loads the active policy and starts the background loops.
func (s *Service) Start(ctx context.Context) error {
	if err := s.CheckSecrets(ctx); err != nil {
		return err
	}
	if err := s.startPayloadCrypt(ctx); err != nil {
		return err
	}
	if err := s.refreshActive(ctx); err != nil {
		return err
	}
	// A damaged ledger does not stop the server (its evidence can still be
	// read and exported for the investigation) but is reported: logs,
	// /readyz, /ledger/verify and the export say so.
	if err := s.CheckIntegrity(ctx); err != nil && cairn.ErrorCode(err) != cairn.CodeLedgerTruncated {
		return err
	}
	if err := s.startRetention(ctx); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.expiryLoop()
	if _, shared := s.Store.(cairn.Notifier); shared {
		s.wg.Add(1)
		go s.policyLoop()
	}
	if s.ledgerKey != nil {
		s.wg.Add(1)
		go s.checkpointLoop()
	}
	return nil
}

// Stop ends background work.
func (s *Service) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

// notifier is a broadcast: Wait returns a channel closed at the next Fire.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) init() { n.ch = make(chan struct{}) }

func (n *notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) Fire() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

func (s *Service) refreshActive(ctx context.Context) error {
	var snap *cairn.Snapshot
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		snap, err = tx.ActiveSnapshot()
		return err
	}); err != nil {
		return err
	}
	if snap == nil {
		s.active.Store(&activePolicy{})
		return nil
	}
	b, err := s.bundle(snap)
	if err != nil {
		return err
	}
	s.active.Store(&activePolicy{id: snap.ID, bundle: b})
	return nil
}

// PolicyRefresh is how often a service on a shared store (one that
// implements cairn.Notifier: PostgreSQL with several replicas) re-reads the
// active policy. It only warms this replica's guess: every decision that is
// recorded is made under the snapshot in force inside its own write
// transaction (inForce, ADR 0012), whatever the guess.
const PolicyRefresh = 500 * time.Millisecond

// policyLoop re-reads the active policy every PolicyRefresh.
func (s *Service) policyLoop() {
	defer s.wg.Done()
	t := time.NewTicker(PolicyRefresh)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if err := s.reloadActive(context.Background()); err != nil {
			s.Log.Warn("policy refresh failed", "err", err)
		}
	}
}

// reloadActive installs the stored active policy if it changed, unless a
// publish through this process installed one meanwhile (compare-and-swap on
// the pointer read before the store was).
func (s *Service) reloadActive(ctx context.Context) error {
	cur := s.active.Load()
	var snap *cairn.Snapshot
	if err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		snap, err = tx.ActiveSnapshot()
		return err
	}); err != nil {
		return err
	}
	if snap == nil || (cur != nil && cur.id == snap.ID) {
		return nil
	}
	b, err := s.bundle(snap)
	if err != nil {
		return err
	}
	s.active.CompareAndSwap(cur, &activePolicy{id: snap.ID, bundle: b})
	return nil
}

// bundle returns the compiled form of a stored snapshot.
func (s *Service) bundle(snap *cairn.Snapshot) (*policy.Bundle, error) {
	if b, ok := s.bundles.Load(snap.ID); ok {
		return b.(*policy.Bundle), nil
	}
	b, err := policy.Compile([]byte(snap.Text))
	if err != nil {
		return nil, err
	}
	s.bundles.Store(snap.ID, b)
	return b, nil
}

// evaluate decides in under the policy a (deny-all when none is
// published). Once ctx ends the evaluation stops and ctx's error is
// returned: a decision made with interrupted conditions is never recorded.
func (a *activePolicy) evaluate(ctx context.Context, in cairn.PolicyInput) (cairn.Evaluation, error) {
	if a == nil || a.bundle == nil {
		return policy.NoPolicy(in), nil
	}
	return evaluated(ctx, a.bundle.EvaluateContext(ctx, in))
}

// evaluated returns ev, or ctx's error when ctx ended during the evaluation.
func evaluated(ctx context.Context, ev cairn.Evaluation) (cairn.Evaluation, error) {
	if err := ctx.Err(); err != nil {
		return cairn.Evaluation{}, err
	}
	return ev, nil
}

// current is the active policy as this process last saw it: a guess that
// inForce confirms or corrects inside the transaction that records a
// decision.
func (s *Service) current() *activePolicy {
	if a := s.active.Load(); a != nil {
		return a
	}
	return &activePolicy{}
}

// inForce is the policy in force for tx: the snapshot the store says is
// active inside the write transaction, which no other publish or rollback
// can change before it commits (writes are serialised). Every decision
// that is recorded is made under it (ADR 0012). When it is not the one
// this process had, it is loaded (compiled once per snapshot id) and
// installed once tx commits.
func (s *Service) inForce(tx cairn.Tx) (*activePolicy, error) {
	id, err := tx.ActiveSnapshotID()
	if err != nil {
		return nil, err
	}
	cur := s.active.Load()
	if cur != nil && cur.id == id {
		return cur, nil
	}
	next := &activePolicy{id: id}
	if id != "" {
		b, ok := s.bundles.Load(id)
		if !ok {
			snap, err := tx.GetSnapshot(id)
			if err != nil {
				return nil, fmt.Errorf("active policy snapshot %s: %w", id, err)
			}
			if b, err = s.bundle(snap); err != nil {
				return nil, fmt.Errorf("active policy snapshot %s: %w", id, err)
			}
		}
		next.bundle = b.(*policy.Bundle)
	}
	tx.AfterCommit(func() { s.active.CompareAndSwap(cur, next) })
	return next, nil
}

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + hex.EncodeToString(b)
}

// fireDeadline wakes the expiry loop if a deadline at t comes before the
// loop's next planned look (it looks at least once a second).
func (s *Service) fireDeadline(t time.Time) {
	if p := s.plannedWake.Load(); p == 0 || t.UnixNano() < p {
		s.deadline.Fire()
	}
}

func (s *Service) expiryLoop() {
	defer s.wg.Done()
	for {
		wake := s.deadline.Wait()
		s.plannedWake.Store(0)
		next := s.expireDue()
		wait := time.Second
		now := s.now()
		if !next.IsZero() {
			if d := next.Sub(now); d < wait {
				wait = d
			}
		}
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		s.plannedWake.Store(now.Add(wait).UnixNano())
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// expireDue expires due approvals and leases and returns the next deadline.
func (s *Service) expireDue() time.Time {
	ctx := context.Background()
	for {
		now := s.now()
		var approvals []*cairn.Approval
		var leases []*cairn.Job
		var runs []*cairn.Run
		var next time.Time
		err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
			var err error
			if approvals, err = tx.DueApprovals(now, 100); err != nil {
				return err
			}
			if leases, err = tx.ExpiredLeases(now, 100); err != nil {
				return err
			}
			if runs, err = tx.DueRuns(now, 100); err != nil {
				return err
			}
			next, err = tx.NextDeadline()
			return err
		})
		if err != nil {
			s.Log.Error("expiry scan failed", "err", err)
			return time.Time{}
		}
		if len(approvals) == 0 && len(leases) == 0 && len(runs) == 0 {
			return next
		}
		done := 0
		for _, a := range approvals {
			err := s.update(ctx, func(tx cairn.Tx) error { return s.expireApproval(tx, a.Tenant, a.JobID, now) })
			done += progressed(s, err, "approval expiry failed", "job_id", a.JobID)
		}
		for _, j := range leases {
			err := s.update(ctx, func(tx cairn.Tx) error { return s.expireLease(tx, j.Tenant, j.JobID, now) })
			done += progressed(s, err, "lease expiry failed", "job_id", j.JobID)
		}
		for _, r := range runs {
			err := s.update(ctx, func(tx cairn.Tx) error { return s.wakeRun(tx, r.Tenant, r.RunID, now) })
			done += progressed(s, err, "workflow run wake-up failed", "run_id", r.RunID)
		}
		if done == 0 {
			// Everything due failed or was done by another replica since the
			// scan: look again in a second rather than spin.
			return now.Add(time.Second)
		}
	}
}

var errNothingToDo = errors.New("nothing to do")

// progressed counts a background update that did something; a failure is logged.
func progressed(s *Service, err error, msg, key, id string) int {
	switch {
	case err == nil:
		return 1
	case !errors.Is(err, errNothingToDo):
		s.Log.Error(msg, key, id, "err", err)
	}
	return 0
}
