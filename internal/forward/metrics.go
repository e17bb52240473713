package forward

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the forwarder's Prometheus metrics, by sink. The dashboard
// and alert rules use cairn_forward_lag_entries and
// cairn_forward_lag_seconds.
type Metrics struct {
	LagEntries *prometheus.GaugeVec
	LagSeconds *prometheus.GaugeVec
	Cursor     *prometheus.GaugeVec
	Delivered  *prometheus.CounterVec
	Failures   *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		LagEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_forward_lag_entries", Help: "Ledger entries not yet acknowledged by the sink."}, []string{"sink"}),
		LagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_forward_lag_seconds", Help: "Age of the oldest ledger event not yet acknowledged by the sink (0 when caught up)."}, []string{"sink"}),
		Cursor:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_forward_cursor", Help: "Last ledger index the sink acknowledged (-1: none)."}, []string{"sink"}),
		Delivered:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_forward_delivered_total", Help: "Records the sink acknowledged (redeliveries included)."}, []string{"sink"}),
		Failures:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_forward_delivery_failures_total", Help: "Failed delivery attempts (each is retried)."}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.LagEntries, m.LagSeconds, m.Cursor, m.Delivered, m.Failures)
	}
	return m
}
