package postgres

import (
	"github.com/jackc/pglogrepl"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the source's Prometheus metrics; a nil *Metrics counts nothing.
type Metrics struct {
	txs        prometheus.Counter
	events     prometheus.Counter
	snapshot   prometheus.Counter
	reconnects prometheus.Counter
	fallbacks  prometheus.Counter
	renewals   prometheus.Counter
	flushed    prometheus.Gauge
	lag        prometheus.Gauge
}

// NewMetrics registers the source's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		txs: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_postgres_transactions_total",
			Help: "Transactions streamed from the replication slot and handed to the consumer."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_postgres_events_total",
			Help: "Row change events streamed (snapshot reads not included)."}),
		snapshot: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_postgres_snapshot_rows_total",
			Help: "Rows read by initial snapshots."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_postgres_reconnects_total",
			Help: "Replication connections re-established after a failure."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_postgres_text_fallback_columns_total",
			Help: "Columns of a type without a mapping, kept as text."}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_postgres_slot_renewals_total",
			Help: "Slots dropped and created again with a new snapshot because they could not go on (snapshot mode when_needed)."}),
		flushed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_postgres_confirmed_flush_lsn",
			Help: "LSN the slot was last confirmed to (acked downstream)."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_postgres_lag_bytes",
			Help: "Bytes of WAL between the server's end (last keepalive) and the confirmed flush LSN."}),
	}
	if reg != nil {
		reg.MustRegister(m.txs, m.events, m.snapshot, m.reconnects, m.fallbacks, m.renewals, m.flushed, m.lag)
	}
	return m
}

func (m *Metrics) delivered(events int, snapshot bool) {
	if m == nil {
		return
	}
	if snapshot {
		m.snapshot.Add(float64(events))
		return
	}
	m.txs.Inc()
	m.events.Add(float64(events))
}

func (m *Metrics) renewed() {
	if m != nil {
		m.renewals.Inc()
	}
}

func (m *Metrics) reconnected() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) fallback() {
	if m != nil {
		m.fallbacks.Inc()
	}
}

func (m *Metrics) status(flush, walEnd pglogrepl.LSN) {
	if m == nil {
		return
	}
	m.flushed.Set(float64(flush))
	if walEnd > flush {
		m.lag.Set(float64(walEnd - flush))
	} else {
		m.lag.Set(0)
	}
}
