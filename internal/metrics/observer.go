package metrics

import (
	"context"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/prometheus/client_golang/prometheus"
)

// Observer counts evidence events once they are durable.
type Observer struct {
	decisions     *prometheus.CounterVec
	resolution    *prometheus.HistogramVec
	transitions   *prometheus.CounterVec
	leaseExpiries prometheus.Counter
	verdicts      *prometheus.CounterVec
	appends       prometheus.Counter
}

// NewObserver makes the counters (Register adds them to a registry).
func NewObserver() *Observer {
	return &Observer{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameDecisions,
			Help: "Policy decisions recorded, by decision, deciding rule (\"default\" when none matched) and phase (submit, dispatch)."},
			[]string{"decision", "rule", "phase"}),
		resolution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameResolution,
			Help:    "Time from an approval's request to its resolution, by resolution (approved, rejected, expired, cancelled).",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600}},
			[]string{"resolution"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameTransitions,
			Help: "Jobs entering each state, from the evidence events that move them."}, []string{"state"}),
		leaseExpiries: prometheus.NewCounter(prometheus.CounterOpts{Name: NameLeaseExpiries,
			Help: "Leases that ran out before their job was completed."}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameOutputVerdicts,
			Help: "Output-safety verdicts on results, by decision (ALLOW, REDACT, QUARANTINE) and output rule."},
			[]string{"decision", "rule"}),
		appends: prometheus.NewCounter(prometheus.CounterOpts{Name: NameLedgerAppends,
			Help: "Ledger entries appended through this process."}),
	}
}

// Wrap returns st counting, through o, every evidence event it appends once
// the transaction is durable. A store that is a cairn.Notifier or a
// cairn.GaugeReader stays one.
func (o *Observer) Wrap(st cairn.Store) cairn.Store {
	w := &store{Store: st, o: o}
	n, isN := st.(cairn.Notifier)
	g, isG := st.(cairn.GaugeReader)
	switch {
	case isN && isG:
		return &struct {
			*store
			cairn.Notifier
			cairn.GaugeReader
		}{w, n, g}
	case isN:
		return &struct {
			*store
			cairn.Notifier
		}{w, n}
	case isG:
		return &struct {
			*store
			cairn.GaugeReader
		}{w, g}
	}
	return w
}

type store struct {
	cairn.Store
	o *Observer
}

// Unwrap returns the wrapped store (for optional interfaces the wrapper
// does not forward: it forwards cairn.Notifier and cairn.GaugeReader).
func (s *store) Unwrap() cairn.Store { return s.Store }

// Update runs fn with a transaction whose appended events are counted
// after it commits.
func (s *store) Update(ctx context.Context, fn func(cairn.Tx) error) error {
	return s.Store.Update(ctx, func(tx cairn.Tx) error { return fn(&countingTx{Tx: tx, o: s.o}) })
}

type countingTx struct {
	cairn.Tx
	o *Observer
	// last is the state each job was last moved to in this transaction:
	// one move reported by two events (job_submitted and its
	// approval_requested) is counted once.
	last map[string]string
}

// AppendEvent appends ev and counts it once the transaction is durable.
// An approval's resolution is timed from its request (read before the
// resolution is recorded).
func (t *countingTx) AppendEvent(ev *cairn.Event) error {
	var requested time.Time
	if ev.Type == cairn.EventApprovalResolved && ev.JobID != "" {
		if a, err := t.Tx.GetApproval(ev.Tenant, string(ev.JobID)); err == nil {
			requested = a.RequestedAt
		}
	}
	if err := t.Tx.AppendEvent(ev); err != nil {
		return err
	}
	moved := false
	if ev.JobID != "" && isJobState(ev.State) {
		key := ev.Tenant + "\x00" + string(ev.JobID)
		if t.last == nil {
			t.last = map[string]string{}
		}
		moved = t.last[key] != ev.State
		t.last[key] = ev.State
	}
	o := t.o
	t.Tx.AfterCommit(func() { o.observe(ev, requested, moved) })
	return nil
}

// observe counts one durable evidence event.
func (o *Observer) observe(ev *cairn.Event, requested time.Time, moved bool) {
	o.appends.Inc()
	switch ev.Type {
	case cairn.EventPolicyDecided:
		rule := ev.PolicyRuleID
		if rule == "" {
			rule = "default"
		}
		var phase string
		if d, ok := ev.Data.(*cairn.DecidedData); ok {
			phase = d.Phase
		}
		o.decisions.WithLabelValues(ev.Decision, rule, phase).Inc()
	case cairn.EventApprovalResolved:
		if !requested.IsZero() {
			o.resolution.WithLabelValues(ev.Resolution).Observe(ev.Timestamp.Sub(requested).Seconds())
		}
	case cairn.EventLeaseExpired:
		o.leaseExpiries.Inc()
	case cairn.EventOutputChecked:
		if v := ev.OutputSafety; v != nil {
			rule := string(v.RuleID)
			if rule == "" {
				rule = "none"
			}
			o.verdicts.WithLabelValues(v.Decision, rule).Inc()
		}
	}
	// An event that names a job and carries a state moves that job to it
	// (docs/evidence.md §2.2).
	if moved {
		o.transitions.WithLabelValues(ev.State).Inc()
	}
}

func isJobState(s string) bool {
	switch s {
	case cairn.StatePendingApproval, cairn.StateQueued, cairn.StateRunning, cairn.StateSucceeded, cairn.StateFailed,
		cairn.StateDenied, cairn.StateExpired, cairn.StateCancelled:
		return true
	}
	return false
}
