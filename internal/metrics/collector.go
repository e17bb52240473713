package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/prometheus/client_golang/prometheus"
)

// MinInterval is how often at most the Collector reads the store: scrapes
// closer together are answered from the last reading.
const MinInterval = 5 * time.Second

// checkpointScan is how many of a tenant's newest checkpoints are searched
// for each witness's latest cosignature.
const checkpointScan = 100

// Collector reads the gauges from the store at scrape time.
type Collector struct {
	// Every is how often at most the store is read (MinInterval by default).
	Every time.Duration

	store cairn.Store
	log   *slog.Logger
	now   func() time.Time

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
	errs float64

	descs map[string]*prometheus.Desc
}

// NewCollector reads st (jobs and approvals through cairn.GaugeReader when
// st implements it; the ledger, checkpoints and cosignatures through its
// read transactions).
func NewCollector(st cairn.Store, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.Default()
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{Every: MinInterval, store: st, log: log, now: time.Now, descs: map[string]*prometheus.Desc{
		NamePending:           d(NamePending, "Approvals waiting for a human."),
		NameOldestPendingAge:  d(NameOldestPendingAge, "Age of the oldest approval still waiting (0 when none is)."),
		NameNextExpiry:        d(NameNextExpiry, "Seconds until the first pending approval expires (absent when none has an expiry); negative when the expiry is overdue."),
		NameJobs:              d(NameJobs, "Jobs in each open state (PENDING_APPROVAL, QUEUED, RUNNING).", "state"),
		NameLedgerEntries:     d(NameLedgerEntries, "Ledger entries over all tenants."),
		NameUncheckpointed:    d(NameUncheckpointed, "Ledger entries no signed checkpoint covers yet, over all tenants."),
		NameCheckpointAge:     d(NameCheckpointAge, "Age of the latest signed checkpoint, the oldest over the tenants that have one."),
		NameCosignatureAge:    d(NameCosignatureAge, "Age of each witness's latest cosignature of a checkpoint.", "witness"),
		NameFsyncFailures:     d(NameFsyncFailures, "Failed fsyncs of the embedded store since it was opened (the store stops at the first)."),
		NameScrapeErrors:      d(NameScrapeErrors, "Metric scrapes whose store reads failed (their gauges are missing)."),
		NameLastScrapeSeconds: d(NameLastScrapeSeconds, "How long the last reading of the store's gauges took."),
	}}
}

// Describe sends the descriptions of the gauges.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect sends the gauges, read from the store at most once per MinInterval.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.last == nil || now.Sub(c.at) >= c.Every {
		ms, err := c.read(now)
		if err != nil {
			c.errs++
			c.log.Warn("metrics: reading the store's gauges failed", "err", err)
		}
		c.last, c.at = ms, now
	}
	for _, m := range c.last {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(c.descs[NameScrapeErrors], prometheus.CounterValue, c.errs)
}

func (c *Collector) gauge(name string, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
}

// read reads every gauge; on an error it returns those it has.
func (c *Collector) read(now time.Time) ([]prometheus.Metric, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []prometheus.Metric
	var ls ledgerStats
	err := c.store.View(ctx, func(tx cairn.ReadTx) error {
		var err error
		ls, err = readLedgerStats(tx)
		return err
	})
	if err != nil {
		return out, err
	}
	out = append(out, c.gauge(NameLedgerEntries, float64(ls.size)), c.gauge(NameUncheckpointed, float64(ls.uncovered)))
	if !ls.oldestCheckpoint.IsZero() {
		out = append(out, c.gauge(NameCheckpointAge, now.Sub(ls.oldestCheckpoint).Seconds()))
	}
	for w, at := range ls.cosigned {
		out = append(out, c.gauge(NameCosignatureAge, now.Sub(at).Seconds(), w))
	}
	if gr, ok := c.store.(cairn.GaugeReader); ok {
		if out, err = c.storeGauges(ctx, gr, ls.tenants, now, out); err != nil {
			return out, err
		}
	}
	out = append(out, c.gauge(NameLastScrapeSeconds, time.Since(start).Seconds()))
	return out, nil
}

// ledgerStats is what the ledger gauges report, over every tenant.
type ledgerStats struct {
	tenants          []string
	size, uncovered  uint64
	oldestCheckpoint time.Time
	cosigned         map[string]time.Time // witness -> latest cosignature
}

// readLedgerStats reads the ledger sizes, the newest checkpoints and their
// cosignatures of every tenant.
func readLedgerStats(tx cairn.ReadTx) (ledgerStats, error) {
	ls := ledgerStats{cosigned: map[string]time.Time{}}
	var err error
	if ls.tenants, err = tx.Tenants(); err != nil {
		return ls, err
	}
	for _, t := range ls.tenants {
		if err := ls.addTenant(tx, t); err != nil {
			return ls, err
		}
	}
	return ls, nil
}

// addTenant adds tenant t's ledger to the stats.
func (ls *ledgerStats) addTenant(tx cairn.ReadTx, t string) error {
	n, err := tx.LedgerSize(t)
	if err != nil {
		return err
	}
	ls.size += n
	cps, err := tx.ListCheckpoints(t, cairn.Page{Limit: checkpointScan})
	if err != nil {
		return err
	}
	covered := uint64(0)
	if len(cps) > 0 {
		covered = cps[0].Size
		if at := cps[0].CreatedAt; ls.oldestCheckpoint.IsZero() || at.Before(ls.oldestCheckpoint) {
			ls.oldestCheckpoint = at
		}
	}
	if n > covered {
		ls.uncovered += n - covered
	}
	for _, cp := range cps {
		for _, cs := range cp.Cosignatures {
			if cs.CreatedAt.After(ls.cosigned[cs.Witness]) {
				ls.cosigned[cs.Witness] = cs.CreatedAt
			}
		}
	}
	return nil
}

// storeGauges appends the job and approval gauges the store reads itself.
func (c *Collector) storeGauges(ctx context.Context, gr cairn.GaugeReader, tenants []string, now time.Time, out []prometheus.Metric) ([]prometheus.Metric, error) {
	g, err := gr.Gauges(ctx, tenants)
	if err != nil {
		return out, err
	}
	for _, st := range cairn.OpenStates {
		out = append(out, c.gauge(NameJobs, float64(g.OpenJobs[st]), st))
	}
	out = append(out, c.gauge(NamePending, float64(g.PendingApprovals)))
	age := 0.0
	if !g.OldestPending.IsZero() {
		age = now.Sub(g.OldestPending).Seconds()
	}
	out = append(out, c.gauge(NameOldestPendingAge, age))
	if !g.NextExpiry.IsZero() {
		out = append(out, c.gauge(NameNextExpiry, g.NextExpiry.Sub(now).Seconds()))
	}
	out = append(out, prometheus.MustNewConstMetric(c.descs[NameFsyncFailures], prometheus.CounterValue, float64(g.FsyncFailures)))
	return out, nil
}
