// Package metrics says, in Prometheus metrics, whether governance is
// healthy: decisions by decision and rule, pending approvals and the age of
// the oldest, approval resolution latency, jobs by state, lease expiries,
// output verdicts by rule, the ledger's size and the age of its last
// checkpoint, witness cosignature age and fsync failures (docs/metrics.md).
//
// Counters come from the evidence itself: Observer wraps the store and
// counts each evidence event once its transaction is durable. Gauges are
// read from the store when Prometheus scrapes (Collector), at most once per
// MinInterval. Every label is low-cardinality: decisions, rule ids, states,
// verdicts, witness names; never a job, run or tenant id.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric names (also used by the dashboard and alert rules in docs/).
const (
	NameDecisions         = "cairn_policy_decisions_total"
	NameResolution        = "cairn_approval_resolution_seconds"
	NameTransitions       = "cairn_job_transitions_total"
	NameLeaseExpiries     = "cairn_lease_expiries_total"
	NameOutputVerdicts    = "cairn_output_verdicts_total"
	NameLedgerAppends     = "cairn_ledger_appends_total"
	NamePending           = "cairn_approvals_pending"
	NameOldestPendingAge  = "cairn_approval_oldest_pending_age_seconds"
	NameNextExpiry        = "cairn_approval_next_expiry_seconds"
	NameJobs              = "cairn_jobs"
	NameLedgerEntries     = "cairn_ledger_entries"
	NameUncheckpointed    = "cairn_ledger_uncheckpointed_entries"
	NameCheckpointAge     = "cairn_checkpoint_age_seconds"
	NameCosignatureAge    = "cairn_witness_cosignature_age_seconds"
	NameFsyncFailures     = "cairn_fsync_failures_total"
	NameScrapeErrors      = "cairn_metrics_store_errors_total"
	NameLastScrapeSeconds = "cairn_metrics_store_read_seconds"
)

// Register adds the observer's counters and the collector to reg.
func Register(reg prometheus.Registerer, o *Observer, c *Collector) error {
	for _, m := range []prometheus.Collector{o.decisions, o.resolution, o.transitions, o.leaseExpiries, o.verdicts, o.appends, c} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}
