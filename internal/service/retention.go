package service

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/bundle"
)

// Retention (issue 14 §2; ADR 0046, docs/data-protection.md). Past a
// tenant's retention, a background compaction removes payloads, job and
// approval rows and ledger entry bodies, up to the latest checkpoint signed
// before the cutoff, and records what it pruned as a retention_compacted
// event. Leaf hashes, Merkle nodes, checkpoints and cosignatures stay: old
// proofs keep verifying. Nothing under an active legal hold is pruned.

// Retention settings.
const (
	// CompactEvery is how often the background compaction looks.
	CompactEvery = time.Hour
	// MaxCompactEntries bounds the ledger entries one compaction (one
	// transaction) prunes; a pass repeats until a tenant is done.
	MaxCompactEntries = 10000
)

// retentionState is the service's retention: the server's setting and
// whether any compaction may have run in the store (then a submit checks
// that its job id was not a pruned job's).
type retentionState struct {
	cfg    atomic.Pointer[retentionConfig] // nil: none
	pruned atomic.Bool
}

// retentionConfig is the server's retention (--retention).
type retentionConfig struct {
	period     time.Duration // 0: keep forever
	belowFloor bool          // --allow-retention-below-floor
}

// BelowFloorError is the refusal of a retention below the floor.
func BelowFloorError(field string, d time.Duration) error {
	return cairn.Invalid(field, "%s is below the floor of %s (183 days): the EU AI Act (Art. 19(1), 26(6)) requires the logs of high-risk AI systems to be kept at least six months; start the server with --allow-retention-below-floor to allow it (its use is recorded in the ledger)",
		cairn.FormatRetention(d), cairn.FormatRetention(cairn.RetentionFloor))
}

// SetRetention sets the server's retention (0: keep forever) and whether a
// retention below cairn.RetentionFloor is allowed. A shorter one without
// allowBelowFloor is refused. Call it before Start (the floor waiver is
// recorded there); it is safe to call at any time.
func (s *Service) SetRetention(d time.Duration, allowBelowFloor bool) error {
	if d < 0 {
		return cairn.Invalid("retention", "must not be negative")
	}
	if d > 0 && d < cairn.RetentionFloor && !allowBelowFloor {
		return BelowFloorError("retention", d)
	}
	s.retention.cfg.Store(&retentionConfig{period: d, belowFloor: allowBelowFloor})
	return nil
}

// startRetention records the use of --allow-retention-below-floor in every
// tenant's ledger (when the server's retention is below the floor) and
// starts the compaction loop when any retention may apply.
func (s *Service) startRetention(ctx context.Context) error {
	if rc := s.retentionConfig(); rc.period > 0 && rc.period < cairn.RetentionFloor && rc.belowFloor {
		tenants, err := s.tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			err := s.update(ctx, func(tx cairn.Tx) error {
				return tx.AppendEvent(&cairn.Event{Tenant: t, Type: cairn.EventRetentionFloorWaived, Timestamp: s.now(), Actor: "cairn",
					Data: map[string]any{"retention": cairn.FormatRetention(rc.period), "floor": cairn.FormatRetention(cairn.RetentionFloor), "source": "server"}})
			})
			if err != nil {
				return err
			}
		}
		s.Log.Warn("retention below the floor", "retention", cairn.FormatRetention(rc.period), "floor", cairn.FormatRetention(cairn.RetentionFloor))
	}
	if err := s.notePruned(ctx); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.compactLoop()
	return nil
}

// retentionConfig is the server's retention (zero when none is set).
func (s *Service) retentionConfig() retentionConfig {
	if rc := s.retention.cfg.Load(); rc != nil {
		return *rc
	}
	return retentionConfig{}
}

func (s *Service) tenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		out, err = tx.Tenants()
		return err
	})
	return out, err
}

// compactLoop runs Compact every CompactEvery.
func (s *Service) compactLoop() {
	defer s.wg.Done()
	t := time.NewTicker(CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx := context.Background()
		if err := s.notePruned(ctx); err != nil {
			s.Log.Error("retention: reading compactions failed", "err", err)
		}
		if _, err := s.Compact(ctx); err != nil {
			s.Log.Error("retention compaction failed", "err", err)
		}
	}
}

// retentionOf is the tenant's retention in force and where it comes from
// ("tenant", "server" or "none").
func (s *Service) retentionOf(tx cairn.ReadTx, tenant string) (time.Duration, *cairn.TenantRetention, error) {
	tr, err := tx.TenantRetention(tenant)
	if err != nil {
		return 0, nil, err
	}
	if tr != nil {
		return tr.Period, tr, nil
	}
	return s.retentionConfig().period, nil, nil
}

// Compact runs one retention pass over every tenant and returns the
// compactions it made (each recorded as a retention_compacted event).
func (s *Service) Compact(ctx context.Context) ([]*cairn.Compaction, error) {
	tenants, err := s.tenants(ctx)
	if err != nil {
		return nil, err
	}
	var out []*cairn.Compaction
	for _, t := range tenants {
		for {
			c, err := s.compactTenant(ctx, t)
			if err != nil {
				return out, err
			}
			if c == nil {
				break
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// compactTenant makes one compaction of the tenant's ledger (nil when
// there is nothing to prune).
func (s *Service) compactTenant(ctx context.Context, tenant string) (*cairn.Compaction, error) {
	var out *cairn.Compaction
	err := s.update(ctx, func(tx cairn.Tx) error {
		out = nil
		period, _, err := s.retentionOf(tx, tenant)
		if err != nil || period <= 0 {
			return err
		}
		holds, err := tx.ListHolds(tenant, cairn.HoldFilter{ActiveOnly: true, Page: cairn.Page{Limit: MaxActiveHolds}})
		if err != nil || coveringHold(holds, tenant, "", "", "") != nil {
			return err // a tenant hold: nothing of the tenant is pruned
		}
		now := s.now()
		c := &cairn.Compaction{Tenant: tenant, Cutoff: now.Add(-period)}
		if c.From, c.To, err = compactRange(tx, tenant, c.Cutoff); err != nil || c.To <= c.From {
			return err
		}
		plan, stats, err := s.planCompaction(tx, c, holds)
		if err != nil {
			return err
		}
		stats["from"], stats["to"], stats["cutoff"] = c.From, c.To, cairn.Timestamp(c.Cutoff)
		stats["retention"] = cairn.FormatRetention(period)
		ev := &cairn.Event{Tenant: tenant, Type: cairn.EventRetentionCompacted, Timestamp: now, Actor: "cairn", Data: stats}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		c.Event = ev.Ledger.Index
		s.retention.pruned.Store(true) // before the commit: no submit may miss it
		if err := tx.Compact(c, plan); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// compactRange is the next range to prune: from the end of the last
// compaction to the latest checkpoint signed at or before cutoff, at most
// MaxCompactEntries.
func compactRange(tx cairn.ReadTx, tenant string, cutoff time.Time) (from, to uint64, err error) {
	last, err := tx.LastCompaction(tenant)
	if err != nil {
		return 0, 0, err
	}
	if last != nil {
		from = last.To
	}
	if to, err = tx.CheckpointSizeAt(tenant, cutoff); err != nil {
		return 0, 0, err
	}
	return from, min(to, from+MaxCompactEntries), nil
}

// keptType reports whether entries of this type are never pruned: the
// records of retention and holds themselves.
func keptType(typ string) bool {
	return strings.HasPrefix(typ, "retention_") || strings.HasPrefix(typ, "hold_")
}

// planCompaction decides what the compaction c removes: the bodies of its
// range's entries that no hold covers, and the rows of the finished jobs
// whose last entry is in the range and that no hold covers. It returns the
// counts for the retention_compacted event.
func (s *Service) planCompaction(tx cairn.ReadTx, c *cairn.Compaction, holds []*cairn.Hold) (*cairn.CompactionPlan, map[string]any, error) {
	rows, err := tx.LedgerRange(c.Tenant, c.From, c.To)
	if err != nil {
		return nil, nil, err
	}
	rows = endOnBodyRow(c, rows)
	plan := &cairn.CompactionPlan{Keep: map[uint64]bool{}}
	jobs := map[string]*cairn.Job{} // nil: no row
	heldBy := map[string]bool{}
	for _, r := range rows {
		j, err := rowJob(tx, c.Tenant, r.JobID, jobs)
		if err != nil {
			return nil, nil, err
		}
		if h, keep := s.keepEntry(holds, c.Tenant, r, j); keep {
			plan.Keep[r.Index] = true
			if h != nil {
				heldBy[h.HoldID] = true
			}
		}
	}
	keepBodyRows(rows, plan.Keep)
	pruned := 0
	for _, r := range rows {
		if !r.Pruned && !plan.Keep[r.Index] {
			pruned++
		}
	}
	if plan.Jobs, err = s.prunableJobs(tx, c, holds, jobs); err != nil {
		return nil, nil, err
	}
	held := slices.Sorted(maps.Keys(heldBy))
	if held == nil {
		held = []string{}
	}
	stats := map[string]any{"pruned_entries": pruned, "kept_entries": len(plan.Keep), "jobs_removed": len(plan.Jobs), "holds": held}
	return plan, stats, nil
}

// endOnBodyRow ends c's range where a stored body row that reaches past it
// starts (ADR 0045: a transaction's entries of a tenant share one row,
// removed whole), so that the next compaction takes that row whole; it
// returns the rows left in the range. A range that would end up empty is
// left as it is (the row then stays, as a kept one would).
func endOnBodyRow(c *cairn.Compaction, rows []cairn.LedgerRow) []cairn.LedgerRow {
	if len(rows) == 0 {
		return rows
	}
	last := rows[len(rows)-1]
	if last.Pruned || last.BodyTo <= c.To || last.BodyFrom <= c.From || last.BodyFrom >= c.To {
		return rows
	}
	c.To = last.BodyFrom
	for len(rows) > 0 && rows[len(rows)-1].Index >= c.To {
		rows = rows[:len(rows)-1]
	}
	return rows
}

// keepBodyRows keeps every entry that shares a stored body row with a kept
// one: the row, and so each of its entries' bodies, stays.
func keepBodyRows(rows []cairn.LedgerRow, keep map[uint64]bool) {
	for _, r := range rows {
		if !keep[r.Index] || r.Pruned {
			continue
		}
		for i := r.BodyFrom; i < r.BodyTo; i++ {
			keep[i] = true
		}
	}
	if len(rows) == 0 {
		return
	}
	for i := range keep { // only the range's entries are kept
		if i < rows[0].Index || i > rows[len(rows)-1].Index {
			delete(keep, i)
		}
	}
}

// keepEntry reports whether a ledger row keeps its body, and the hold that
// keeps it if one does: entries under a hold, the records of retention and
// holds, and the evidence of jobs still open are kept.
func (s *Service) keepEntry(holds []*cairn.Hold, tenant string, r cairn.LedgerRow, j *cairn.Job) (*cairn.Hold, bool) {
	if h := s.holdOf(holds, tenant, r, j); h != nil {
		return h, true
	}
	open := j != nil && !cairn.IsFinalState(j.State)
	return nil, open || keptType(r.Type)
}

// prunableJobs are the jobs of the range whose rows go: finished, under no
// hold, with their last ledger entry inside the range (sorted by id).
func (s *Service) prunableJobs(tx cairn.ReadTx, c *cairn.Compaction, holds []*cairn.Hold, jobs map[string]*cairn.Job) ([]*cairn.Job, error) {
	var out []*cairn.Job
	for _, id := range slices.Sorted(maps.Keys(jobs)) {
		j := jobs[id]
		if j == nil || !cairn.IsFinalState(j.State) || s.holdOf(holds, c.Tenant, cairn.LedgerRow{JobID: id}, j) != nil {
			continue
		}
		last, ok, err := tx.LastJobEntry(c.Tenant, id)
		if err != nil {
			return nil, err
		}
		if ok && last < c.To {
			out = append(out, j)
		}
	}
	return out, nil
}

// rowJob returns the job a ledger row names (nil when none, or when its
// row is gone), through the cache jobs.
func rowJob(tx cairn.ReadTx, tenant, jobID string, jobs map[string]*cairn.Job) (*cairn.Job, error) {
	if jobID == "" {
		return nil, nil
	}
	if j, ok := jobs[jobID]; ok {
		return j, nil
	}
	j, err := tx.GetJob(tenant, jobID)
	if cairn.IsNotFound(err) {
		j, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	jobs[jobID] = j
	return j, nil
}

// holdOf is the hold that covers a ledger row (through its job, its run
// and the job's data subject), or nil.
func (s *Service) holdOf(holds []*cairn.Hold, tenant string, r cairn.LedgerRow, j *cairn.Job) *cairn.Hold {
	runID, subject := r.RunID, ""
	if j != nil {
		if runID == "" {
			runID = string(j.RunID)
		}
		subject = SubjectOf(j)
	}
	return coveringHold(holds, tenant, r.JobID, runID, subject)
}

// SubjectOf is a job's data subject: the value of its subject label
// (cairn.DefaultSubjectLabel), "" when it has none.
func SubjectOf(j *cairn.Job) string {
	return j.Labels[cairn.DefaultSubjectLabel]
}

// TenantRetention answers GET /api/v1/tenant/retention (admin or auditor).
func (s *Service) TenantRetention(ctx context.Context, p cairn.Principal) (*cairn.RetentionView, error) {
	if !p.HasAny(cairn.RoleAuditor) {
		return nil, cairn.Forbidden(cairn.EForbidden, "reading the retention needs the admin or auditor role")
	}
	var v *cairn.RetentionView
	err := s.Store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		v, err = s.retentionView(tx, p.Tenant)
		return err
	})
	return v, err
}

func (s *Service) retentionView(tx cairn.ReadTx, tenant string) (*cairn.RetentionView, error) {
	period, tr, err := s.retentionOf(tx, tenant)
	if err != nil {
		return nil, err
	}
	v := &cairn.RetentionView{Tenant: tenant, Source: "none", Floor: cairn.FormatRetention(cairn.RetentionFloor)}
	switch {
	case tr != nil:
		v.Source, v.SetBy, v.SetAt = "tenant", cairn.Opt(tr.SetBy), &tr.SetAt
	case period > 0:
		v.Source = "server"
	}
	if period > 0 {
		v.Retention, v.RetentionSeconds = cairn.FormatRetention(period), int64(period/time.Second)
		v.BelowFloor = period < cairn.RetentionFloor
	}
	last, err := tx.LastCompaction(tenant)
	if err != nil {
		return nil, err
	}
	if last != nil {
		v.PrunedBefore = last.To
	}
	return v, nil
}

// SetTenantRetention sets the caller's tenant's retention (admin only), as
// a retention_set ledger event. Below the floor it is refused unless the
// server runs with --allow-retention-below-floor; the event says so.
func (s *Service) SetTenantRetention(ctx context.Context, p cairn.Principal, req cairn.SetRetentionRequest) (*cairn.RetentionView, error) {
	if !p.Has(cairn.RoleAdmin) {
		return nil, cairn.Forbidden(cairn.EForbidden, "setting the retention needs the admin role")
	}
	if req.Retention == "" {
		return nil, cairn.Invalid("retention", "is required, e.g. \"400d\"")
	}
	if len(req.Retention) > 32 {
		return nil, cairn.Invalid("retention", "is %d bytes; the maximum is 32", len(req.Retention))
	}
	d, err := cairn.ParseRetention(req.Retention)
	if err != nil {
		return nil, cairn.Invalid("retention", "%v", err)
	}
	below := d < cairn.RetentionFloor
	if below && !s.retentionConfig().belowFloor {
		return nil, BelowFloorError("retention", d)
	}
	if err := validReason("reason", req.Reason); err != nil {
		return nil, err
	}
	var v *cairn.RetentionView
	err = s.update(ctx, func(tx cairn.Tx) error {
		tr := &cairn.TenantRetention{Tenant: p.Tenant, Period: d, SetBy: p.ID, SetAt: s.now()}
		data := map[string]any{"retention": cairn.FormatRetention(d), "reason": req.Reason, "floor": cairn.FormatRetention(cairn.RetentionFloor)}
		if below {
			data["below_floor"] = true // allowed by --allow-retention-below-floor
		}
		ev := &cairn.Event{Tenant: p.Tenant, Type: cairn.EventRetentionSet, Timestamp: tr.SetAt, Actor: p.ID, Data: data}
		if err := tx.AppendEvent(ev); err != nil {
			return err
		}
		if err := tx.SetTenantRetention(tr); err != nil {
			return err
		}
		var err error
		if v, err = s.retentionView(tx, p.Tenant); err != nil {
			return err
		}
		v.Source, v.SetBy, v.SetAt = "tenant", cairn.Opt(tr.SetBy), &tr.SetAt
		v.Retention, v.RetentionSeconds, v.BelowFloor = cairn.FormatRetention(d), int64(d/time.Second), below
		v.Ledger = ev.Ledger
		return nil
	})
	return v, err
}

// prunedJobError turns a job's not_found into 410 pruned_by_retention when
// the job existed and a compaction removed it.
func prunedJobError(tx cairn.ReadTx, tenant, jobID string, err error) error {
	if !cairn.IsNotFound(err) {
		return err
	}
	c, perr := tx.PrunedJob(tenant, jobID)
	if perr != nil {
		return perr
	}
	if c == nil {
		return err
	}
	return PrunedError("job "+jobID, c)
}

// PrunedError is 410 pruned_by_retention for what c removed.
func PrunedError(what string, c *cairn.Compaction) error {
	idx := c.Event
	return &cairn.Error{Code: cairn.CodePrunedByRetention, LedgerIndex: &idx,
		Message: what + " was removed by retention (cutoff " + cairn.Timestamp(c.Cutoff) + "); the retention_compacted event is ledger entry " + strconv.FormatUint(c.Event, 10)}
}

// prunedEntries turns pruned ledger entries into bundle entries naming
// their compaction, reading each compaction once for its range.
type prunedEntries struct {
	tx     cairn.ReadTx
	tenant string
	last   *cairn.Compaction
}

func (p *prunedEntries) entry(e *cairn.LedgerEntry) (bundle.Entry, error) {
	if p.last == nil || e.Index < p.last.From || e.Index >= p.last.To {
		c, err := p.tx.CompactionOf(p.tenant, e.Index)
		if err != nil {
			return bundle.Entry{}, err
		}
		if c == nil {
			return bundle.Entry{}, cairn.Errorf(cairn.EInternal, "ledger entry %d of tenant %q has no body and no compaction names it", e.Index, p.tenant)
		}
		p.last = c
	}
	by := p.last.Event
	return bundle.Entry{Index: e.Index, LeafHash: e.LeafHash, PrunedBy: &by}, nil
}

// notePruned remembers whether any tenant's ledger was compacted (by this
// process or another sharing the store).
func (s *Service) notePruned(ctx context.Context) error {
	if s.retention.pruned.Load() {
		return nil
	}
	return s.Store.View(ctx, func(tx cairn.ReadTx) error {
		tenants, err := tx.Tenants()
		if err != nil {
			return err
		}
		for _, t := range tenants {
			c, err := tx.LastCompaction(t)
			if err != nil {
				return err
			}
			if c != nil {
				s.retention.pruned.Store(true)
				return nil
			}
		}
		return nil
	})
}

// prunedJobID refuses a new job whose id a pruned job had: a job id names
// one job forever, even after retention removed its row. It reads the
// ledger only once any compaction may have run.
func (s *Service) prunedJobID(tx cairn.ReadTx, tenant, jobID string) error {
	if !s.retention.pruned.Load() {
		return nil
	}
	c, err := tx.PrunedJob(tenant, jobID)
	if err != nil || c == nil {
		return err
	}
	return cairn.Conflict(cairn.CodeJobConflict, "job %q existed and was removed by retention (ledger entry %d); a job id names one job forever", jobID, c.Event)
}
