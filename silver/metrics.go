package silver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are silver's Prometheus counters, labelled by table.
type Metrics struct {
	snapshots   *prometheus.CounterVec
	txs         *prometheus.CounterVec
	changes     *prometheus.CounterVec
	compactions *prometheus.CounterVec
	applyS      prometheus.Histogram
}

// NewMetrics registers silver's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_silver_applies_total",
			Help: "Snapshots published by applying transactions."}, []string{"table"}),
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_silver_transactions_total",
			Help: "Transactions applied to silver tables."}, []string{"table"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_silver_changes_total",
			Help: "Row events applied to silver tables."}, []string{"table"}),
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_silver_compactions_total",
			Help: "Compactions of silver tables."}, []string{"table"}),
		applyS: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_silver_apply_seconds",
			Help: "Time to apply a batch of transactions and publish its snapshot.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	if reg != nil {
		reg.MustRegister(m.snapshots, m.txs, m.changes, m.compactions, m.applyS)
	}
	return m
}

func (m *Metrics) applied(table string, txs, changes int64, d time.Duration) {
	if m == nil {
		return
	}
	m.snapshots.WithLabelValues(table).Inc()
	m.txs.WithLabelValues(table).Add(float64(txs))
	m.changes.WithLabelValues(table).Add(float64(changes))
	m.applyS.Observe(d.Seconds())
}

func (m *Metrics) compacted(table string) {
	if m == nil {
		return
	}
	m.compactions.WithLabelValues(table).Inc()
}
